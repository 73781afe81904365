"""Read the JSON lines of spiral_wp (nde) and torchsde_spiral.py; print Markdown tables and
the time-to-error ratios (torchsde's time at nde's error, interpolated log-log)."""
import json
import math
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
nde = [r for r in rows if r["lib"] == "nde" and "method" in r]
ts_all = [r for r in rows if r["lib"] == "torchsde" and "method" in r]
# the peer's lower envelope: for each error, the fastest configuration reaching it
ts = []
for r in sorted(ts_all, key=lambda r: r["error"]):
    if not ts or r["seconds"] < ts[-1]["seconds"]:
        ts.append(r)
floors = {r["lib"]: r["f_plus_g_seconds"] for r in rows if r.get("kind") == "floor"}


def time_at(curve, err):
    """log-log interpolation of seconds at a given error on a curve sorted by error."""
    pts = [(math.log(r["error"]), math.log(r["seconds"])) for r in curve if r["error"] > 0]
    if not pts or err < math.exp(pts[0][0]):
        return None
    if err >= math.exp(pts[-1][0]):  # looser than anything measured: its cheapest run
        return min(math.exp(t) for _, t in pts)
    le = math.log(err)
    for (e0, t0), (e1, t1) in zip(pts, pts[1:]):
        if e0 <= le <= e1:
            w = 0 if e1 == e0 else (le - e0) / (e1 - e0)
            return math.exp(t0 + w * (t1 - t0))
    return math.exp(pts[-1][1])


print("| library | method | Brownian path | tol / dt | error | time (ms) | drift evals | diffusion evals | steps acc/rej | floor ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in nde:
    print(f"| nde | {r['method']} | {r['brownian']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {r['nf']} | {r['ng']} | {r['accepted']}/{r['rejected']} | {r['floor_ratio']:.2f} |")
for r in ts_all:
    fr = r["seconds"] / (r["nf"] * floors["torchsde"]) if "torchsde" in floors else float("nan")
    setting = f"tol {r['tol']:g}" if "tol" in r else f"dt {r['dt']:g}"
    print(f"| torchsde | {r['method']} | BrownianInterval | {setting} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {r['nf']} | {r['ng']} | - | {fr:.2f} |")
print()
print(f"One drift + diffusion evaluation on the (2, 100) state: nde {1e6 * floors.get('nde', float('nan')):.2f} us, "
      f"torchsde {1e6 * floors.get('torchsde', float('nan')):.2f} us.")
print()
print("| nde method | Brownian path | tol | error | nde time (ms) | torchsde time at that error (ms) | nde / torchsde |")
print("|---|---|---|---|---|---|---|")
for r in nde:
    t = time_at(ts, r["error"])
    if t is None:
        print(f"| {r['method']} | {r['brownian']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | below torchsde's smallest error | - |")
    else:
        print(f"| {r['method']} | {r['brownian']} | {r['tol']:g} | {r['error']:.2e} | {1e3 * r['seconds']:.3f} | {1e3 * t:.2f} | {r['seconds'] / t:.4f} |")
