"""Benamou-Brenier on grids: time per iteration and iterations to 1%, against the published anchor.

Two 2-D Gaussians (a translation and a change of width; closed form
``W2^2 = |m1 - m0|^2 + 2 (s1 - s0)^2``) on the unit square, at 64 x 64 x 32 and
50 x 50 x 100 (space x space x time). For each: milliseconds per iteration
(median of timed blocks of iterations), the iterations needed to bring the value
within 1% of the closed form, and the ratio to the 129 ms per iteration that a
public NumPy port of the same method reports at 50 x 50 x 100 on 2 vCPUs
(quoted, not rerun: it is not a dependency).

    python scripts/bench_bb.py [--dtype float64|float32|both] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lagrangian_ot import Grid
from lagrangian_ot.dynamic import benamou_brenier

ANCHOR_MS = 129.0  # public NumPy port, 50 x 50 x 100, 2 vCPUs
M0, S0, M1, S1 = (0.36, 0.42), 0.07, (0.62, 0.58), 0.09
EXACT = (M1[0] - M0[0]) ** 2 + (M1[1] - M0[1]) ** 2 + 2 * (S1 - S0) ** 2


def gaussian(grid: Grid, mean, std, dtype, device):
    p = grid.points().to(dtype)
    r = torch.exp(-((p - torch.tensor(mean, dtype=dtype)) ** 2).sum(-1) / (2 * std**2)).reshape(grid.shape)
    return (r / (r.sum() * grid.cell_volume)).to(device)


def per_iteration_ms(run, cuda: bool, iters=30, repeats=3) -> float:
    """Median milliseconds per iteration of ``run(k)`` (a solve of ``k`` iterations)."""
    run(3)  # warm-up (caches, kernels)
    times = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        run(iters)
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) / iters * 1e3)
    return statistics.median(times)


def fewest_iterations(err, target=0.01, cap=20000) -> int:
    """Fewest iterations ``k`` with ``err(k) <= target`` (doubling, then bisection to 5%); -1 past ``cap``."""
    hi = 10
    while err(hi) > target:
        hi *= 2
        if hi > cap:
            return -1
    lo = hi // 2
    while hi - lo > max(5, hi // 20):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if err(mid) <= target else (mid, hi)
    return hi


def iterations_to(run, exact: float, target=0.01) -> tuple[int, float, float]:
    """Fewest iterations of ``run(k)`` within ``target`` of ``exact``, that error, and the time of that run."""
    def err(k):
        return abs(run(k).value / exact - 1)

    k = fewest_iterations(err, target)
    if k < 0:
        return -1, float("nan"), float("nan")
    t = time.perf_counter()
    e = err(k)
    return k, e, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float64", "float32", "both"], default="both")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    dtypes = ["float64", "float32"] if args.dtype == "both" else [args.dtype]
    print(f"Benamou-Brenier, Douglas-Rachford on a staggered grid; {name}; torch {torch.__version__}")
    print(f"closed form W2^2 = {EXACT:.6f}; anchor {ANCHOR_MS:.0f} ms/iteration (published NumPy port, 50x50x100)")
    print(f"{'grid':>12} {'dtype':>8} {'ms/iter':>8} {'vs anchor':>9} {'iters to 1%':>11} {'error':>8} {'time to 1%':>10}")
    for n, steps in ((64, 32), (50, 100)):
        grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
        for dt in dtypes:
            dtype = getattr(torch, dt)
            r0, r1 = gaussian(grid, M0, S0, dtype, device), gaussian(grid, M1, S1, dtype, device)
            def run(k, r0=r0, r1=r1, grid=grid, steps=steps):
                return benamou_brenier(r0, r1, grid, n_times=steps, max_iter=k, tol=1e-12, multilevel=False)

            ms = per_iteration_ms(run, device.type == "cuda")
            k, e, secs = iterations_to(run, EXACT)
            print(f"{f'{n}x{n}x{steps}':>12} {dt:>8} {ms:8.1f} {ANCHOR_MS / ms:8.1f}x {k:11d} {e:8.4f} {secs:9.2f}s")


if __name__ == "__main__":
    main()
