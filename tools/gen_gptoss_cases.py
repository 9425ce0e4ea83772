#!/usr/bin/env python3
"""gen_gptoss_cases.py — golden vectors for the gpt-oss (Harmony) chat template, rendered by
Python's Jinja2 the way Hugging Face transformers renders chat templates (the same environment
as tools/gen_template_cases.py: ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks,
loopcontrols), HF's tojson, raise_exception, strftime_now at 2024-07-26 12:00:00).

Writes tests/data/chat-templates/gptoss_cases.json: [{template, case, context, expected, error}]
over tests/data/chat-templates/openai-gpt-oss-20b.jinja (committed; CI does not need python).

Usage: python3 tools/gen_gptoss_cases.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_template_cases import ENV  # noqa: E402  the HF environment

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "chat-templates")
NAME = "openai-gpt-oss-20b.jinja"

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "object", "properties": {
               "city": {"type": "string", "description": "City name"},
               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
               "days": {"type": "integer", "description": "Forecast days", "default": 1}},
               "required": ["city"]}}}
SEARCH = {"type": "function", "function": {"name": "search", "description": "Search the docs — “quoted” ünïcode",
          "parameters": {"type": "object", "properties": {
              "query": {"type": "string"},
              "tags": {"type": "array", "items": {"type": "string"}},
              "filters": {"type": "object", "properties": {"lang": {"type": "string"}, "max": {"type": "number"}},
                          "required": ["lang"]},
              "exact": {"type": "boolean", "nullable": True},
              "ids": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}},
              "mode": {"type": ["string", "null"]},
              "choice": {"oneOf": [{"type": "string", "description": "a name"}, {"type": "integer"}]}},
              "required": ["query"]}}}
NOARGS = {"type": "function", "function": {"name": "get_time", "description": "Local time",
          "parameters": {"type": "object", "properties": {}}}}


def contexts():
    sysm = {"role": "system", "content": "You are a terse assistant."}
    dev = {"role": "developer", "content": "Answer in French."}
    user = {"role": "user", "content": "What's the weather in Paris?"}
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
    call_thinking = {"role": "assistant", "thinking": "The user wants the weather; call get_weather.",
                     "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                                     "arguments": {"city": "Paris"}}}]}
    tool1 = {"role": "tool", "content": "{\"temp\": 21, \"sky\": \"clear\"}"}
    final = {"role": "assistant", "content": "It is 21°C and clear in Paris."}
    final_thinking = {"role": "assistant", "content": "Bonjour!", "thinking": "Greet in French."}
    base = {"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "add_generation_prompt": True}
    cases = [
        ("plain", {"messages": [user]}),
        ("system", {"messages": [sysm, user]}),
        ("developer", {"messages": [dev, user]}),
        ("effort_low", {"messages": [user], "reasoning_effort": "low"}),
        ("effort_high", {"messages": [sysm, user], "reasoning_effort": "high"}),
        ("model_identity", {"messages": [user], "model_identity": "You are hearth's test model."}),
        ("no_generation_prompt", {"messages": [user, final], "add_generation_prompt": False}),
        ("final_with_thinking_last", {"messages": [user, final_thinking], "add_generation_prompt": False}),
        ("multi_turn", {"messages": [sysm, user, final, {"role": "user", "content": "And in Oslo?"}]}),
        ("tools", {"messages": [user], "tools": [WEATHER]}),
        ("tools_developer", {"messages": [dev, user], "tools": [WEATHER, SEARCH, NOARGS]}),
        ("tools_effort", {"messages": [user], "tools": [NOARGS], "reasoning_effort": "low"}),
        ("tool_call_pending", {"messages": [user, call], "tools": [WEATHER]}),
        ("tool_round_trip", {"messages": [sysm, user, call, tool1], "tools": [WEATHER]}),
        ("tool_round_trip_thinking", {"messages": [user, call_thinking, tool1], "tools": [WEATHER]}),
        ("tool_round_trip_final", {"messages": [user, call_thinking, tool1, final,
                                                {"role": "user", "content": "Thanks"}], "tools": [WEATHER]}),
        ("builtin_tools", {"messages": [user], "builtin_tools": ["browser", "python"], "tools": [WEATHER]}),
        ("unicode", {"messages": [{"role": "user", "content": "Ça va? 日本語 🎉 \"q\" \\ <|end|>"}]}),
        ("tool_without_call", {"messages": [user, tool1]}),
        ("channel_in_content", {"messages": [user, {"role": "assistant",
                                                    "content": "<|channel|>final<|message|>hi"}]}),
        ("content_and_thinking_call", {"messages": [user, dict(call_thinking, content="x")]}),
    ]
    for name, ctx in cases:
        full = dict(base)
        full.update(ctx)
        yield name, full


def main():
    with open(os.path.join(DIR, NAME), encoding="utf-8") as f:
        tmpl = ENV.from_string(f.read())
    out = []
    for name, ctx in contexts():
        v = {"template": NAME, "case": name, "context": ctx, "expected": None, "error": None}
        try:
            v["expected"] = tmpl.render(**ctx)
        except Exception as e:  # noqa: BLE001 — a refusal is a vector too
            v["error"] = f"{type(e).__name__}: {e}"
        out.append(v)
    with open(os.path.join(DIR, "gptoss_cases.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"gpt-oss: {len(out)} vectors ({sum(v['error'] is not None for v in out)} refusals)")


if __name__ == "__main__":
    main()
