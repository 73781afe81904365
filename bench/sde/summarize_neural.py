"""Tables of the neural spiral SDE benchmark from the JSON lines of bench_neural_sde (nde),
torchsde_neural_spiral.py and diffrax_neural_spiral.py (bench/sde/run_neural.sh).

Time to reach the same error: for each nde forward solve, a peer's time at nde's error
is interpolated log-log on the peer's lower envelope (its fastest configuration reaching
each error: adaptive or fixed step); the ratio is nde / peer (the issue's goal: <= 0.05
against torchsde). Usage: summarize_neural.py ROWS.jsonl
"""
import json
import math
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
PEERS = ["torchsde", "diffrax"]


def by(lib, kind):
    return [r for r in rows if r["lib"] == lib and r.get("kind") == kind]


def envelope(curve):
    env = []
    for r in sorted((r for r in curve if r.get("error", 0) > 0), key=lambda r: r["error"]):
        if not env or r["seconds"] < env[-1]["seconds"]:
            env.append(r)
    return env


def time_at(env, err):
    """log-log interpolation of the peer's seconds at error err; None below its smallest."""
    if not env or err < env[0]["error"]:
        return None
    if err >= env[-1]["error"]:
        return env[-1]["seconds"]
    le = math.log(err)
    for a, b in zip(env, env[1:]):
        ea, eb = math.log(a["error"]), math.log(b["error"])
        if ea <= le <= eb:
            w = 0 if eb == ea else (le - ea) / (eb - ea)
            return math.exp(math.log(a["seconds"]) + w * (math.log(b["seconds"]) - math.log(a["seconds"])))
    return env[-1]["seconds"]


def ms(s):
    return f"{1e3 * s:.3g}"


floors = {r["lib"]: r for r in rows if r.get("kind") == "floor"}
checks = {r["lib"]: r for r in rows if r.get("kind") == "check"}
if "nde" in checks:
    for lib in PEERS:
        if lib in checks:
            d = max(abs(a - b) for k in ("f", "g") for a, b in zip(checks["nde"][k], checks[lib][k]))
            print(f"- Same model check: max |f, g (nde) − f, g ({lib})| at two states = {d:.2e}")
print()
print("One drift + diffusion evaluation on the (2, 100) state (and one VJP of both):")
for lib, r in floors.items():
    vjp = f", VJP {1e6 * r['f_plus_g_vjp_seconds']:.1f} us" if "f_plus_g_vjp_seconds" in r else ""
    print(f"- {lib}: {1e6 * r['f_plus_g_seconds']:.1f} us{vjp}")
print()

print("(a) Forward solves, error at t = 1 against a fine solution on the same Brownian path")
print()
print("| library | method | Brownian path | tol / dt | error | median time (ms) | drift evals | steps acc/rej | floor ratio |")
print("|---|---|---|---|---|---|---|---|---|")
nde_fwd = [r for r in by("nde", "forward") if r.get("via") == "solve"]
nde_layer = [r for r in by("nde", "forward") if r.get("via") == "layer"]
for r in nde_fwd:
    print(f"| nde | {r['method']} | {r['brownian']} | {r['tol']:g} | {r['error']:.3g} | {ms(r['seconds'])} | "
          f"{r['nf']} | {r['accepted']}/{r['rejected']} | {r['floor_ratio']:.2f} |")
for r in by("torchsde", "forward"):
    setting = f"tol {r['tol']:g}" if "tol" in r else f"dt {r['dt']:g}"
    fr = r["seconds"] / (r["nf"] * floors["torchsde"]["f_plus_g_seconds"])
    print(f"| torchsde | {r['method']} | BrownianInterval | {setting} | {r['error']:.3g} | {ms(r['seconds'])} | "
          f"{r['nf']} | - | {fr:.2f} |")
for r in by("diffrax", "forward"):
    print(f"| diffrax | {r['method']} (Stratonovich form) | VirtualBrownianTree | tol {r['tol']:g} | {r['error']:.3g} | "
          f"{ms(r['seconds'])} (compile {r['compile_s']:.1f} s) | not counted | {r['accepted']}/{r['rejected']} | - |")
if nde_layer:
    print()
    print("The same solves as one forward pass of the `neural_sde` layer (its own path from the run's seed):")
    print()
    print("| method | Brownian path | tol | median time (ms) | drift evals | steps acc/rej | floor ratio | time ÷ nde_sde_solve's |")
    print("|---|---|---|---|---|---|---|---|")
    for r in nde_layer:
        twin = [s for s in nde_fwd if s["method"] == r["method"] and s["brownian"] == r["brownian"] and s["tol"] == r["tol"]]
        rel = f"{r['seconds'] / twin[0]['seconds']:.2f}" if twin else "-"
        print(f"| {r['method']} | {r['brownian']} | {r['tol']:g} | {ms(r['seconds'])} | {r['nf']:.0f} | "
              f"{r['accepted']:.0f}/{r['rejected']:.0f} | {r['floor_ratio']:.2f} | {rel} |")
print()

envs = {lib: envelope(by(lib, "forward")) for lib in PEERS}
heads = [lib for lib in PEERS if envs[lib]]


def layer_twin(r, kind="forward"):
    t = [s for s in by("nde", kind) if s.get("via") == "layer" and s["method"] == r["method"]
         and s["brownian"] == r["brownian"] and s["tol"] == r["tol"]]
    return t[0] if t else None


print("Time to reach nde's error (the peer's lower envelope over its adaptive and fixed-step runs, "
      "log-log interpolation); \"layer\" = the same solve as a `neural_sde` forward pass:")
print()
cols = ["nde method", "path", "tol", "error", "nde solve (ms)", "nde layer (ms)"]
for p in heads:
    cols += [f"{p} at that error (ms)", f"solve ÷ {p}", f"layer ÷ {p}"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
for r in nde_fwd:
    lt = layer_twin(r)
    cells = [r["method"], r["brownian"], f"{r['tol']:g}", f"{r['error']:.3g}", ms(r["seconds"]),
             ms(lt["seconds"]) if lt else "-"]
    for p in heads:
        t = time_at(envs[p], r["error"])
        if t is None:
            cells += ["below its smallest error", "-", "-"]
        else:
            cells += [ms(t), f"{r['seconds'] / t:.3f}", f"{lt['seconds'] / t:.3f}" if lt else "-"]
    print("| " + " | ".join(cells) + " |")
print()

print("(b) One training step (forward with 30 save points + mean/variance loss + gradient), discrete reverse mode")
print()
print("| library | how | method | path | tol | forward error at this tol | median time (ms) | drift evals fwd / pullbacks bwd | loss | floor ratio |")
print("|---|---|---|---|---|---|---|---|---|---|")
fwd_err = {}
for r in nde_fwd:
    fwd_err[("nde", r["method"], r["brownian"], r["tol"])] = r["error"]
for r in by("torchsde", "forward"):
    if "tol" in r:
        fwd_err[("torchsde", r["tol"])] = r["error"]
for r in by("diffrax", "forward"):
    fwd_err[("diffrax", r["tol"])] = r["error"]


def fe(key):
    return f"{fwd_err[key]:.3g}" if key in fwd_err else "-"


for r in by("nde", "train"):
    how = "neural_sde layer" if r.get("via") == "layer" else "direct sensitivity on callbacks"
    nb = r.get("nvjp_backward", r.get("nfe_backward"))
    print(f"| nde | {how} | {r['method']} | {r['brownian']} | {r['tol']:g} | {fe(('nde', r['method'], r['brownian'], r['tol']))} | "
          f"{ms(r['seconds'])} | {r['nf']:.0f} / {nb:.0f} | {r['loss']:.4g} | {r['floor_ratio']:.2f} |")
for r in by("torchsde", "train"):
    if "failed" in r:
        print(f"| torchsde | sdeint, backprop | srk | BrownianInterval | {r['tol']:g} | | failed: {r['failed']} | | | |")
        continue
    print(f"| torchsde | sdeint, backprop through the solver | srk | BrownianInterval | {r['tol']:g} | {fe(('torchsde', r['tol']))} | "
          f"{ms(r['seconds'])} | {r['nf']} / autograd | {r['loss']:.4g} | - |")
for r in by("diffrax", "train"):
    print(f"| diffrax | RecursiveCheckpointAdjoint | SPaRK | VirtualBrownianTree | {r['tol']:g} | {fe(('diffrax', r['tol']))} | "
          f"{ms(r['seconds'])} (compile {r['compile_s']:.1f} s) | {r['steps']} steps | {r['loss']:.4g} | - |")
nt = [r for r in by("nde", "train") if r.get("via") == "layer"] or by("nde", "train")
tt = {r["tol"]: r for r in by("torchsde", "train") if "failed" not in r}
dtr = {r["tol"]: r for r in by("diffrax", "train")}
if nt and (tt or dtr):
    print()
    print("Training-step ratios at the same error: a peer's training time interpolated (log-log, "
          "lower envelope) at nde's forward error, each training row labelled with the forward "
          "error of its solver at that tolerance:")
    print()
    tenv = {}
    for lib, d in (("torchsde", tt), ("diffrax", dtr)):
        curve = [{"error": fwd_err[(lib, tol)], "seconds": r["seconds"]} for tol, r in d.items()
                 if (lib, tol) in fwd_err]
        tenv[lib] = envelope(curve)
    for r in nt:
        e = fwd_err.get(("nde", r["method"], r["brownian"], r["tol"]))
        if e is None:
            continue
        parts = []
        for lib in ("torchsde", "diffrax"):
            t = time_at(tenv.get(lib, []), e)
            parts.append(f"nde ÷ {lib} = " + ("below its smallest error" if t is None else f"{r['seconds'] / t:.3f}"))
        print(f"- tol {r['tol']:g} (error {e:.3g}), nde {r['method']} with the {r['brownian']} path ({r.get('via')}): " + ", ".join(parts))
    print()
    print("Training-step ratios at the same tolerance (nde's forward error at a tolerance is at or "
          "below torchsde's here, so this is not in nde's favour):")
    print()
    for r in nt:
        parts = []
        if r["tol"] in tt:
            parts.append(f"nde ÷ torchsde = {r['seconds'] / tt[r['tol']]['seconds']:.4f}")
        if r["tol"] in dtr:
            parts.append(f"nde ÷ diffrax = {r['seconds'] / dtr[r['tol']]['seconds']:.3f}")
        if parts:
            print(f"- tol {r['tol']:g}, nde {r['method']} with the {r['brownian']} path ({r.get('via')}): " + ", ".join(parts))
for r in by("nde", "layer_unavailable"):
    print()
    print(f"nde's `neural_sde` layer rows were skipped: {r['why']}")
