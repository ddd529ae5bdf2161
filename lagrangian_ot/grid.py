"""Regular grids of cell centres."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import InputError, all_finite, check_int

MAX_CELLS = 1 << 27  # refuse grids beyond ~134 M cells


@dataclass(frozen=True)
class Grid:
    """A box ``[lo, hi]`` cut into ``shape`` equal cells; values live at cell centres.

    A density on the grid has mass ``values.sum() * grid.cell_volume``.

    Examples
    --------
    >>> g = Grid((0.0, 0.0), (1.0, 2.0), (4, 8))
    >>> g.spacing, g.cell_volume
    ((0.25, 0.25), 0.0625)
    >>> g.points().shape
    torch.Size([32, 2])
    """

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    shape: tuple[int, ...]

    def __post_init__(self):
        lo = tuple(float(v) for v in self.lo)
        hi = tuple(float(v) for v in self.hi)
        shape = tuple(int(v) for v in self.shape)
        if not (len(lo) == len(hi) == len(shape)) or not shape:
            raise InputError(
                f"lo, hi and shape must have the same length >= 1, got {lo}, {hi}, {shape}"
            )
        if any(not (h > low) for low, h in zip(lo, hi)) or not all(map(math.isfinite, lo + hi)):
            raise InputError(f"grid needs finite lo < hi on every axis, got lo={lo}, hi={hi}")
        if any(s < 1 for s in shape):
            raise InputError(f"grid shape must be positive, got {shape}")
        if math.prod(shape) > MAX_CELLS:
            raise InputError(
                f"grid of {math.prod(shape):,} cells is too large (limit {MAX_CELLS:,})"
            )
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "shape", shape)

    @property
    def dim(self) -> int:
        """Number of axes."""
        return len(self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        """Cell size along each axis."""
        return tuple((h - low) / s for low, h, s in zip(self.lo, self.hi, self.shape))

    @property
    def cell_volume(self) -> float:
        """Volume (area, length) of one cell."""
        return math.prod(self.spacing)

    @property
    def axes(self) -> list[torch.Tensor]:
        """Cell-centre coordinates along each axis (float64 tensors)."""
        return [
            low + (torch.arange(s, dtype=torch.float64) + 0.5) * h
            for low, s, h in zip(self.lo, self.shape, self.spacing)
        ]

    @property
    def extent(self) -> tuple[float, ...]:
        """``(lo_0, hi_0, lo_1, hi_1, ...)``, for example for ``imshow``."""
        return tuple(v for pair in zip(self.lo, self.hi) for v in pair)

    def imshow_args(self, values) -> dict:
        """Keyword arguments that draw ``values`` of a 2-D grid the right way up with matplotlib.

        Grid values are indexed ``[x, y]`` (x first, like :meth:`points`), while
        ``imshow`` takes rows of y from the top: ``plt.imshow(rho)`` would show the
        picture transposed. This gives the transposed array, ``origin="lower"`` and
        the grid's ``extent``, so that axes are in the grid's coordinates.

        Examples
        --------
        >>> import matplotlib.pyplot as plt  # doctest: +SKIP
        >>> rho, grid = lagrangian_ot.raster.image_density("cat", 64)  # doctest: +SKIP
        >>> plt.imshow(**grid.imshow_args(rho), cmap="magma")  # doctest: +SKIP
        >>> small = Grid((0.0, 0.0), (2.0, 1.0), (2, 1))
        >>> small.imshow_args(torch.tensor([[1.0], [2.0]]))["X"].tolist()
        [[1.0, 2.0]]
        """
        if self.dim != 2:
            raise InputError(f"imshow_args draws 2-D grids, this one has {self.dim} axes")
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        if tuple(values.shape) != self.shape:
            raise InputError(
                f"values have shape {tuple(values.shape)} but the grid is {self.shape}"
            )
        return {"X": values.T, "origin": "lower", "extent": self.extent}

    def points(self) -> torch.Tensor:
        """All cell centres, ``(prod(shape), d)`` in C order (last axis fastest)."""
        mesh = torch.meshgrid(*self.axes, indexing="ij")
        return torch.stack([m.reshape(-1) for m in mesh], dim=-1)

    @classmethod
    def around(cls, points: torch.Tensor, resolution: int = 128, pad: float = 0.0) -> Grid:
        """The bounding box of ``points (..., d)`` grown by ``pad``, with square cells.

        ``resolution`` cells along the longest side.
        """
        if points.numel() == 0:
            raise InputError("Grid.around needs at least one point")
        if not all_finite(points):
            raise InputError("Grid.around: points contain NaN or infinite values")
        resolution = check_int(resolution, "resolution", 1)
        p = points.detach().reshape(-1, points.shape[-1]).double().cpu()
        lo = p.min(0).values - pad
        hi = p.max(0).values + pad
        side = float((hi - lo).max())
        side = side if side > 0 else 1.0
        h = side / int(resolution)
        shape = [max(1, math.ceil(float(w) / h - 1e-9)) for w in (hi - lo)]
        centre = (lo + hi) / 2
        half = torch.tensor(shape, dtype=torch.float64) * h / 2
        return cls(tuple((centre - half).tolist()), tuple((centre + half).tolist()), tuple(shape))


def check_density(rho, grid: Grid, name: str = "rho") -> torch.Tensor:
    """One nonnegative, finite, not-all-zero float32/float64 density of ``grid.shape``."""
    if not isinstance(grid, Grid):
        raise InputError(f"the grid of {name} must be a Grid, got {type(grid).__name__}")
    if not isinstance(rho, torch.Tensor) or rho.dtype not in (torch.float32, torch.float64):
        got = rho.dtype if isinstance(rho, torch.Tensor) else type(rho).__name__
        raise InputError(f"{name} must be a float32 or float64 torch.Tensor, got {got}")
    if tuple(rho.shape) != tuple(grid.shape):
        raise InputError(f"{name} has shape {tuple(rho.shape)} but the grid is {tuple(grid.shape)}")
    if not all_finite(rho):
        raise InputError(f"{name} contains NaN or infinite values")
    if bool((rho < 0).any()):
        raise InputError(f"{name} has negative values: densities must be nonnegative")
    if not bool((rho > 0).any()):
        raise InputError(f"{name} is zero everywhere")
    return rho


def check_density_pair(rho0, rho1, grid: Grid, names: tuple[str, str] = ("rho0", "rho1")):
    """Two nonnegative, finite, not-all-zero float32/float64 densities of ``grid.shape`` on one
    device.

    Returns them with the second cast to the first's dtype.
    """
    for name, rho in zip(names, (rho0, rho1)):
        check_density(rho, grid, name)
    if rho0.device != rho1.device:
        raise InputError(f"{names[0]} is on {rho0.device} but {names[1]} is on {rho1.device}")
    return rho0, rho1.to(rho0.dtype)
