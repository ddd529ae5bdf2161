"""Unbalanced transport: our barycentre paths against POT on the seed's 1-D problem.

One run, one table: the seed's two mixtures on 260 points of [-3, 3], five
times, balanced (POT ``bregman.barycenter``, log-domain Sinkhorn) and
KL-relaxed (POT ``unbalanced.barycenter_unbalanced``), both with the same heat
kernel as ours (POT's cost shifted by ``eps log Z``). Time and the largest
difference relative to the peak.

    python scripts/bench_unbalanced.py [--blur 0.08] [--reach 1.2]
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
    import ot

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blur", type=float, default=0.08)
    parser.add_argument("--reach", type=float, default=1.2)
    args = parser.parse_args()
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
                ref.append(ot.bregman.barycenter(A, M, eps, weights=w, method="sinkhorn_log", numItermax=20000, stopThr=1e-9))
            else:
                ref.append(ot.unbalanced.barycenter_unbalanced(A, M, eps, 2 * reach**2, weights=w, numItermax=20000, stopThr=1e-9))
        t_pot = time.perf_counter() - start
        ref = np.stack(ref)
        diff = float(np.abs(ours - ref).max() / ref.max())
        masses = " ".join(f"{m:.4f}" for m in ours.sum(1) * vol)
        print(f"{name:<12}{t_ours:>10.2f}{t_pot:>10.2f}{diff:>17.1e}   {masses}", flush=True)


if __name__ == "__main__":
    main()
