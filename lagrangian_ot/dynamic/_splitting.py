"""Douglas-Rachford splitting for the convex dynamic problems on the staggered grid.

``min_{U, V} J(V) + iota_C(U) + iota_{V = I(U)}``: the first two terms are
separable (a per-cell prox and the continuity projection), the last is the
projection on the graph of the averaging. The iterate returned is the
continuity-feasible one: its densities and momenta satisfy the constraint to
round-off, and its action is evaluated on the centred variables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ._staggered import SpaceTime

CHECK_EVERY = 10


@dataclass
class Splitting:
    """The state after the iterations (internal units)."""

    u: list[torch.Tensor]
    v: list[torch.Tensor]
    p: torch.Tensor
    iterations: int
    divergence: float
    fixed_point: float
    converged: bool
    z: tuple = ()


def _norm(parts: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float((x * x).sum()) for x in parts))


def douglas_rachford(
    st: SpaceTime,
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    prox: Callable,
    *,
    gamma: float,
    tol: float,
    max_iter: int,
    relax: float = 1.8,
    start: tuple | None = None,
    report: Callable | None = None,
) -> Splitting:
    """Run the splitting from the linear interpolation of the ends with zero momentum.

    ``prox(r, m, gamma, start)`` is the per-cell prox of the action on the
    centred density ``r`` and stacked parts ``m``. Stops when the relative
    fixed-point residual and the relative divergence of the graph iterate are
    both below ``tol`` (checked every few iterations), or at ``max_iter``.
    ``report(it, fixed_point, divergence)`` is called at every check.
    """
    if start is not None:  # a warm start (zu, zv), for example prolonged from a coarser grid
        zu, zv = [z.clone() for z in start[0]], [z.clone() for z in start[1]]
    else:
        zu = st.staggered_zeros()
        t = torch.linspace(0, 1, st.T + 1, dtype=st.dtype, device=st.device).reshape(
            -1, *([1] * st.d)
        )
        zu[0] = (1 - t) * rho0 + t * rho1
        zv = st.interp(zu)
    last_rho = None
    div = fix = float("inf")
    it = 0
    for it in range(1, max_iter + 1):
        xu, p = st.project_continuity(zu, rho0, rho1)
        rho_c, m_c = prox(zv[0], torch.stack(zv[1:]), gamma, last_rho)
        last_rho = rho_c
        xv = [rho_c, *m_c.unbind(0)]
        yu, yv = st.project_graph(
            [2 * a - b for a, b in zip(xu, zu)], [2 * a - b for a, b in zip(xv, zv)]
        )
        du = [a - b for a, b in zip(yu, xu)]
        dv = [a - b for a, b in zip(yv, xv)]
        check = it % CHECK_EVERY == 0 or it == max_iter
        if check:
            fix = relax * _norm(du + dv) / max(_norm(zu + zv), 1e-300)
            div = st.relative_divergence(yu)
            if not (math.isfinite(fix) and math.isfinite(div)):
                raise FloatingPointError(
                    f"the splitting diverged at iteration {it} (non-finite residuals); "
                    "use float64 or a smaller gamma"
                )
            if report is not None:
                report(it, fix, div)
        for z, dz in zip(zu + zv, du + dv):
            z.add_(dz, alpha=relax)
        if check and fix < tol and div < tol:
            break
    return Splitting(xu, xv, p, it, div, fix, fix < tol and div < tol, (zu, zv))


def solve(
    st: SpaceTime,
    rho0,
    rho1,
    prox,
    *,
    gamma: float,
    tol,
    max_iter,
    multilevel: bool,
    report: Callable | None = None,
) -> Splitting:
    """:func:`douglas_rachford`, warm-started from coarser grids when ``multilevel`` and the
    sizes allow.

    Every level uses the same step ``gamma`` (the splitting variables carry it in their dual
    part). Each level runs at most ``max_iter`` iterations; ``iterations`` reports the finest
    level's.
    ``report(level, it, fixed_point, divergence)`` follows the iterations (level 0 is the finest).
    """
    from . import _multilevel as ml

    start = None
    if multilevel and ml.can_coarsen(st.shape, st.T):
        coarse_st = SpaceTime(
            tuple(n // 2 for n in st.shape), tuple(2 * h for h in st.spacing), st.T // 2,
            source_weight=st.c, dtype=st.dtype, device=st.device,
        )  # fmt: skip
        up = None if report is None else (lambda level, *a: report(level + 1, *a))
        coarse = solve(coarse_st, ml.coarsen(rho0), ml.coarsen(rho1), prox, gamma=gamma, tol=tol,
                       max_iter=max_iter, multilevel=True, report=up)  # fmt: skip
        start = ml.prolong(*coarse.z, st.d, st.c is not None)
    here = None if report is None else (lambda *a: report(0, *a))
    return douglas_rachford(
        st, rho0, rho1, prox, gamma=gamma, tol=tol, max_iter=max_iter, start=start, report=here
    )
