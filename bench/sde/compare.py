"""Read the JSON lines of spiral_wp (nde) and torchsde_spiral.py; print Markdown tables and
the time-to-error ratios (torchsde's time at nde's error, interpolated log-log)."""
import json
import math
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
nde = [r for r in rows if r["lib"] == "nde" and "method" in r]
ts = sorted([r for r in rows if r["lib"] == "torchsde" and "method" in r], key=lambda r: r["error"])
floors = {r["lib"]: r["f_plus_g_seconds"] for r in rows if r.get("kind") == "floor"}


def time_at(curve, err):
    """log-log interpolation of seconds at a given error on a curve sorted by error."""
    pts = [(math.log(r["error"]), math.log(r["seconds"])) for r in curve if r["error"] > 0]
    if not pts or err < math.exp(pts[0][0]) or err > math.exp(pts[-1][0]):
        return None
    le = math.log(err)
    for (e0, t0), (e1, t1) in zip(pts, pts[1:]):
        if e0 <= le <= e1:
            w = 0 if e1 == e0 else (le - e0) / (e1 - e0)
            return math.exp(t0 + w * (t1 - t0))
    return math.exp(pts[-1][1])


print("| library | method | tol | error | time (ms) | drift evals | diffusion evals | steps acc/rej | floor ratio |")
print("|---|---|---|---|---|---|---|---|---|")
for r in nde:
    print(f"| nde | {r['method']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {r['nf']} | {r['ng']} | {r['accepted']}/{r['rejected']} | {r['floor_ratio']:.2f} |")
for r in sorted(ts, key=lambda r: -r["tol"]):
    fr = r["seconds"] / (r["nf"] * floors["torchsde"]) if "torchsde" in floors else float("nan")
    print(f"| torchsde | srk | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {r['nf']} | {r['ng']} | - | {fr:.2f} |")
print()
print(f"One drift + diffusion evaluation on the (2, 100) state: nde {1e6 * floors.get('nde', float('nan')):.2f} us, "
      f"torchsde {1e6 * floors.get('torchsde', float('nan')):.2f} us.")
print()
print("| nde method | tol | error | nde time (ms) | torchsde time at that error (ms) | nde / torchsde |")
print("|---|---|---|---|---|---|")
for r in nde:
    t = time_at(ts, r["error"])
    if t is None:
        print(f"| {r['method']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | outside torchsde's range | - |")
    else:
        print(f"| {r['method']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {1e3 * t:.2f} | {r['seconds'] / t:.4f} |")
