"""Table of bench/sde/run_memory.sh's JSON lines (Markdown), or with --merge FILE one JSON
line per (lib, model, method, steps) of FILE: the median time and the largest peak RSS of its
repetitions."""
import json
import statistics
import sys


def rows_of(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def merge(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["lib"], r["model"], r["method"], r["steps"]), []).append(r)
    for (lib, model, method, steps), rs in groups.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        print(json.dumps({"lib": lib, "model": model, "method": method, "steps": steps,
                          "solver": rs[0].get("solver", "euler"),
                          "peak_rss_kb": max((r["peak_rss_kb"] for r in ok), default=None),
                          "time_s": statistics.median(r["time_s"] for r in ok) if ok else None,
                          "status": "ok" if ok else rs[0].get("status", "failed")}))


def table(rows):
    for model in sorted({r["model"] for r in rows}):
        print(f"### {model}: one training step, fixed dt = 1/N\n")
        cols = sorted({(r["lib"], r["solver"], r["method"]) for r in rows if r["model"] == model})
        print("| N | " + " | ".join(f"{lib} {solver} {method}" for lib, solver, method in cols) + " |")
        print("|---|" + "---|" * len(cols))
        for n in sorted({r["steps"] for r in rows if r["model"] == model}):
            cells = []
            for lib, solver, method in cols:
                r = next((r for r in rows if r["model"] == model and r["steps"] == n and
                          (r["lib"], r["solver"], r["method"]) == (lib, solver, method)), None)
                if r is None:
                    cells.append("")
                elif r["status"] != "ok" or r["time_s"] is None:
                    cells.append("failed")
                else:
                    cells.append(f"{r['peak_rss_kb'] / 1024:.0f} MiB, {r['time_s'] * 1e3:.0f} ms")
            print(f"| {n} | " + " | ".join(cells) + " |")
        print()
    print("Cells: peak RSS of the process (MiB), time of one training step (ms).")


if __name__ == "__main__":
    if sys.argv[1] == "--merge":
        merge(rows_of(sys.argv[2]))
    else:
        table(rows_of(sys.argv[1]))
