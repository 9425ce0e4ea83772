#!/usr/bin/env python3
"""diff_templates.py — differential test: random chat contexts over the shared real templates,
rendered by Python's Jinja2 (as Hugging Face does, see gen_template_cases.py) and by
`hearth template`; reports every disagreement. Usage: tools/diff_templates.py [SEED] [N]
(run from the repo root after `make`; needs python3 with jinja2; not part of CI)."""
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen_template_cases as g
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
SHARED = os.environ.get('HEARTH_SHARED', os.path.join(ROOT, '..', 'shared'))
T = sorted(glob.glob(os.path.join(SHARED, 'fixtures/chat-templates/*.jinja')))
TMP = tempfile.mkdtemp()
texts = ['hi', '', '  spaced  \n', 'multi\nline\n\n', 'ünï ✓ 🎉', '<think>\nA\n</think>\n\nB', 'He said "x" & <y>', "it's", '{"json": 1}', '\t tab', 'x</tool_response>']
def rtool():
    return random.choice([g.WEATHER, g.TIME, {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"a": {"type": "integer", "description": "n", "default": 3}, "b": {"type": ["string", "null"], "enum": ["x", "y"]}}, "required": ["a"]}}}])
def rmsg(role):
    m = {"role": role, "content": random.choice(texts)}
    if role == 'assistant' and random.random() < 0.4:
        calls = []
        for _ in range(random.choice([1, 1, 2])):
            args = random.choice([{"city": "P"}, {"a": 1, "b": [1.5, None, True]}, "{\"s\": 1}", {}])
            c = {"type": "function", "function": {"name": random.choice(["get_weather", "f"]), "arguments": args}}
            if random.random() < 0.5: c["id"] = "call_" + str(random.randint(0, 99))
            calls.append(c)
        m["tool_calls"] = calls
        if random.random() < 0.3: m["content"] = None if random.random() < 0.5 else ""
    if role == 'assistant' and random.random() < 0.2: m["reasoning_content"] = random.choice(texts)
    if role == 'tool' and random.random() < 0.5: m["tool_call_id"] = "call_1"; m["name"] = "get_weather"
    return m
def rctx():
    roles = []
    if random.random() < 0.5: roles.append('system')
    for _ in range(random.randint(1, 6)):
        roles.append(random.choice(['user', 'assistant', 'user', 'tool', 'assistant']))
    ctx = {"messages": [rmsg(r) for r in roles], "add_generation_prompt": random.random() < 0.6,
           "bos_token": "<s>", "eos_token": "</s>"}
    if random.random() < 0.5: ctx["tools"] = [rtool() for _ in range(random.randint(1, 2))]
    if random.random() < 0.3: ctx["enable_thinking"] = random.random() < 0.5
    return ctx
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
bad = 0; agree = 0; refused = 0
for i in range(n):
    t = random.choice(T)
    ctx = rctx()
    src = open(t).read()
    ref = g.render('x', src, ctx)
    json.dump(ctx, open(os.path.join(TMP, 'ctx.json'), 'w'))
    r = subprocess.run([os.path.join(ROOT, 'build/hearth'), 'template', '--jinja', t, '--context', os.path.join(TMP, 'ctx.json'), '--now', '2024-07-26T12:00:00'], capture_output=True)
    out = r.stdout.decode('utf-8', 'replace')
    if ref['expected'] is not None:
        ok = r.returncode == 0 and out == ref['expected']
    else:
        refused += 1
        ok = r.returncode == 1 and (not ref['error'].startswith('TemplateError') or ref['error'][15:] in r.stderr.decode())
    if ok: agree += 1
    else:
        bad += 1
        if bad <= 4:
            print('MISMATCH', os.path.basename(t), ref['error'], r.stderr.decode()[:200])
            e = ref['expected'] or ''
            k = next((j for j in range(min(len(e), len(out))) if e[j] != out[j]), min(len(e), len(out)))
            print(' exp', repr(e[max(0,k-60):k+80])); print(' got', repr(out[max(0,k-60):k+80]))
            json.dump(ctx, open(os.path.join(TMP, f'bad{bad}.json'), 'w'))
            print(' context saved in', os.path.join(TMP, f'bad{bad}.json'))
print(f'agree {agree}/{n} (refusals {refused}), mismatches {bad}')
