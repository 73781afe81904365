#!/usr/bin/env python3
"""fig-5.2 settings under each OpenBLAS kernel: NFE ratio and loss ratio.

Runs `nde reproduce fig-5.2` for the vanilla row and for the regularized row with
the regularizers given (docs/reproductions.md, fig-5.2), once per kernel, seeds
0-4 by default, one thread, and prints for each kernel the mean and sample std
over the seeds of the per-seed ratios (regularized test NFE / vanilla's, test mse
/ vanilla's), the worst test mse of either row and the regularized NFE per seed.
NFE counts are deterministic per kernel, so the numbers do not depend on machine
load (wall times do; they are not reported). Vanilla runs are cached per kernel,
seeds, steps and --set in OUT (each setting too, by its inputs), so a sweep of
many settings trains vanilla once.

  bench/fig52/sweep.py --name NAME [--reg JSON] [--reg-steps N] [--steps N]
                       [--set K=V]... [--seeds LIST] [--kernels LIST] [--jobs N]
                       [--out DIR] [--nde PATH]

--reg replaces model.chain[0].regularizer of the regularized row (default: the
shipped pipeline's); --reg-steps trains that row alone for N steps; --steps and
--set apply to both rows. The exit status is 0 when every kernel meets the goal
(NFE ratio <= 0.7 and loss ratio <= 2 on average), else 1. Example, the shipped
schedule wrapped in a target NFE:

  bench/fig52/sweep.py --name w260 --reg '[{"plugin": "error_global", "coef":
    {"target_nfe": [{"piecewise": [[0, 0], [500, 0], [600, 0.03], [1600, 0.003],
    [2000, 0]]}, 260, 0.005]}}]'
"""
import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))


def reproduce(a, kernel, rows, sets, steps, out):
    """Per-seed (test NFE, test mse) of one row under one kernel, cached in out.json."""
    cache = out + '.json'
    if os.path.exists(cache):
        return {int(k): v for k, v in json.load(open(cache)).items()}
    env = dict(os.environ, OPENBLAS_CORETYPE=kernel, OPENBLAS_NUM_THREADS='1',
               OMP_NUM_THREADS='1')
    env.setdefault('NDE_PLUGIN_PATH', os.path.join(TOP, '_plugins'))
    cmd = [a.nde, 'reproduce', 'fig-5.2', '--seeds', a.seeds, '--rows', rows, '--json',
           '--out', out]
    for s in sets:
        cmd += ['--set', s]
    if steps:
        cmd += ['--steps', str(steps)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit('%s %s: exit status %d: %s' % (kernel, rows, p.returncode, p.stderr[-2000:]))
    runs = {r['seed']: (r['test_nfe'], r['loss']) for r in json.loads(p.stdout)['rows'][0]['runs']}
    json.dump(runs, open(cache, 'w'))
    return runs


def key(*what):
    """A cache key: the runs' inputs, hashed."""
    return hashlib.sha1(json.dumps(what).encode()).hexdigest()[:10]


def one_kernel(a, kernel):
    van = reproduce(a, kernel, 'vanilla', a.set, a.steps,
                    os.path.join(a.out, 'vanilla-%s-%s' % (kernel, key(a.seeds, a.steps, a.set))))
    sets = list(a.set) + (['model.chain[0].regularizer=' + a.reg] if a.reg else [])
    steps = a.reg_steps or a.steps
    reg = reproduce(a, kernel, 'ernode', sets, steps,
                    os.path.join(a.out, '%s-%s-%s' % (a.name, kernel, key(a.seeds, steps, sets))))
    return kernel, van, reg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--name', required=True, help='the setting\'s name (its cache folder)')
    ap.add_argument('--reg', default='', help='JSON for the regularized row\'s regularizer')
    ap.add_argument('--reg-steps', type=int, default=0, help='steps of the regularized row')
    ap.add_argument('--steps', type=int, default=0, help='steps of both rows')
    ap.add_argument('--set', action='append', default=[], help='K=V for both rows')
    ap.add_argument('--seeds', default='0,1,2,3,4')
    ap.add_argument('--kernels', default='Prescott,Haswell,SkylakeX')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--out', default=os.path.join('runs', 'fig52-sweep'))
    ap.add_argument('--nde', default=os.path.join(TOP, 'nde'))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with ThreadPoolExecutor(a.jobs) as ex:
        results = list(ex.map(lambda k: one_kernel(a, k), a.kernels.split(',')))
    ok = True
    for kernel, van, reg in results:
        seeds = sorted(van)
        nfe = [reg[s][0] / van[s][0] for s in seeds]
        loss = [reg[s][1] / van[s][1] for s in seeds]
        sd = lambda x: statistics.stdev(x) if len(x) > 1 else 0.0
        worst = max(v[1] for rows in (van, reg) for v in rows.values())
        ok &= statistics.mean(nfe) <= 0.7 and statistics.mean(loss) <= 2
        print('%s %-9s NFE ratio %.3f ± %.3f  loss ratio %.2f ± %.2f  worst mse %.1e  '
              'regularized NFE %s' % (a.name, kernel, statistics.mean(nfe), sd(nfe),
                                      statistics.mean(loss), sd(loss), worst,
                                      ','.join('%d' % reg[s][0] for s in seeds)))
    print('%s: %s' % (a.name, 'meets the goal on every kernel' if ok else 'misses the goal'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
