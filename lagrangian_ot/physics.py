"""Checks of the physics: the continuity equation and the Benamou-Brenier action.

For a plan, the McCann particles ``Z_t = (1 - t) x + t y`` carry masses along
straight lines with velocity ``V = y - x``. Their smoothed fields satisfy the
continuity equation ``d_t rho + div m = 0`` exactly, and the kinetic action of
the fields, ``A = int_0^1 int |m|^2 / rho dx dt`` (no 1/2), is at most the
Lagrangian action ``sum_k mass_k |V_k|^2 = plan.cost`` (Jensen), with equality
in the limit of small bandwidths for an optimal plan (Benamou-Brenier).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .errors import check_int, check_positive, check_times
from .fields import density, density_and_momentum
from .grid import Grid
from .interpolate import mccann
from .plan import Plan


def _times(times) -> torch.Tensor:
    return check_times(times, "times", extrapolate=True)[0]  # finite; the fields exist at any time


def continuity_residual(
    plan: Plan, grid: Grid, times, sigma, *, dt: float = 1e-3, backend: str = "auto"
):
    """``d_t rho + div m`` of the smoothed McCann fields on ``grid`` at ``times``.

    ``d_t rho`` by central differences in time (step ``dt``), ``div m`` by
    central differences in space on the grid (one-sided at the walls); the
    residual vanishes to second order in ``dt`` and the grid step.

    Returns ``(residual (T, *grid.shape), scale)`` where ``scale`` is the largest
    ``|d_t rho|`` (to read the residual relatively).
    """
    check_positive(dt, "dt")
    t = _times(times).to(plan.x.dtype)
    mass = plan.mass
    vel = plan.velocity
    # (T, *shape)
    rho_p = density(mccann(plan, t + dt, extrapolate=True), mass, grid, sigma, backend=backend)
    rho_m = density(mccann(plan, t - dt, extrapolate=True), mass, grid, sigma, backend=backend)
    # (T, *shape, d)
    _, m = density_and_momentum(mccann(plan, t), mass, vel, grid, sigma, backend=backend)
    dtrho = (rho_p - rho_m) / (2 * dt)
    div = torch.zeros_like(dtrho)
    for a, h in enumerate(grid.spacing):
        div = div + torch.gradient(m[..., a], spacing=h, dim=1 + a, edge_order=2)[0]
    return dtrho + div, float(dtrho.abs().max())


def weak_continuity(
    plan: Plan, phi: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, order: int = 16
) -> float:
    """The weak continuity equation along the particle paths, for a test function ``phi(t, x)``.

    Returns ``int_0^1 sum_k mass_k (d_t phi + V_k . grad phi)(t, Z_k(t)) dt
    - sum_k mass_k (phi(1, y_k) - phi(0, x_k))``, which is zero for a solution;
    for McCann particles it vanishes up to quadrature and round-off
    (Gauss-Legendre of ``order`` nodes in time; derivatives by autograd).
    ``phi`` takes ``t (T, K)`` and ``x (T, K, d)`` and returns ``(T, K)``.
    """
    nodes, weights = np.polynomial.legendre.leggauss(int(order))
    w = torch.tensor(weights / 2, dtype=torch.float64)
    x0 = plan.x.detach().double()[plan.src]  # (K, d)
    v = plan.velocity.detach().double()  # (K, d)
    mass = plan.mass.detach().double()
    # (T, K)
    t = torch.tensor((nodes + 1) / 2, dtype=torch.float64)[:, None].expand(-1, x0.shape[0])
    t = t.clone().requires_grad_(True)
    z = (x0 + t.detach()[..., None] * v).requires_grad_(True)  # (T, K, d) on the characteristics
    dphi, grad = torch.autograd.grad(phi(t, z).sum(), (t, z))  # (T, K), (T, K, d)
    lhs = ((dphi + (grad * v).sum(-1)) * mass).sum(-1)  # (T,)
    integral = float((w * lhs).sum())
    ones = torch.ones(1, x0.shape[0], dtype=torch.float64)
    end = phi(ones, plan.y.detach().double()[plan.dst].unsqueeze(0))[0]
    start = phi(0 * ones, x0.unsqueeze(0))[0]
    return integral - float((mass * (end - start)).sum())


def kinetic_action(
    plan: Plan, grid: Grid, sigma, *, n_times: int = 16, floor: float = 1e-9, backend: str = "auto"
) -> float:
    """``int_0^1 int |m|^2 / rho dx dt`` of the smoothed McCann fields.

    Gauss-Legendre in time (``n_times`` nodes), cell sums on ``grid``; cells
    with ``rho <= floor * max(rho)`` count as empty (``0/0 = 0``). At most
    ``plan.cost``; tends to it (``W2^2`` for an optimal plan) as ``sigma`` and
    the grid step shrink.
    """
    nodes, weights = np.polynomial.legendre.leggauss(check_int(n_times, "n_times", 1))
    t = torch.tensor((nodes + 1) / 2, dtype=plan.x.dtype, device=plan.x.device)
    rho, m = density_and_momentum(
        mccann(plan, t), plan.mass, plan.velocity, grid, sigma, backend=backend
    )
    rho = rho.double()
    m = m.double()
    spatial = tuple(range(1, rho.dim()))
    ok = rho > floor * rho.amax(dim=spatial, keepdim=True)
    energy = torch.where(
        ok, (m * m).sum(-1) / torch.where(ok, rho, torch.ones_like(rho)), torch.zeros_like(rho)
    )
    per_time = energy.sum(dim=spatial).cpu() * grid.cell_volume  # (T,)
    return float((torch.tensor(weights / 2) * per_time).sum())
