"""Unbalanced transport: our barycentre paths against POT, and the dynamic WFR grid solver.

First table: the seed's two mixtures on 260 points of [-3, 3], five
times, balanced (POT ``bregman.barycenter``, log-domain Sinkhorn) and
KL-relaxed (POT ``unbalanced.barycenter_unbalanced``), both with the same heat
kernel as ours (POT's cost shifted by ``eps log Z``). Time and the largest
difference relative to the peak.

Second table: :func:`lagrangian_ot.dynamic.wfr` at 64 x 64 x 16 and 128 x 128 x 16
(space x space x time), milliseconds per iteration and the iterations (and time)
to a value within 1% of (a) the closed form for scaled copies,
``4 kappa^2 (sqrt(alpha) - 1)^2 mass``, and (b) the converged value (tolerance 1e-4)
for two Gaussians of different masses that partly travel and partly grow.

    python scripts/bench_unbalanced.py [--blur 0.08] [--reach 1.2] [--skip-pot] [--skip-wfr]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lagrangian_ot.unbalanced import (
    SEED_ALPHA,
    SEED_BETA,
    SEED_GRID,
    barycenter_path,
    gaussian_mixture,
    kernel_log_scale,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blur", type=float, default=0.08)
    parser.add_argument("--reach", type=float, default=1.2)
    parser.add_argument("--skip-pot", action="store_true", help="only the WFR table")
    parser.add_argument("--skip-wfr", action="store_true", help="only the barycentre table")
    args = parser.parse_args()
    if not args.skip_pot:
        barycentres(args)
    if not args.skip_wfr:
        wfr_table()


def barycentres(args) -> None:
    import ot

    grid, times = SEED_GRID, (0.0, 0.25, 0.5, 0.75, 1.0)
    x = grid.axes[0]
    vol = grid.cell_volume
    a, b = gaussian_mixture(x, SEED_ALPHA), gaussian_mixture(x, SEED_BETA)
    a, b = a / (a.sum() * vol), b / (b.sum() * vol)
    eps = 2 * args.blur**2
    M = (x[:, None] - x[None, :]).numpy() ** 2 - eps * kernel_log_scale(grid, eps)
    A = np.stack([a.numpy(), b.numpy()], axis=1)
    print(f"{'path':<12}{'ours (s)':>10}{'POT (s)':>10}{'max diff / peak':>17}   masses (ours)")
    for name, reach in (("balanced", None), (f"reach {args.reach:g}", args.reach)):
        start = time.perf_counter()
        ours = barycenter_path(a, b, grid, times, blur=args.blur, reach=reach).numpy()
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        ref = []
        for t in times:
            w = np.array([1 - t, t])
            if reach is None:
                ref.append(
                    ot.bregman.barycenter(
                        A, M, eps, weights=w, method="sinkhorn_log", numItermax=20000, stopThr=1e-9
                    )
                )
            else:
                ref.append(
                    ot.unbalanced.barycenter_unbalanced(
                        A, M, eps, 2 * reach**2, weights=w, numItermax=20000, stopThr=1e-9
                    )
                )
        t_pot = time.perf_counter() - start
        ref = np.stack(ref)
        diff = float(np.abs(ours - ref).max() / ref.max())
        masses = " ".join(f"{m:.4f}" for m in ours.sum(1) * vol)
        print(f"{name:<12}{t_ours:>10.2f}{t_pot:>10.2f}{diff:>17.1e}   {masses}", flush=True)


def per_iteration_ms(run, iters: int = 30, repeats: int = 3) -> float:
    """Median wall time of one iteration of ``run(max_iter)`` (after a warm-up)."""
    run(3)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(iters)
        times.append((time.perf_counter() - start) / iters * 1e3)
    return float(np.median(times))


def iterations_to(run, exact: float, target: float = 0.01) -> tuple[int, float, float]:
    """Fewest iterations of ``run(max_iter)`` whose value is within ``target`` of ``exact``
    (a doubling ladder, then bisection): ``(iterations, error, seconds of that run)``."""

    def err(k):
        return abs(float(run(k).value) / exact - 1)

    hi = 10
    while err(hi) > target:
        hi *= 2
        if hi > 20000:
            return -1, float("nan"), float("nan")
    lo = hi // 2
    while hi - lo > max(5, hi // 20):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if err(mid) <= target else (mid, hi)
    start = time.perf_counter()
    error = err(hi)
    return hi, error, time.perf_counter() - start


def wfr_table() -> None:
    import warnings

    import torch
    from bench_bb import gaussian  # scripts/ is on the path when run as a script

    from lagrangian_ot import Grid
    from lagrangian_ot.dynamic import wfr

    print(
        "\nWFR on grids (Douglas-Rachford, staggered), "
        f"float64, CPU {torch.get_num_threads()} threads"
    )
    print(
        f"{'grid':>14} {'problem':>16} {'ms/iter':>8} {'iters to 1%':>12} "
        f"{'time to 1%':>11} {'error':>9} {'reference':>10}"
    )
    kappa = 0.2
    for n in (64, 128):
        grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
        g0 = gaussian(grid, (0.4, 0.45), 0.08, torch.float64, "cpu")
        cases = {
            "scaled copies": (g0, 4 * g0, 4 * kappa**2 * (2 - 1) ** 2),
            "move and grow": (
                g0,
                1.6 * gaussian(grid, (0.6, 0.55), 0.07, torch.float64, "cpu"),
                None,
            ),
        }
        for name, (r0, r1, exact) in cases.items():
            if exact is None:
                exact = float(wfr(r0, r1, grid, kappa, n_times=16, tol=1e-4, max_iter=5000).value)

            def run(k, r0=r0, r1=r1, grid=grid):
                with warnings.catch_warnings():  # short runs on purpose
                    warnings.simplefilter("ignore", RuntimeWarning)
                    return wfr(r0, r1, grid, kappa, n_times=16, max_iter=k, tol=1e-12)

            ms = per_iteration_ms(run, repeats=1)
            k, err, secs = iterations_to(run, exact)
            print(
                f"{f'{n}x{n}x16':>14} {name:>16} {ms:8.1f} "
                f"{k:12d} {secs:10.2f}s {err:9.5f} {exact:10.5f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
