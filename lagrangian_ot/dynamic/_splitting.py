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
ADAPT_EVERY = 50  # iterations between two looks at the residual balance
BALANCE = 0.5  # the step shrinks when the primal residual exceeds BALANCE x the dual
ADAPT_FACTOR = 2.0  # and then by this factor
MAX_ADAPT = 10  # at most this many (a step 1024 times smaller); then the step stays fixed
VALUE_SLACK = 10  # the action must settle to this many times tol (see ``value``)


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
    gamma: float = 0.0
    drift: float = 0.0


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
    adapt: bool = False,
    value: Callable | None = None,
    value_floor: float = 0.0,
) -> Splitting:
    """Run the splitting from the linear interpolation of the ends with zero momentum.

    ``prox(r, m, gamma, start, *rest)`` is the per-cell prox of the action on the
    centred density ``r``, the stacked parts ``m`` of the same shape and the ``rest`` of
    ``V`` (``st.n_centred``; a prox with a ``bind(rho0, rho1)`` method is bound to the end
    densities first); it returns ``(rho, m, *rest)``. Stops when the relative
    fixed-point residual and the relative divergence of the graph iterate are
    both below ``tol`` (checked every few iterations), or at ``max_iter``.
    ``report(it, fixed_point, divergence)`` is called at every check.

    ``value(v)``: the action of the centred iterate. When given, stopping also needs the
    action to have changed by at most ``VALUE_SLACK * tol`` (relative, or relative to
    ``value_floor`` where the action is smaller) since half the iterations: where the
    residuals fall long before the action settles (mass growing from nothing converges
    sublinearly), this change estimates the distance still to go. ``drift`` returns it.

    ``adapt``: shrink the step where the residuals say it is too large. Every
    ``ADAPT_EVERY`` iterations the relative primal residual ``|y - x| / |x|`` (the distance
    between the two constraint sets' iterates) is compared with the relative dual one
    ``|y - y_prev| / |z - x|``; when the first exceeds the second ``BALANCE`` times,
    ``gamma`` is divided by ``ADAPT_FACTOR`` and ``z`` rescaled as ``x + (z - x) / f``, which
    keeps the scaled multipliers ``(z - x) / gamma`` (ADMM's residual balancing, one way
    only; never on the last iteration, whose ``p`` belongs to the old step). Mass that grows
    from nothing wants a step tens of times smaller than the default, which suits mass that
    travels; growing the step as well took 1.7-2 times the iterations on the travelling and
    scaled 1-D problems of the WFR tests (the balance flips back and forth). ``BALANCE``
    below 1 shrinks a little more than balance asks: the WFR problems where mass grows from
    nothing settle at a ratio near 0.4 with it, the travelling ones near 0.3. After
    ``MAX_ADAPT`` changes the step stays fixed, so the usual convergence of the splitting
    holds. The returned ``gamma`` is the last step.
    """
    if hasattr(prox, "bind"):  # a prox that needs the problem's end densities
        prox = prox.bind(rho0, rho1)
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
    it = changes = 0
    prev_y = None
    values: dict[int, float] = {}
    drift = float("inf") if value is not None else 0.0
    met = False  # tol reached at the last check (the residuals change only at checks)
    for it in range(1, max_iter + 1):
        xu, p = st.project_continuity(zu, rho0, rho1)
        n = st.n_centred
        rho_c, m_c, *rest = prox(zv[0], torch.stack(zv[1:n]), gamma, last_rho, *zv[n:])
        last_rho = rho_c
        xv = [rho_c, *m_c.unbind(0), *rest]
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
            if value is not None:
                drift = _drift(values, it, float(value(xv)), value_floor)
            if report is not None:
                report(it, fix, div)
        if check:
            met = fix < tol and div < tol and drift <= VALUE_SLACK * tol
        stop = check and met
        shrink = False
        if adapt and prev_y is not None:
            shrink = _primal_dominates(xu + xv, yu + yv, zu + zv, du + dv, prev_y)
            prev_y = None
        for z, dz in zip(zu + zv, du + dv):
            z.add_(dz, alpha=relax)
        if shrink and not stop and it < max_iter:  # p above belongs to this step: keep it
            for z, x in zip(zu + zv, xu + xv):  # keep the scaled multipliers (z - x) / gamma
                z.sub_(x).div_(ADAPT_FACTOR).add_(x)
            gamma /= ADAPT_FACTOR
            changes += 1
            last_rho = None
        if adapt and changes < MAX_ADAPT and (it + 1) % ADAPT_EVERY == 0:
            prev_y = [y.clone() for y in yu + yv]
        if stop:
            break
    return Splitting(xu, xv, p, it, div, fix, met, (zu, zv), gamma, drift)


def _drift(values: dict[int, float], it: int, now: float, floor: float) -> float:
    """Relative change of the action since the check nearest half of ``it`` (inf before two
    checks); relative to ``floor`` where the action is smaller."""
    values[it] = now
    half = (it // 2) // CHECK_EVERY * CHECK_EVERY
    if half not in values or half == it:
        return float("inf")
    return abs(now - values[half]) / max(abs(now), abs(values[half]), floor, 1e-300)


def _primal_dominates(x, y, z, dy, prev_y) -> bool:
    """Whether the relative primal residual exceeds the dual one ``BALANCE`` times (see
    ``adapt`` above)."""
    primal = _norm(dy) / max(_norm(x), 1e-300)
    dual = _norm([a - b for a, b in zip(y, prev_y)]) / max(
        _norm([a - b for a, b in zip(z, x)]), 1e-300
    )
    return primal > BALANCE * dual


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
    adapt: bool = False,
    value: Callable | None = None,
    value_floor: float = 0.0,
) -> Splitting:
    """:func:`douglas_rachford`, warm-started from coarser grids when ``multilevel`` and the
    sizes allow.

    Every level starts from the step the coarser one ended with (the splitting variables
    carry it in their dual part; it changes only with ``adapt``). Each level runs at most
    ``max_iter`` iterations; ``iterations`` reports the finest level's.
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
                       max_iter=max_iter, multilevel=True, report=up, adapt=adapt,
                       value=value, value_floor=value_floor)  # fmt: skip
        start = ml.prolong(*coarse.z, st.d, st.c is not None, st.n_centred)
        gamma = coarse.gamma
    here = None if report is None else (lambda *a: report(0, *a))
    return douglas_rachford(
        st, rho0, rho1, prox, gamma=gamma, tol=tol, max_iter=max_iter, start=start, report=here,
        adapt=adapt, value=value, value_floor=value_floor,
    )  # fmt: skip
