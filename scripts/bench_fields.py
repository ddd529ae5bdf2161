"""Eulerian fields from particles: density and velocity on a grid.

One run, one table. 100,000 McCann particles (cat -> disks, exact plan) at 5
times on a 512 x 512 grid: ours (``backend="auto"``, which bins and convolves
by FFT at this size) against

- the exact sums (separable matrix products, float64): the reference for the error;
- KeOps' exact Gaussian sum on the CPU, timed on a subsample of grid points and
  scaled up linearly (its first call also compiles the formula, reported apart);
- a dense NumPy kernel density estimate like the book's, timed on a subsample
  of particles and grid points and scaled up linearly.

Then 1,000,000 particles on a 1024 x 1024 grid, ours alone (error checked on a
subsample of grid points). Target: under 1 s for the 5 times at 100,000 on
512 x 512, relative error (max norm) under 1e-3.

    python scripts/bench_fields.py [--no-keops]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lagrangian_ot import (
    Grid,
    density,
    density_and_momentum,
    load_silhouette,
    match,
    mccann,
    velocity,
)


def particles(n: int):
    shift = torch.tensor([1.5, 0.0], dtype=torch.float64)
    x = load_silhouette("cat", n, dtype=torch.float64) - shift
    y = load_silhouette("disks", n, dtype=torch.float64) + shift
    return match(x, y)


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-keops", action="store_true", help="skip the KeOps row (compiles C++)")
    args = parser.parse_args()
    times = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    rows = []

    plan = particles(100_000)
    z = mccann(plan, times).float()  # (5, K, 2)
    mass = plan.mass.float()
    vel = plan.velocity.float()
    grid = Grid.around(z, 512, pad=0.1)
    grid = Grid(grid.lo, grid.hi, (512, 512))
    sigma = 0.01
    t_auto, (rho, mom) = timed(lambda: density_and_momentum(z, mass, vel, grid, sigma), repeat=2)
    t_vel, _ = timed(lambda: velocity(z, mass, vel, grid, sigma))
    t_exact, (rho_ref, mom_ref) = timed(
        lambda: density_and_momentum(
            z.double(), mass.double(), vel.double(), grid, sigma, backend="torch"
        )
    )
    err_rho = float((rho.double() - rho_ref).abs().max() / rho_ref.abs().max())
    err_mom = float((mom.double() - mom_ref).abs().max() / mom_ref.abs().max())
    rows.append(("ours, auto (FFT)", "100k, 5 x 512^2", t_auto, f"{max(err_rho, err_mom):.1e}"))
    rows.append(("ours, velocity (auto)", "100k, 5 x 512^2", t_vel, "-"))
    rows.append(("exact separable sums (f64)", "100k, 5 x 512^2", t_exact, "reference"))

    pts = grid.points().float()  # (262144, 2)
    if not args.no_keops:
        from lagrangian_ot.kernels.gaussian import gaussian_sum

        sub = pts[::64]
        w = mass[:, None]
        compile_t, _ = timed(lambda: gaussian_sum(sub[:10], z[0], w, sigma, backend="keops"))
        t_k, ks = timed(lambda: gaussian_sum(sub, z[0], w, sigma, backend="keops"))
        scale = 5 * pts.shape[0] / sub.shape[0]
        ref = rho_ref[0].reshape(-1)[::64]
        err = float((ks[:, 0].double() - ref).abs().max() / ref.abs().max())
        rows.append(("KeOps CPU exact (scaled)", "100k, 5 x 512^2", t_k * scale, f"{err:.1e}"))
        rows.append(("KeOps first call (compile)", "", compile_t, "-"))

    zn, mn, q = z[0].double().numpy(), mass.double().numpy(), pts.double().numpy()
    ks, qs = zn[::20], q[::256]  # 5,000 particles x 1,024 points

    def kde():
        d2 = ((qs[:, None, :] - ks[None, :, :]) ** 2).sum(-1)
        return (np.exp(-d2 / (2 * sigma**2)) * mn[::20]).sum(1) / (2 * np.pi * sigma**2)

    t_np, _ = timed(kde)
    rows.append(("dense NumPy KDE (scaled)", "100k, 5 x 512^2", t_np * 20 * 256 * 5, "-"))

    g = torch.Generator().manual_seed(0)
    big = torch.rand(1_000_000, 2, generator=g) * 2 - 1  # (K, 2)
    bmass = torch.full((1_000_000,), 1e-6)
    bgrid = Grid((-1.1, -1.1), (1.1, 1.1), (1024, 1024))
    t_big, rho_big = timed(lambda: density(big, bmass, bgrid, 0.004))
    sel = torch.randperm(bgrid.points().shape[0], generator=g)[:2000]
    from lagrangian_ot.kernels.gaussian import gaussian_sum

    exact = gaussian_sum(
        bgrid.points()[sel].double(), big.double(), bmass.double()[:, None], 0.004, backend="torch"
    )[:, 0]
    err_big = float((rho_big.reshape(-1)[sel].double() - exact).abs().max() / exact.abs().max())
    rows.append(("ours, auto (FFT)", "1M, 1 x 1024^2", t_big, f"{err_big:.1e}"))

    print(f"{'method':<30}{'problem':<18}{'time (s)':>10}{'max rel. error':>16}{'vs ours':>9}")
    for name, prob, t, err in rows:
        ratio = "" if prob != "100k, 5 x 512^2" else f"{t / t_auto:8.1f}x"
        print(f"{name:<30}{prob:<18}{t:>10.3f}{err:>16}{ratio:>9}")
    ok = "met" if t_auto < 1.0 and max(err_rho, err_mom) < 1e-3 else "MISSED"
    print(f"target (100k particles, 5 times, 512^2, density + momentum < 1 s, error < 1e-3): {ok}")

    # The Benamou-Brenier action of the smoothed fields tends to W2^2 = plan.cost.
    from lagrangian_ot import kinetic_action

    small = particles(2000)
    cost = float(small.cost)
    print(
        f"\nkinetic action of the smoothed fields, 2,000 particles, W2^2 = plan.cost = {cost:.6f}"
    )
    print(f"{'sigma':>8}{'grid step':>11}{'action':>12}{'(cost - action) / cost':>25}")
    for sig in (0.2, 0.1, 0.05, 0.025):
        box = Grid.around(
            mccann(small, torch.linspace(0, 1, 9, dtype=torch.float64)), 8, pad=6 * sig
        )
        cells = [max(8, round((hi - lo) / (sig / 4))) for lo, hi in zip(box.lo, box.hi)]
        kg = Grid(box.lo, box.hi, cells)
        act = kinetic_action(small, kg, sig, n_times=16)
        print(f"{sig:>8.3f}{kg.spacing[0]:>11.4f}{act:>12.6f}{(cost - act) / cost:>25.2e}")


if __name__ == "__main__":
    main()
