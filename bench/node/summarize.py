"""Markdown table of bench/node/run.sh's JSON lines: one row per case; nde's
time, NFE and floor ratio beside torchdiffeq's and diffrax's (steady-state
time after warm-up; diffrax's jit compile time in its own column). "ctrl"
names each side's step-size controller: pi = nde's default PI controller
(Hairer's gains), i = the I controller of diffrax's PIDController default
and of torchdiffeq (nde: solver option "controller": "i")."""
import json
import sys


def fmt_t(s):
    if s is None:
        return "–"
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
    groups = {}
    for r in rows:
        key = (r.get("threads", 0), r["case"], r["dtype"], r["solver"], r["tol"], r["mode"])
        groups.setdefault(key, []).append(r)
    print("| threads | load | case | dtype | solver | tol | pass | nde sensitivity | nde ctrl | nde time | "
          "nde NFE f/b | floor ratio | nde peak MB | nde first | torchdiffeq time | NFE f/b | diffrax time | NFE f (derived) | "
          "diffrax compile | peers' ctrl | nde ÷ diffrax |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, rs in groups.items():
        ndes = [r for r in rs if r["impl"] == "nde"]
        for peer_sens in ("-", "direct", "adjoint"):
            for n in ndes:
                s = n["sensitivity"]
                kind = "-" if s == "-" else ("direct" if s == "direct" else "adjoint")
                if kind != peer_sens:
                    continue
                td = next((r for r in rs if r["impl"] == "torchdiffeq" and r["sensitivity"] == peer_sens), None)
                dx = next((r for r in rs if r["impl"] == "diffrax" and r["sensitivity"] == peer_sens), None)
                ratio = f"{n['time_s'] / dx['time_s']:.2f}" if dx else "–"
                mode = "forward" if key[5] == "forward" else ("train step" if key[1] == "spiral" else "fwd+bwd")
                print(f"| {key[0]} | {n.get('load', 0):.2f} | {key[1]} | {key[2]} | {key[3]} | "
                      f"{key[4]:g} | {mode} | {s} | {n.get('controller', 'pi')} | "
                      f"{fmt_t(n['time_s'])} | {n['nfe_forward']:.0f}/{n['nfe_backward']:.0f} | "
                      f"{n['floor_ratio']:.2f} | {n.get('peak_rss_mb', 0):.0f} | {fmt_t(n['first_s'])} | "
                      f"{fmt_t(td['time_s']) if td else '–'} | "
                      f"{str(td['nfe_forward']) + '/' + str(td['nfe_backward']) if td else '–'} | "
                      f"{fmt_t(dx['time_s']) if dx else '–'} | {dx['nfe_forward'] if dx else '–'} | "
                      f"{fmt_t(dx['compile_s']) if dx else '–'} | "
                      f"{(dx or td or {}).get('controller', '–')} | {ratio} |")


if __name__ == "__main__":
    main()
