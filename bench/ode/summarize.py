#!/usr/bin/env python3
"""Summarize bench/ode/wp output: per problem, the least CPU time with which
each solver reached a max-norm error at or below each target."""
import re
import sys

text = open(sys.argv[1]).read() if len(sys.argv) > 1 else sys.stdin.read()
targets = [1e-3, 1e-5, 1e-7, 1e-9]
problem = None
runs = {}
order = []
for line in text.splitlines():
    m = re.match(r"#### (\w+),", line)
    if m and "Mean" not in line:
        problem = m.group(1)
        runs[problem] = {}
        continue
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if problem and len(cells) == 6 and re.match(r"\de-\d\d", cells[0]) and cells[2] != "failed":
        solver, err, t = cells[1], float(cells[2]), float(cells[3])
        runs[problem].setdefault(solver, []).append((err, t))
        if solver not in order:
            order.append(solver)
print("| problem | solver | " + " | ".join(f"CPU µs to error ≤ {e:.0e}" for e in targets) + " |")
print("|---|---|" + "---|" * len(targets))
for p, by in runs.items():
    for s in order:
        cells = []
        for e in targets:
            ok = [t for err, t in by.get(s, []) if err <= e]
            cells.append(f"{min(ok):.0f}" if ok else "–")
        print(f"| {p} | {s} | " + " | ".join(cells) + " |")
