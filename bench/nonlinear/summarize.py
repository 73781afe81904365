#!/usr/bin/env python3
"""Turn bench_nonlinear's JSON Lines into the Markdown tables of bench/RESULTS.md."""
import collections
import json
import math
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = collections.OrderedDict()
for r in rows:
    by.setdefault(r["solver"], {})[r["problem"]] = r
order = ["nde "]  # nde rows first, peers after, each in first-seen order
by = collections.OrderedDict(sorted(by.items(), key=lambda kv: not kv[0].startswith("nde ")))

print("| solver | solved /23 | not solved | total time, solved problems (ms) | geo. mean time (µs) |")
print("|---|---|---|---|---|")
for s, rs in by.items():
    ok = [r for r in rs.values() if r["solved"]]
    fails = [str(k) for k, r in sorted(rs.items()) if not r["solved"]]
    total = sum(r["time_s"] for r in ok) * 1e3
    geo = math.exp(sum(math.log(r["time_s"]) for r in ok) / len(ok)) * 1e6 if ok else float("nan")
    print(f"| {s} | {len(ok)} | {', '.join(fails) or '—'} | {total:.2f} | {geo:.1f} |")

peers = [s for s in by if not s.startswith("nde ") or s.startswith("nde polyalg")]
print()
print("Time per solve in µs (— : not solved):")
print()
print("| # | problem | " + " | ".join(peers) + " |")
print("|---|---|" + "---|" * len(peers))
names = {r["problem"]: r["name"] for r in rows}
for k in sorted(names):
    cells = []
    for s in peers:
        r = by[s].get(k)
        cells.append(f"{r['time_s'] * 1e6:.1f}" if r and r["solved"] else "—")
    print(f"| {k} | {names[k]} | " + " | ".join(cells) + " |")
