#!/usr/bin/env python3
"""Markdown table of bench/gemm's JSON lines: one row per (shape, dtype,
threads), one column per (library, variant) with GFLOP/s, the fastest in
bold and named in the last column."""
import json
import sys

rows, cols = {}, []
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        if r.get("unsupported"):
            continue
        col = f'{r["lib"]} {r["variant"]}'.replace("+nde epilogue", "")
        if col not in cols:
            cols.append(col)
        key = (r["model"], r["shape"], r["dtype"], r["threads"])
        rows.setdefault(key, {})[col] = r["gflops"]

print("| model | shape | dtype | threads | " + " | ".join(cols) + " | best |")
print("|---" * (len(cols) + 5) + "|")
for key in sorted(rows, key=lambda k: (k[3], k[2], k[0])):
    vals = rows[key]
    best = max(vals, key=vals.get)
    cells = [(f"**{vals[c]:.1f}**" if c == best else f"{vals[c]:.1f}") if c in vals else "–"
             for c in cols]
    print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]} | " + " | ".join(cells) + f" | {best} |")
print()
print("GFLOP/s = 2mnk / best time; forward shapes (fwd) include bias + activation "
      "(other than \"fused\": the library's GEMM, then nde's one-pass epilogue).")
