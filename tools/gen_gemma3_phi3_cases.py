#!/usr/bin/env python3
"""gen_gemma3_phi3_cases.py — golden vectors for the Gemma 3 and Phi-3 chat templates, rendered by
Python's Jinja2 the way Hugging Face transformers renders chat templates (the environment of
tools/gen_template_cases.py: ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks,
loopcontrols), HF's tojson, raise_exception, strftime_now at 2024-07-26 12:00:00).

Writes tests/data/chat-templates/gemma3_phi3_cases.json: [{template, case, context, expected,
error}] over google-gemma-3-4b-it.jinja and microsoft-Phi-3-mini-4k-instruct.jinja (committed;
CI does not need python): plain, system (Gemma 3 folds it into the first user turn; Phi-3 has a
<|system|> turn), content parts, multi-turn, no generation prompt, whitespace, unicode, and what
each does with tools, tool calls and tool results (neither has a native format), and the
refusals.

Usage: python3 tools/gen_gemma3_phi3_cases.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_template_cases import ENV  # noqa: E402  the HF environment

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "chat-templates")
GEMMA3 = "google-gemma-3-4b-it.jinja"
PHI3 = "microsoft-Phi-3-mini-4k-instruct.jinja"

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}}}


def contexts():
    sysm = {"role": "system", "content": "You are a terse assistant."}
    sys_parts = {"role": "system", "content": [{"type": "text", "text": "  Be brief.  "}]}
    user = {"role": "user", "content": "What's the weather in Paris?"}
    final = {"role": "assistant", "content": "It is 21°C and clear."}
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
    tool = {"role": "tool", "content": "{\"temp\": 21}"}
    return [
        ("plain", {"messages": [user]}),
        ("system", {"messages": [sysm, user]}),
        ("system_parts", {"messages": [sys_parts, user]}),
        ("system_only", {"messages": [sysm]}),
        ("multi_turn", {"messages": [sysm, user, final, {"role": "user", "content": "And Oslo?"}]}),
        ("no_generation_prompt", {"messages": [user, final], "add_generation_prompt": False}),
        ("whitespace", {"messages": [{"role": "user", "content": "\n  padded  \n"}]}),
        ("unicode", {"messages": [{"role": "user", "content": "Ça va? 日本語 🎉 \"q\" \\ <end_of_turn>"}]}),
        ("content_parts", {"messages": [{"role": "user", "content": [
            {"type": "text", "text": "Look "}, {"type": "image"}, {"type": "text", "text": " here"}]}]}),
        ("tools_given", {"messages": [user], "tools": [WEATHER]}),
        ("tool_call", {"messages": [user, call], "tools": [WEATHER]}),
        ("tool_result", {"messages": [user, call, tool], "tools": [WEATHER]}),
        ("not_alternating", {"messages": [user, {"role": "user", "content": "again"}]}),
        ("content_none", {"messages": [{"role": "user", "content": None}]}),
        ("empty_system", {"messages": [{"role": "system", "content": ""}, user]}),
    ]


def main():
    base = {"bos_token": "<bos>", "eos_token": "<eos>", "add_generation_prompt": True}
    bases = {GEMMA3: base, PHI3: {"bos_token": "<s>", "eos_token": "<|endoftext|>",
                                  "add_generation_prompt": True}}
    out = []
    for name in (GEMMA3, PHI3):
        with open(os.path.join(DIR, name), encoding="utf-8") as f:
            tmpl = ENV.from_string(f.read())
        for case, ctx in contexts():
            full = dict(bases[name])
            full.update(ctx)
            v = {"template": name, "case": case, "context": full, "expected": None, "error": None}
            try:
                v["expected"] = tmpl.render(**full)
            except Exception as e:  # noqa: BLE001 — a refusal is a vector too
                v["error"] = f"{type(e).__name__}: {e}"
            out.append(v)
    with open(os.path.join(DIR, "gemma3_phi3_cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"gemma3/phi3: {len(out)} vectors ({sum(v['error'] is not None for v in out)} refusals)")


if __name__ == "__main__":
    main()
