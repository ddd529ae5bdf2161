"""The part the grid solvers share: internal units, the splitting, and the result in the
user's units."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .._progress import Progress
from ..errors import check_positive, warn_user
from ..grid import Grid
from ..kernels.threads import fit_threads
from ._problem import DynamicResult, Units
from ._splitting import solve
from ._staggered import SpaceTime

GAMMA = 0.125  # the splitting's step, times the largest density in internal units


def residual_summary(out, centred: list[torch.Tensor]) -> dict:
    """The stopping residuals and the mismatch between the centred variables and the staggered
    ones interpolated."""
    inter = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(centred, out.v)))
    inter /= max(math.sqrt(sum(float((b * b).sum()) for b in out.v)), 1e-300)
    return {"divergence": out.divergence, "fixed_point": out.fixed_point, "interpolation": inter}


def warn_unconverged(name: str, out, tol: float, max_iter: int, multilevel: bool) -> None:
    """The ``RuntimeWarning`` of a splitting that stopped at ``max_iter`` short of ``tol``."""
    other = "a smaller gamma" if multilevel else "multilevel=True"
    drift = f", change of the value over the last half {out.drift:.2e}" if out.drift else ""
    warn_user(
        f"{name} stopped at max_iter={max_iter} short of tol={tol:g}: continuity residual "
        f"{out.divergence:.2e}, fixed-point residual {out.fixed_point:.2e}{drift} (the value is "
        f"only as accurate as these); raise max_iter, loosen tol, or try {other}"
    )


@fit_threads(
    lambda rho0, *_, n_times, **__: rho0.numel() * (n_times + 1)
)  # one thread on small grids
def solve_on_grid(
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    grid: Grid,
    units: Units,
    *,
    n_times: int,
    prox: Callable,
    action_density: Callable,
    value_scale: float,
    source_weight: float | None = None,
    gamma: float | None,
    tol: float,
    max_iter: int,
    multilevel: bool,
    progress: bool | None = None,
    name: str = "the splitting",
    adapt: bool = False,
    watch_value: bool = False,
    step_factor: float = GAMMA,
) -> DynamicResult:
    """Solve in internal units (box side 1, mass of ``rho0`` 1) and return the result in the user's.

    ``action_density(rho_c, m_c, *rest)`` is the per-cell action of the centred variables
    (``m_c`` the parts of ``rho_c``'s shape stacked, ``rest`` the others),
    ``value_scale`` converts the internal action to the user's units. With
    ``source_weight`` (``c = 1 / kappa^2`` in internal units) the problem is
    unbalanced; without, the masses are equalised to round-off so that the
    continuity projection is exact. ``adapt`` shrinks the splitting's step where its
    residuals ask for it, ``watch_value`` also waits for the action to settle before stopping
    (:func:`~._splitting.douglas_rachford`). Without ``gamma`` the first step is
    ``step_factor`` times the largest density. ``progress`` draws the iterations on stderr
    (None: when it is a terminal). When ``tol`` is not reached, a ``RuntimeWarning`` names
    the residuals.
    """
    if gamma is not None:
        gamma = check_positive(gamma, "gamma")
    dtype = rho0.dtype
    c = source_weight
    st = SpaceTime(
        grid.shape, units.spacing, n_times, source_weight=c, dtype=dtype, device=rho0.device
    )
    r0 = rho0 / units.density
    r1 = rho1 / units.density  # already in rho0's dtype
    if c is None:
        r1 = r1 * (r0.sum() / r1.sum())
    step = step_factor * float(torch.maximum(r0.amax(), r1.amax())) if gamma is None else gamma
    with Progress(max_iter, enabled=progress) as bar:

        def report(level: int, it: int, fix: float, div: float) -> None:
            where = f"level {level} " if level else ""
            bar.update(it, f"{where}residual {max(fix, div):.1e}/{tol:.0e}")

        out = solve(
            st,
            r0,
            r1,
            prox,
            gamma=step,
            tol=tol,
            max_iter=max_iter,
            multilevel=multilevel,
            report=report,
            adapt=adapt,
            value=(lambda v: _action(action_density, st, v).sum() * st.dt)
            if watch_value
            else None,
            value_floor=_action_floor(r0, r1, c),
        )
    if not out.converged:
        warn_unconverged(name, out, tol, max_iter, multilevel)
    value = (
        float(_action(action_density, st, out.v).double().sum())
        * st.dt * units.cell_volume * value_scale
    )  # fmt: skip
    centred = st.interp(out.u)
    d = grid.dim
    return DynamicResult(
        rho=_nonnegative(out.u[0]) * units.density,
        momentum=torch.stack(centred[1 : 1 + d], dim=-1) * units.momentum,
        source=None if c is None else centred[1 + d] * math.sqrt(c) * units.density,
        potential=out.p / out.gamma * (value_scale / units.M),
        value=value,
        residuals=residual_summary(out, centred),
        iterations=out.iterations,
        converged=out.converged,
        grid=grid,
    )


def _action(action_density: Callable, st: SpaceTime, v: list[torch.Tensor]) -> torch.Tensor:
    """The action per centred cell of the centred variables ``v``."""
    n = st.n_centred
    return action_density(v[0], torch.stack(v[1:n]), *v[n:])


def _action_floor(r0: torch.Tensor, r1: torch.Tensor, c: float | None) -> float:
    """A tiny action on the problem's scale (``sqrt(eps)`` times the Fisher-Rao bound
    ``4 kappa^2 (m0 + m1)`` per cell volume, internal units): the value's settling is judged
    against it where the action itself vanishes (equal ends)."""
    if c is None:
        return 0.0
    mass = float(r0.sum() + r1.sum())
    return torch.finfo(r0.dtype).eps ** 0.5 * 4 * mass / c


def _nonnegative(rho: torch.Tensor) -> torch.Tensor:
    """The path's densities with the splitting's small negative values (about ``tol`` of the
    peak) set to zero and each time's mass kept, so the path is a valid input elsewhere
    (``least_action_velocity``, figures)."""
    mass = rho.flatten(1).sum(1)
    pos = rho.clamp_min(0.0)
    kept = pos.flatten(1).sum(1)
    scale = torch.where(kept > 0, mass / torch.where(kept > 0, kept, 1.0), 1.0).clamp_min(0.0)
    return pos * scale.reshape(-1, *([1] * (rho.dim() - 1)))
