#!/usr/bin/env python3
"""gen_template_cases.py — golden vectors for hearth's Jinja interpreter, rendered by Python's
Jinja2 exactly the way Hugging Face transformers renders chat templates (see
../shared/fixtures/chat-templates/README.md):

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
  tojson = json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False),
  raise_exception(msg) raises, strftime_now(fmt) formats 2024-07-26 12:00:00.

Writes (committed; CI does not need python):
  tests/data/templates/qwen3_cases.json     the Qwen 3 template from the qwen2 vocab GGUF over
                                            tools / tool calls / tool responses / thinking contexts
  tests/data/templates/semantics_cases.json small templates covering expressions, filters,
                                            tests, whitespace control and Python value semantics
Each vector: {name, template, context, expected (string or null), error (null or message)}.

Usage: python3 tools/gen_template_cases.py [SHARED_DIR]   (default ../shared)
"""
import datetime
import json
import os
import struct
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "templates")


# ---- A minimal GGUF metadata reader (enough for strings and arrays) ----

def gguf_metadata(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et = take("I")
            n = take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError(f"bad gguf type {t}")

    assert data[:4] == b"GGUF", path
    pos = 4
    take("I")  # version
    take("Q")  # tensor count
    nkv = take("Q")
    meta = {}
    for _ in range(nkv):
        k = string()
        meta[k] = value(take("I"))
    return meta


# ---- Rendering as Hugging Face does ----

class Refused(Exception):
    pass


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime(2024, 7, 26, 12, 0, 0).strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


ENV = make_env()


def render(name, template, context):
    try:
        out = ENV.from_string(template).render(**context)
        return {"name": name, "template": template, "context": context, "expected": out, "error": None}
    except Exception as e:  # noqa: BLE001 — every refusal is a vector
        return {"name": name, "template": template, "context": context, "expected": None,
                "error": f"{type(e).__name__}: {e}"}


# ---- Qwen 3 contexts ----

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time — with “quotes” & ünïcode",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": []}}}


def qwen3_contexts():
    sysm = {"role": "system", "content": "You are Qwen, a helpful assistant."}
    user = {"role": "user", "content": "What's the weather in Paris?"}
    call = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}]}
    call_str_args = {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}
    two_calls = {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}}]}
    flat_call = {"role": "assistant", "content": None and "" or "", "tool_calls": [
        {"name": "get_weather", "arguments": {"city": "Oslo", "n": 3, "x": 1.5, "ok": True, "none": None}}]}
    tool1 = {"role": "tool", "content": "{\"temp\": 21, \"sky\": \"clear\"}"}
    tool2 = {"role": "tool", "content": "12:00"}
    think = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"}
    reasoning = {"role": "assistant", "content": "It is 21°C.", "reasoning_content": "\nRead the tool output.\n"}
    base = {"bos_token": "", "eos_token": "<|im_end|>", "add_generation_prompt": True}
    cases = [
        ("plain", {"messages": [user]}),
        ("system_plain", {"messages": [sysm, user]}),
        ("no_generation_prompt", {"messages": [sysm, user], "add_generation_prompt": False}),
        ("enable_thinking_false", {"messages": [user], "enable_thinking": False}),
        ("enable_thinking_true", {"messages": [user], "enable_thinking": True}),
        ("tools_offered", {"messages": [sysm, user], "tools": [WEATHER, TIME]}),
        ("tools_no_system", {"messages": [user], "tools": [WEATHER]}),
        ("tool_call", {"messages": [sysm, user, call], "tools": [WEATHER], "add_generation_prompt": False}),
        ("tool_call_string_args", {"messages": [user, call_str_args], "tools": [WEATHER], "add_generation_prompt": False}),
        ("tool_round_trip", {"messages": [sysm, user, call, tool1], "tools": [WEATHER]}),
        ("parallel_calls", {"messages": [user, two_calls, tool1, tool2], "tools": [WEATHER, TIME]}),
        ("flat_tool_call", {"messages": [user, flat_call, tool1], "tools": [WEATHER]}),
        ("thinking_history", {"messages": [user, think, {"role": "user", "content": "And in Oslo?"}]}),
        ("thinking_last_turn", {"messages": [user, think], "add_generation_prompt": False}),
        ("reasoning_content", {"messages": [user, call, tool1, reasoning], "tools": [WEATHER], "add_generation_prompt": False}),
        ("multi_step_tool_response_user", {"messages": [user, call,
            {"role": "user", "content": "<tool_response>\nok\n</tool_response>"}, reasoning]}),
        ("tool_then_thinking", {"messages": [sysm, user, call, tool1, think], "tools": [WEATHER], "enable_thinking": False}),
        ("unicode", {"messages": [{"role": "user", "content": "Ça va? 日本語 🎉 \"q\" \\ </think>"}]}),
        ("system_later", {"messages": [user, {"role": "system", "content": "Be brief."}, think]}),
    ]
    for name, ctx in cases:
        full = dict(base)
        full.update(ctx)
        yield name, full


# ---- Semantics snippets ----

SEMANTICS = [
    # literals, arithmetic, Python number formatting
    ("int_float", "{{ 1 }} {{ 1.0 }} {{ 0.1 }} {{ 1e-5 }} {{ 1.5e16 }} {{ 2.5e-7 }} {{ 123456789.125 }} {{ -0.0 }}", {}),
    ("arith", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 6 / 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ 1 + 2 * 3 - 4 }}", {}),
    ("pow_left_assoc", "{{ 2 ** 3 ** 2 }}", {}),
    ("float_ops", "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 10 / 4 }} {{ 3 * 1.5 }} {{ 1e300 * 1e10 }}", {}),
    ("int_float_compare", "{{ 1 == 1.0 }} {{ 2 > 1.5 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}", {}),
    ("div_zero", "{{ 1 / 0 }}", {}),
    ("str_concat", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }}", {}),
    ("str_plus_int", "{{ 'a' + 1 }}", {}),
    ("escapes", "{{ 'a\\nb\\tc\\\\d\\'e\"f' }}|{{ \"x\\u00e9\\x41\" }}|{{ 'multi' 'part' }}", {}),
    ("unicode_len_slice", "{{ s|length }} {{ s[1] }} {{ s[::-1] }} {{ s[1:3] }} {{ s|upper }} {{ s[-1] }}", {"s": "héllo🎉"}),
    ("slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::2] }} {{ l[::-1] }} {{ l[5:] }} {{ l[-2:] }} {{ 'abcdef'[1:5:2] }}", {"l": [1, 2, 3, 4]}),
    ("truthiness", "{% for v in ['', 'x', [], [0], {}, {'a': 1}, 0, 0.0, 1, none, true, false] %}{{ 'T' if v else 'F' }}{% endfor %}", {}),
    ("none_vs_undefined", "[{{ none }}][{{ missing }}][{{ missing is defined }}][{{ none is none }}][{{ missing is none }}][{{ none is defined }}]", {}),
    ("undefined_attr_chain", "{{ missing.attr }}", {}),
    ("attr_of_none", "[{{ n.attr }}][{{ n.attr is defined }}]", {"n": None}),
    ("dict_missing_key", "[{{ d.nope }}][{{ d['nope'] }}][{{ d.nope is defined }}]", {"d": {"a": 1}}),
    ("dict_missing_key_plus", "{{ 'x' + d.nope }}", {"d": {"a": 1}}),
    ("in_operator", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'a' in {'a': 1} }} {{ 'z' not in 'abc' }} {{ 3 not in [1] }}", {}),
    ("is_tests", "{{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is boolean }} {{ 'x' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'x' is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ true is true }} {{ 0 is false }} {{ 3 is equalto 3 }} {{ none is not none }}", {}),
    ("not_precedence", "{% if not tools is none %}A{% else %}B{% endif %}{% if not x is defined %}C{% endif %}", {"tools": None}),
    ("and_or_values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }} {{ none or [] }}|", {}),
    ("conditional_expr", "{{ 'a' if true else 'b' }}{{ 'c' if false else 'd' }}[{{ 'e' if false }}]", {}),
    ("list_dict_tuple_repr", "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1, 2) }} {{ (1,) }} {{ \"it's\" }} {{ [\"it's\"] }}", {}),
    ("chained_compare", "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }}", {}),
    ("unary", "{{ -3 }} {{ -(2 + 1) }} {{ +4 }} {{ -x|abs }} {{ not true }}", {"x": 5}),
    # statements
    ("for_loop_vars", "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}|{% endfor %}", {"l": ["a", "b", "c"]}),
    ("for_prev_next", "{% for x in [1, 2, 3] %}[{{ loop.previtem }},{{ loop.nextitem }}]{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d|items %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_string", "{% for c in 'héy' %}[{{ c }}]{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_cycle", "{% for x in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(count=0, found=false) %}{% for i in range(4) %}{% set ns.count = ns.count + i %}{% if i == 2 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }}", {}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("block_set", "{% set body %}Hello {{ name }}!{% endset %}[{{ body }}]{% set up | upper %}shout{% endset %}{{ up }}", {"name": "Ann"}),
    ("if_elif_else", "{% for v in [1, 2, 3] %}{% if v == 1 %}one{% elif v == 2 %}two{% else %}many{% endif %};{% endfor %}", {}),
    ("macro_defaults", "{% macro greet(name, greeting='Hello', punct='!') %}{{ greeting }}, {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }} {{ greet(greeting='Hi', name='Cy') }}", {}),
    ("macro_caller", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}", {}),
    ("macro_caller_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}", {}),
    ("macro_recursion", "{% macro fact(n) %}{% if n <= 1 %}1{% else %}{{ n * (fact(n - 1)|int) }}{% endif %}{% endmacro %}{{ fact(6) }}", {}),
    ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}", {}),
    ("raw_block", "{% raw %}{{ not rendered }} {% if %}{% endraw %}", {}),
    ("comments", "a{# comment #}b{#- trimmed -#}  c", {}),
    ("with_block", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", {}),
    # whitespace control
    ("ws_trim_blocks", "{% if true %}\nline\n{% endif %}\nend", {}),
    ("ws_lstrip_blocks", "  {% if true %}\n  x\n  {% endif %}\ny", {}),
    ("ws_minus", "a  {%- if true -%}  b  {%- endif -%}  c", {}),
    ("ws_plus", "  {%+ if true %}x{% endif %}\n  {% if true +%}\ny{% endif %}", {}),
    ("ws_var_minus", "a  {{- 'b' -}}  c\n  {{ 'd' }}\n", {}),
    ("ws_comment_lstrip", "x\n   {# c #}\ny", {}),
    ("ws_trailing_newline", "abc\n", {}),
    ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc", {}),
    ("ws_inline_block", "a {% if true %}b{% endif %} c\n{% for i in [1] %} {{ i }} {% endfor %}\n", {}),
    # filters
    ("tojson_basic", "{{ v|tojson }}", {"v": {"a": [1, 2.5, None, True], "s": "é\"\n\\", "e": {}, "l": []}}),
    ("tojson_indent", "{{ v|tojson(indent=2) }}", {"v": {"a": [1, {"b": []}], "c": "x"}}),
    ("tojson_options", "{{ v|tojson(ensure_ascii=true) }} {{ v|tojson(sort_keys=true) }} {{ v|tojson(separators=(',', ':')) }}", {"v": {"z": "ü🎉", "a": 1}}),
    ("tojson_literal", "{{ {'n': 1.0, 't': (1, 2)}|tojson }} {{ 'x'|tojson }} {{ none|tojson }}", {}),
    ("tojson_generator", "{{ [1, 2]|select|tojson }}", {}),
    ("string_filters", "{{ '  x  '|trim }}|{{ 'ab'|upper }}|{{ 'AB'|lower }}|{{ 'hello wORLD-foo'|title }}|{{ 'hELLO'|capitalize }}|{{ 'a-b-c'|replace('-', '+') }}|{{ 'xxx'|replace('x', 'y', 2) }}", {}),
    ("length_count", "{{ [1, 2]|length }} {{ 'abc'|count }} {{ {'a': 1}|length }} {{ missing|length }}", {}),
    ("join", "{{ [1, 2, 3]|join(', ') }} {{ ['a', 'b']|join }} {{ users|join(', ', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("default", "{{ missing|default('d') }} {{ none|default('d') }} {{ ''|default('d', true) }} {{ 'v'|d('x') }}", {}),
    ("first_last", "{{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} {{ 'abc'|first }} [{{ []|first }}]", {}),
    ("list_string", "{{ 'abc'|list }} {{ 12|string ~ 'x' }} {{ {'a': 1}|list }}", {}),
    ("int_float_filters", "{{ '42'|int }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 3|float }} {{ 'z'|float }}", {}),
    ("abs_round", "{{ -3|abs }} {{ (-2.5)|abs }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 2.7|round(method='floor') }} {{ 2.1|round(method='ceil') }} {{ 7|round }}", {}),
    ("items_dictsort", "{{ d|dictsort }} {{ d|dictsort(by='value') }} {{ d|dictsort(reverse=true) }} {{ d|items|list }}", {"d": {"b": 2, "A": 3, "c": 1}}),
    ("map_select", "{{ users|map(attribute='name')|list }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3, 4]|reject('odd')|list }} {{ users|selectattr('admin')|map(attribute='name')|join }} {{ users|rejectattr('admin')|list|length }} {{ ['a', 'B']|map('upper')|list }}",
     {"users": [{"name": "x", "admin": True}, {"name": "y", "admin": False}, {"name": "z"}]}),
    ("selectattr_tests", "{{ tools|selectattr('type', 'equalto', 'function')|list|length }} {{ tools|selectattr('name', 'defined')|map(attribute='name')|list }}", {"tools": [{"type": "function", "name": "f"}, {"type": "code"}]}),
    ("unique_reverse_sort", "{{ [3, 1, 3, 2, 1]|unique|list }} {{ ['a', 'A', 'b']|unique|list }} {{ [1, 2, 3]|reverse|list }} {{ 'abc'|reverse }} {{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} {{ users|sort(attribute='age')|map(attribute='n')|join }}",
     {"users": [{"n": "a", "age": 30}, {"n": "b", "age": 20}, {"n": "c", "age": 30}]}),
    ("indent", "[{{ 'a\\nb\\n\\nc'|indent }}][{{ 'a\\nb'|indent(2, true) }}][{{ 'a\\n\\nb'|indent(width='> ', blank=true) }}]", {}),
    ("wordcount_safe_escape", "{{ 'one two  three'|wordcount }} {{ '<b>'|safe }} {{ '<a href=\"x\">&'|e }} {{ '<i>'|escape }}", {}),
    ("markup_concat", "{{ '<x>'|safe + '<y>' }} {{ '<x>' ~ ('<y>'|safe) }}", {}),
    ("unknown_filter", "{{ 1|nosuchfilter }}", {}),
    # string and dict methods
    ("str_methods", "{{ '  ab  '.strip() }}|{{ 'xxabxx'.strip('x') }}|{{ '\\n\\nab'.lstrip('\\n') }}|{{ 'ab  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}", {}),
    ("str_methods2", "{{ 'Ab'.upper() }}{{ 'Ab'.lower() }} {{ 'hello world'.title() }} {{ 'a-a-a'.replace('a', 'b') }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{name}'.format('p', name='q') }} {{ 'hello'.find('l') }} {{ 'hello'.find('z') }} {{ 'banana'.count('an') }} {{ '-'.join(['a', 'b']) }}", {}),
    ("split_think", "{{ c.split('</think>')[-1].lstrip('\\n') }}|{{ c.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}", {"c": "<think>\nreason\n</think>\n\nanswer"}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 'dflt') }} {{ d.keys()|list }} {{ d.values()|list }} {% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}", {"d": {"a": 1, "b": [2]}}),
    ("dict_items_key_shadow", "{{ d['items'] }} {{ d.items()|list }}", {"d": {"items": "value"}}),
    ("messages_access", "{{ messages[0]['role'] }} {{ messages[0].content }} {{ messages[-1].role }} {{ messages|length }} {{ messages[0].content is string }}", {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}),
    # globals
    ("range", "{{ range(3)|list }} {{ range(1, 4)|list }} {{ range(10, 0, -3)|list }}", {}),
    ("dict_global", "{{ dict(a=1, b='x') }} {{ dict(a=1).a }}", {}),
    ("raise_exception", "{% if true %}{{ raise_exception('Bad role: ' ~ 'x') }}{% endif %}", {}),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S') }} {{ strftime_now('%A %B') }}", {}),
    # errors
    ("syntax_unclosed", "{% if x %}abc", {}),
    ("syntax_bad_end", "{% for x in y %}{% endif %}", {}),
    ("syntax_unknown_tag", "{% frobnicate %}", {}),
    ("syntax_bad_expr", "{{ 1 + }}", {}),
    ("call_undefined", "{{ nope() }}", {}),
    ("iterate_none", "{% for x in n %}{% endfor %}", {"n": None}),
    ("unbalanced", "{{ (1 }}", {}),
    ("range_too_big", "{{ range(1000000)|length }}", {}),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = gguf_metadata(os.path.join(SHARED, "fixtures", "vocab", "ggml-vocab-qwen2.gguf"))
    tmpl = meta["tokenizer.chat_template"]
    qwen = [render(name, tmpl, ctx) for name, ctx in qwen3_contexts()]
    with open(os.path.join(OUT, "qwen3_cases.json"), "w", encoding="utf-8") as f:
        json.dump(qwen, f, ensure_ascii=False, indent=1)
        f.write("\n")
    sem = [render(name, t, ctx) for name, t, ctx in SEMANTICS]
    with open(os.path.join(OUT, "semantics_cases.json"), "w", encoding="utf-8") as f:
        json.dump(sem, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"qwen3: {len(qwen)} vectors ({sum(c['error'] is not None for c in qwen)} refusals); "
          f"semantics: {len(sem)} vectors ({sum(c['error'] is not None for c in sem)} refusals)")


if __name__ == "__main__":
    main()
