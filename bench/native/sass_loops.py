#!/usr/bin/env python3
"""Per-function loop summary of nvdisasm output: for each backward branch, the body's instruction count and mix.
Usage: bench/native/sass_loops.py file.sass [function-substring] (file: bench/native/sass.sh output)"""
import re, sys, collections
text = open(sys.argv[1]).read().split('\n')
want = sys.argv[2] if len(sys.argv) > 2 else ''
funcs = collections.OrderedDict(); cur = None
for line in text:
    m = re.match(r'^(_Z\S+):$', line)
    if m: cur = m.group(1); funcs[cur] = []; continue
    m = re.match(r'^\s+/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;', line)
    if cur and m: funcs[cur].append((int(m.group(1), 16), m.group(2)))
    m = re.match(r'^(\.L_x_\d+):', line)
    if cur and m: funcs[cur].append((None, m.group(1)))
for f, ins in funcs.items():
    if want not in f: continue
    labels = {}; addr_list = []
    for i, (a, s) in enumerate(ins):
        if a is None: labels[s] = ins[i + 1][0] if i + 1 < len(ins) else None
    code = [(a, s) for a, s in ins if a is not None]
    print(f'== {f}: {len(code)} instructions')
    for a, s in code:
        m = re.search(r'BRA\s+`\((\.L_x_\d+)\)', s)
        if m and labels.get(m.group(1)) is not None and labels[m.group(1)] <= a:
            body = [t for b, t in code if labels[m.group(1)] <= b <= a]
            mix = collections.Counter(re.sub(r'^@!?U?P\w+\s+', '', t).split()[0].split('.')[0] for t in body)
            print(f'  loop {labels[m.group(1)]:#x}..{a:#x}: {len(body)} instr; ' + ', '.join(f'{k} {v}' for k, v in mix.most_common(14)))
