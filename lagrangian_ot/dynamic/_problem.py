"""Input checks, units and the result type shared by the grid solvers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import InputError, check_int
from ..grid import Grid, check_density_pair
from ..result import scalar

MASS_RTOL = 1e-5  # balanced problems: relative mismatch of the masses accepted
MAX_SPACE_TIME_CELLS = 1 << 26  # about 67 M cells: ~30 arrays of this size are live at once


@dataclass(frozen=True)
class DynamicResult:
    """A geodesic computed on a grid by :func:`benamou_brenier` or :func:`wfr`.

    Attributes
    ----------
    rho : Tensor ``(T + 1, *shape)``
        Densities at the times ``k / T`` (cell centres); ``rho[0]`` and ``rho[-1]``
        are the inputs. Together with the momentum they satisfy the discrete
        continuity (balance) equation to round-off.
    momentum : Tensor ``(T, *shape, d)``
        ``m = rho v`` at the mid-times ``(k + 1/2) / T``, averaged from the cell faces
        to the cell centres.
    source : Tensor ``(T, *shape)`` or None
        ``s`` in ``d_t rho + div m = s`` (unbalanced problems), at the mid-times.
    potential : Tensor ``(T, *shape)``
        The dual potential ``phi`` at the mid-times: ``m = rho grad(phi) / 2`` and
        ``d_t phi + |grad phi|^2 / 4 = 0`` on the support (W2; for WFR also
        ``s = rho phi / (2 kappa^2)``).
    value : Tensor
        The action of the path (``W2^2`` for the default action; ``WFR^2`` for :func:`wfr`), a
        scalar tensor in the dtype and on the device of ``rho`` (the shared result protocol,
        :mod:`lagrangian_ot.result`; ``float(res.value)`` is the number).
    residuals : dict
        ``divergence``: relative continuity residual of the splitting's other iterate;
        ``fixed_point``: relative change of the last iteration;
        ``interpolation``: relative mismatch between the centred and the staggered variables.
    iterations : int
    converged : bool
        Both stopping residuals fell below ``tol``.
    grid : Grid
    """

    rho: torch.Tensor
    momentum: torch.Tensor
    source: torch.Tensor | None
    potential: torch.Tensor
    value: torch.Tensor
    residuals: dict = field(repr=False)
    iterations: int
    converged: bool
    grid: Grid = field(repr=False)

    def __post_init__(self):
        if not isinstance(self.value, torch.Tensor):
            object.__setattr__(self, "value", scalar(self.value, self.rho))

    @property
    def info(self) -> dict:
        """``iterations`` and ``residuals`` (the shared result protocol)."""
        return {"iterations": self.iterations, "residuals": dict(self.residuals)}

    @property
    def times(self) -> torch.Tensor:
        """The ``T + 1`` times of ``rho``."""
        return torch.linspace(0, 1, self.rho.shape[0], dtype=torch.float64)

    @property
    def mid_times(self) -> torch.Tensor:
        """The ``T`` times of ``momentum``, ``source`` and ``potential``."""
        t = self.times
        return 0.5 * (t[1:] + t[:-1])


def check_densities(rho0, rho1, grid: Grid, *, balanced: bool):
    """Validated ``(rho0, rho1)`` on the same device and floating dtype, and their masses."""
    rho0, rho1 = check_density_pair(rho0, rho1, grid)
    m0 = float(rho0.double().sum()) * grid.cell_volume
    m1 = float(rho1.double().sum()) * grid.cell_volume
    if balanced and abs(m1 - m0) > MASS_RTOL * max(m0, m1):
        raise InputError(
            f"rho0 has mass {m0:.6g} but rho1 has {m1:.6g}: "
            "the balanced solver needs equal masses; "
            f"normalise (rho1 * {m0 / m1:.6g}) or use wfr() for unbalanced transport"
        )
    return rho0, rho1, m0, m1


def check_steps(n_times, tol, max_iter, grid: Grid | None = None) -> tuple[int, float, int]:
    """``n_times >= 1``, ``0 < tol < 1``, ``max_iter >= 1``, and a space-time grid that fits."""
    T, it = check_int(n_times, "n_times", 1), check_int(max_iter, "max_iter", 1)
    try:
        tol = float(tol)
    except (TypeError, ValueError):
        raise InputError(f"tol must be a number, got {tol!r}") from None
    if grid is not None and T * math.prod(grid.shape) > MAX_SPACE_TIME_CELLS:
        raise InputError(
            f"{T} time steps x {math.prod(grid.shape):,} cells is too large a space-time grid "
            f"(limit {MAX_SPACE_TIME_CELLS:,}); use fewer steps or a coarser grid"
        )
    if not (0 < tol < 1):
        raise InputError(f"tol must be in (0, 1), got {tol!r}")
    return T, tol, it


class Units:
    """Internal units: the box's longest side is 1 and ``rho0`` has mass 1.

    ``scale(kind)`` converts a value of ``kind`` back to the user's units.
    """

    def __init__(self, grid: Grid, mass: float):
        self.L = max(h - low for low, h in zip(grid.lo, grid.hi))
        self.M = mass
        self.d = grid.dim
        self.spacing = tuple(h / self.L for h in grid.spacing)
        self.cell_volume = math.prod(self.spacing)

    @property
    def density(self) -> float:
        return self.M / self.L**self.d

    @property
    def momentum(self) -> float:
        return self.M * self.L ** (1 - self.d)
