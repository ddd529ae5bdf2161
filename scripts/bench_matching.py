"""Exact matching: our certified solver against POT's network simplex and SciPy.

One run, one table: wall time and peak memory (resident set growth of a fresh
process, measured around the solve) for

- uniform square -> shifted smaller square, and cat -> two disks (silhouettes
  placed side by side), at n = 1,000 / 5,000 / 10,000: ours, POT ``ot.emd``
  (dense cost matrix), SciPy ``linear_sum_assignment``;
- ours alone at n = 50,000 and 100,000;
- 256 problems of 256 points: ours batched vs a loop of ``ot.emd``.

Costs are compared (relative difference to POT). Ratios are against the
reference measured in the same run. Each measurement runs in its own process.

    python scripts/bench_matching.py            # everything (about 20 minutes)
    python scripts/bench_matching.py --quick    # no SciPy at 10,000, no 100,000
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from _child import rss_mb, run_worker

TIME_LIMIT = 600
SCIPY_LIMIT = 150  # linear_sum_assignment is cubic: beyond this it is reported as "> limit"


def problem(kind: str, n: int):
    import torch

    if kind == "square":
        g = torch.Generator().manual_seed(n)
        x = torch.rand(n, 2, generator=g, dtype=torch.float64)
        y = 0.5 * torch.rand(n, 2, generator=g, dtype=torch.float64) + torch.tensor(
            [1.5, 0.25], dtype=torch.float64
        )
        return x, y
    from lagrangian_ot import load_silhouette

    shift = torch.tensor([1.5, 0.0], dtype=torch.float64)
    return load_silhouette("cat", n, dtype=torch.float64) - shift, load_silhouette(
        "disks", n, dtype=torch.float64
    ) + shift


def worker(solver: str, kind: str, n: int, batch: int) -> dict:
    import numpy as np
    import torch

    if batch:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(batch, n, 2, generator=g, dtype=torch.float64)
        y = torch.rand(batch, n, 2, generator=g, dtype=torch.float64)
    else:
        x, y = problem(kind, n)
    if solver == "ours":
        from lagrangian_ot import match

        if batch:
            match(x[:2], y[:2])  # load the native library outside the timing
        else:
            match(x[:50], y[:50])
    else:
        import ot
        import scipy.optimize  # noqa: F401
    base = rss_mb()
    start = time.perf_counter()
    if solver == "ours":
        plan = match(x, y, method="exact")
        cost = plan.cost.double().cpu().numpy().tolist()
        gap = float(plan.gap)
    elif solver == "pot":
        import ot

        a = np.full(n, 1.0 / n)
        xs, ys = (x.numpy(), y.numpy())
        if batch:
            cost = [
                float(ot.emd2(a, a, ot.dist(xs[i], ys[i]), numItermax=10**8)) for i in range(batch)
            ]
        else:
            cost = float(ot.emd2(a, a, ot.dist(xs, ys), numItermax=10**8))
        gap = None
    else:
        from scipy.optimize import linear_sum_assignment

        C = ((x.numpy()[:, None, :] - y.numpy()[None, :, :]) ** 2).sum(-1)
        r, c = linear_sum_assignment(C)
        cost = float(C[r, c].mean())
        gap = None
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": max(peak - base, 0.0), "cost": cost, "gap": gap}


def measure(solver, kind, n, batch=0):
    return run_worker(
        __file__,
        [solver, kind, str(n), str(batch)],
        SCIPY_LIMIT if solver == "scipy" else TIME_LIMIT,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="skip SciPy at 10,000 and ours at 100,000"
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        solver, kind, n, batch = args.worker
        print(json.dumps(worker(solver, kind, int(n), int(batch))))
        return

    def fmt(r, key, spec):
        return "-" if r is None else format(r[key], spec)

    header = (
        f"{'problem':<14}{'n':>8} {'solver':<7}{'time (s)':>10}{'peak MB':>10}{'cost':>14}"
        f"{'rel. diff':>11}{'speed-up':>10}{'memory':>8}"
    )
    print(header)
    print("-" * len(header))
    for kind in ("square", "cat-disks"):
        for n in (1000, 5000, 10000):
            ours = measure("ours", kind, n)
            pot = measure("pot", kind, n)
            lsa = None if (args.quick and n >= 10000) else measure("scipy", kind, n)
            for name, r in (("ours", ours), ("pot", pot), ("scipy", lsa)):
                rel = (
                    "-"
                    if r is None or pot is None
                    else f"{abs(r['cost'] - pot['cost']) / pot['cost']:.1e}"
                )
                speed = mem = ""
                if name == "ours" and ours and pot:
                    speed = f"{pot['seconds'] / ours['seconds']:.1f}x"
                    mem = f"{ours['peak_mb'] / max(pot['peak_mb'], 1e-9):.3f}"
                t = "-" if r is None else f"{r['seconds']:.2f}"
                if r is None and name == "scipy" and not (args.quick and n >= 10000):
                    t = f">{SCIPY_LIMIT}"
                print(f"{kind:<14}{n:>8} {name:<7}{t:>10}{fmt(r, 'peak_mb', '.0f'):>10}"
                      f"{fmt(r, 'cost', '.8f'):>14}{rel:>11}{speed:>10}{mem:>8}",
                      flush=True)  # fmt: skip
    for n in (50000,) if args.quick else (50000, 100000):
        r = measure("ours", "square", n)
        gap = "-" if r is None else f"gap {r['gap']:.1e}"
        print(f"{'square':<14}{n:>8} {'ours':<7}{fmt(r, 'seconds', '.2f'):>10}"
              f"{fmt(r, 'peak_mb', '.0f'):>10}{fmt(r, 'cost', '.8f'):>14}   certified {gap}",
              flush=True)  # fmt: skip
    ours = measure("ours", "batch", 256, 256)
    pot = measure("pot", "batch", 256, 256)
    rel = (
        max(abs(a - b) / b for a, b in zip(ours["cost"], pot["cost"]))
        if ours and pot
        else float("nan")
    )
    print(f"{'batch 256x256':<14}{256:>8} {'ours':<7}{fmt(ours, 'seconds', '.2f'):>10}"
          f"{fmt(ours, 'peak_mb', '.0f'):>10}{'':>14}{rel:>11.1e}"
          f"{pot['seconds'] / ours['seconds']:>9.1f}x")  # fmt: skip
    print(
        f"{'batch 256x256':<14}{256:>8} "
        f"{'pot':<7}{fmt(pot, 'seconds', '.2f'):>10}{fmt(pot, 'peak_mb', '.0f'):>10}"
    )
    print(
        "targets: n = 10,000 >= 10x faster than ot.emd "
        "with <= 1/10 of its memory; n = 100,000 certified "
        "in < 60 s and < 4 GB; batched >= 5x faster than the ot.emd loop"
    )


if __name__ == "__main__":
    main()
