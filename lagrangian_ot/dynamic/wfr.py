"""Wasserstein-Fisher-Rao (Hellinger-Kantorovich) geodesics on grids.

``WFR_kappa^2(rho0, rho1) = min int_0^1 int (|m|^2 + kappa^2 s^2) / rho dx dt`` over
``d_t rho + div m = s`` (no 1/2; Chizat et al.'s ``WF^2`` is half of this,
Liero-Mielke-Savare's ``HK`` is ``kappa = 1/2``). Mass may be created and
destroyed, so the end densities need not have equal masses; ``kappa`` is the
length scale below which mass moves and above which it fades and grows
(two Diracs at distance ``d >= pi kappa`` exchange no mass).

Same splitting as :func:`~lagrangian_ot.dynamic.benamou_brenier`; with the
scaled source ``s~ = kappa s`` the action is ``(|m|^2 + s~^2) / rho`` (the same
cubic prox with one more component) and the balance projection solves
``(-Laplace + 1 / kappa^2) p = r`` in space-time, which has no null space. In the
first and last two time steps the source's action is evaluated on the mean
``((sqrt a + sqrt b) / 2)^2`` of the step's end densities instead of their average
(see Notes).
"""

from __future__ import annotations

import torch

from ..errors import InputError, check_positive
from ..grid import Grid
from ._problem import DynamicResult, Units, check_densities, check_steps
from ._prox import SourceProx, source_density
from ._solve import solve_on_grid
from .benamou_brenier import _density_of, value_scale

GAMMA = 0.25  # the first step, times the largest density (internal units); it only shrinks


def wfr(
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    grid: Grid,
    kappa: float,
    *,
    n_times: int = 32,
    tol: float = 1e-4,
    max_iter: int = 4000,
    gamma: float | None = None,
    multilevel: bool = False,
    progress: bool | None = None,
) -> DynamicResult:
    """The Wasserstein-Fisher-Rao geodesic between two densities on a grid.

    Parameters
    ----------
    rho0, rho1 : Tensor of ``grid.shape``
        Nonnegative densities at the cell centres, masses may differ (neither may be
        zero everywhere: then ``WFR^2 = 4 kappa^2`` times the other's mass); any device,
        float32 or float64.
    grid : Grid
        1-D, 2-D or 3-D; no flux through the walls of the box.
    kappa : float
        Length scale of the transport (> 0, in the grid's units).
    n_times, progress
        As in :func:`~lagrangian_ot.dynamic.benamou_brenier`.
    max_iter : int
        As there; 4,000 by default (about 6 s on 256 cells and 32 steps, one CPU core).
    gamma : float, optional
        The splitting's first step (internal units, as there; default a quarter of the
        largest density). The solver halves it, up to ten times (on each level with
        ``multilevel``), whenever the primal residual exceeds half the dual one: where mass
        grows from nothing the best step is tens of times smaller than where it travels.
    tol : float
        As there, but tighter by default (1e-4), and the value must also have settled:
        stopping needs the action to have changed by at most ``10 tol`` (relative) over the
        last half of the iterations. Where mass grows from or fades to nothing the
        residuals fall long before the value does. Narrow bumps that travel settle slowly
        too, so on 256 cells the defaults often stop short and warn while the value is
        already within 1% (``scripts/bench_wfr.py``): the warning says how far the value
        still moved.
    multilevel : bool
        As there, but off by default: with a source the coarse start can settle the fine
        iteration on a path a few percent away from the geodesic with the same value (a
        flat valley of the discrete action), so it is only worth it for the value.

    Returns
    -------
    DynamicResult
        With ``source`` set and ``value = WFR^2``: the discrete action, whose first and last
        two steps divide the source's part by the mean of ``sqrt`` of the step's end
        densities, so recomputing it from ``rho`` with the average there gives a little
        less.

    Notes
    -----
    Where mass grows from nothing or fades to nothing (supports farther apart than
    ``pi kappa``, or an end density zero where the other is not and nothing can travel
    in), the density grows like ``t^2`` from the empty end. The average of a step's two
    end densities is then twice the density at its midpoint in the first step, which
    halves that step's Fisher-Rao cost and puts the discrete optimum about ``1 / T``
    below the continuum (3.4% at ``T = 32``). So in the first and last two steps the
    source pays ``kappa^2 s^2`` on ``((sqrt a + sqrt b) / 2)^2``, exact where
    ``sqrt(rho)`` is affine in time; the discrete optimum of pure growth is then 0.4% low
    at ``T = 32`` (one-cell discrete action). Inside the path the average stays: where
    a narrow bump crosses a cell within a step or two, the mean of ``sqrt`` undercounts
    the density the source acts on (on every step it cost travelling narrow bumps about
    0.5% more). The given end densities are held fixed in those steps' prox, where the
    mean's slope is infinite next to an empty end. The multiplier still grows like
    ``1 / t`` there, which the splitting builds slowly: on 256 cells at the defaults pure
    growth ends 0.6-0.7% low and warns that it stopped short.

    Examples
    --------
    >>> import torch
    >>> from lagrangian_ot import Grid
    >>> from lagrangian_ot.dynamic import wfr
    >>> g = Grid((0.0,), (1.0,), (32,))
    >>> rho0 = torch.ones(32, dtype=torch.float64)
    >>> res = wfr(rho0, 4 * rho0, g, kappa=0.5, n_times=8)
    >>> round(float(res.value), 2)  # 4 kappa^2 (sqrt(4) - 1)^2 * mass 1
    1.0
    """
    rho0, rho1, m0, _ = check_densities(rho0, rho1, grid, balanced=False)
    kappa = check_positive(kappa, "kappa")
    T, tol, max_iter = check_steps(n_times, tol, max_iter, grid)
    units = Units(grid, m0)
    c = (units.L / kappa) ** 2  # 1 / kappa^2 in internal units
    if not (1e-12 < c < 1e12):
        raise InputError(
            f"kappa = {kappa:g} is out of scale with the box (side {units.L:g}): use kappa within "
            f"1e-6 to 1e6 times the side (far above it, use benamou_brenier)"
        )
    return solve_on_grid(
        rho0,
        rho1,
        grid,
        units,
        n_times=T,
        prox=SourceProx(grid.dim),
        action_density=lambda r, m, a, b: _action_density(grid.dim, r, m, a, b),
        value_scale=value_scale(units, "w2", 2, 1),
        source_weight=c,
        gamma=gamma,
        tol=tol,
        max_iter=max_iter,
        multilevel=multilevel,
        progress=progress,
        name="wfr",
        adapt=True,
        watch_value=True,
        step_factor=GAMMA,
    )


def _action_density(
    d: int, rho: torch.Tensor, parts: torch.Tensor, a: torch.Tensor, b: torch.Tensor
) -> torch.Tensor:
    """``|m|^2 / rho + s~^2 / rho_s`` per centred cell from ``parts = (m_1..m_d, s~)`` and the
    copies ``a, b`` of the steps near the ends, ``rho_s`` the source's density
    (:func:`~._prox.source_density`)."""
    transport = _density_of("w2", 2, 1, rho, parts[:d])
    return transport + _density_of("w2", 2, 1, source_density(rho, a, b), parts[d : d + 1])
