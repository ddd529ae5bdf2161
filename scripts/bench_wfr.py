"""Dynamic WFR on a 1-D grid of 256 cells at default settings, regime by regime.

Each row runs :func:`lagrangian_ot.dynamic.wfr` with nothing but the densities and
``kappa`` and prints the value's error against the closed form of ``REFERENCE.md``
(two Diracs, scaled copies, pure growth and decay), the iterations, whether the solver
called itself converged, and the wall time. The target is 1% in at most 10 s per row.
The bumps are ``cos^2`` with compact support, narrow enough for the Dirac formulas.

    python scripts/bench_wfr.py [--threads 1]

Run it against another checkout (``PYTHONPATH=/path/to/old python scripts/bench_wfr.py``)
for a before/after table.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import torch

from lagrangian_ot import Grid
from lagrangian_ot.dynamic import wfr

CELLS = 256


def bump(grid: Grid, centre: float, half_width: float, mass: float = 1.0) -> torch.Tensor:
    x = grid.axes[0]
    r = torch.where(
        (x - centre).abs() < half_width,
        torch.cos(math.pi * (x - centre) / (2 * half_width)) ** 2,
        0.0,
    )
    return mass * r / (r.sum() * grid.cell_volume)


def two_diracs(h0: float, h1: float, d: float, kappa: float) -> float:
    angle = min(d / (2 * kappa), math.pi / 2)
    return 4 * kappa**2 * (h0 + h1 - 2 * math.sqrt(h0 * h1) * math.cos(angle))


def regimes(grid: Grid) -> dict:
    """name: (rho0, rho1, kappa, closed form); parameters chosen apart from the tests'."""
    wide = bump(grid, 0.55, 0.2)
    background = 1e-4

    def floor(r):
        mass = float(r.sum()) * grid.cell_volume
        r = r + background * r.max()
        return r * mass / (float(r.sum()) * grid.cell_volume)

    return {
        "scaled copies, growing": (wide, 2.5 * wide, 0.15, 4 * 0.15**2 * (math.sqrt(2.5) - 1) ** 2),
        "travel": (bump(grid, 0.3, 0.015), bump(grid, 0.45, 0.015, 1.2), 0.3,
                   two_diracs(1.0, 1.2, 0.15, 0.3)),
        "travel and fade": (bump(grid, 0.62, 0.012, 1.4), bump(grid, 0.4, 0.012, 0.5), 0.1,
                            two_diracs(1.4, 0.5, 0.22, 0.1)),
        "near-empty background": (floor(bump(grid, 0.3, 0.015)),
                                  floor(bump(grid, 0.45, 0.015, 1.2)), 0.3,
                                  two_diracs(1.0, 1.2, 0.15, 0.3)),
        "pure growth and decay": (bump(grid, 0.2, 0.03), bump(grid, 0.7, 0.05, 1.3), 0.12,
                                  4 * 0.12**2 * 2.3),
        "pure growth, unequal": (bump(grid, 0.8, 0.02, 0.4), bump(grid, 0.3, 0.04, 1.0), 0.09,
                                 4 * 0.09**2 * 1.4),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    grid = Grid((0.0,), (1.0,), (CELLS,))
    print(f"wfr on {CELLS} cells at default settings, float64, {args.threads} thread(s)")
    print(f"{'regime':>24} {'error':>9} {'iters':>6} {'converged':>10} {'time':>7}")
    for name, (r0, r1, kappa, exact) in regimes(grid).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = wfr(r0, r1, grid, kappa)
        secs = time.perf_counter() - start
        error = float(res.value) / exact - 1
        print(
            f"{name:>24} {error:+9.4f} {res.iterations:6d} {str(res.converged):>10} {secs:6.1f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
