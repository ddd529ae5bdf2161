"""Pictures and histograms on a grid as densities: exact plans between pixel centres.

A greyscale picture is a histogram on a :class:`Grid`: each pixel centre carries
its grey level as mass (dark ink by default, or brightness). Two histograms are
matched exactly (certified, :func:`lagrangian_ot.match`), with pixels of zero
mass left out of the solve; the plan lives on *all* pixel centres of each grid,
so ``plan.src`` and ``plan.dst`` are flat (C-order) cell indices of the grids.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from ._geometry import default_sigma
from .errors import InputError, check_int
from .geodesic import SEPARATION, Geodesic
from .grid import Grid, check_density
from .match import match
from .plan import Plan
from .silhouette import _open

MASS = ("dark", "bright")


def match_histograms(
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    grid0: Grid,
    grid1: Grid | None = None,
    *,
    backend: str = "auto",
) -> Plan:
    """Exact optimal plan between two histograms on grids, on the pixel centres.

    Parameters
    ----------
    rho0, rho1 : Tensor
        Nonnegative values of ``grid0.shape`` and ``grid1.shape`` (densities or
        counts: each is normalised to mass 1, so only the proportions matter).
    grid0, grid1 : Grid
        Where the values live; ``grid1`` defaults to ``grid0``. The grids may
        differ in box and shape, not in dimension.
    backend : {"auto", "torch", "keops"}
        Backend of the all-pairs checks of the certificate.

    Returns
    -------
    Plan
        ``plan.x = grid0.points()``, ``plan.y = grid1.points()`` (all cell centres),
        ``plan.src`` / ``plan.dst`` flat C-order cell indices, ``plan.mass``
        summing to 1, ``plan.cost`` the squared 2-Wasserstein distance and
        ``plan.gap`` its certificate. Cells without mass appear in no pair.

    Examples
    --------
    >>> import torch
    >>> g = Grid((0.0,), (1.0,), (4,))
    >>> plan = match_histograms(torch.tensor([1.0, 0, 0, 1]), torch.tensor([0, 1.0, 1, 0]), g)
    >>> plan.src.tolist(), plan.dst.tolist(), round(float(plan.cost), 6)
    ([0, 3], [1, 2], 0.0625)
    """
    grid1 = grid0 if grid1 is None else grid1
    rho0 = check_density(rho0, grid0, "rho0")
    rho1 = check_density(rho1, grid1, "rho1")
    if grid0.dim != grid1.dim:
        raise InputError(f"the grids have dimensions {grid0.dim} and {grid1.dim}")
    if rho0.device != rho1.device:
        raise InputError(f"rho0 is on {rho0.device} but rho1 is on {rho1.device}")
    w0 = rho0.detach().reshape(-1)
    w1 = rho1.detach().reshape(-1)
    x = grid0.points().to(device=rho0.device, dtype=rho0.dtype)
    y = grid1.points().to(device=rho0.device, dtype=rho0.dtype)
    # empty cells: in no pair
    return match(x, y, w0 / w0.sum(), w1 / w1.sum(), method="exact", backend=backend)


def image_histogram(
    path_or_name,
    pixels: int = 4096,
    *,
    mass: str = "dark",
    centre: Sequence[float] = (0.0, 0.0),
    size: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, Grid]:
    """A greyscale picture (file or built-in shape) as a histogram of about ``pixels`` cells.

    The picture is resampled (box filter, aspect kept) to about ``pixels`` square
    cells; its longest side spans ``size``, centred at ``centre``. Each cell's
    mass is its darkness (``mass="dark"``: black 1, white 0, as ink on paper)
    or its brightness (``mass="bright"``); the values sum to 1.

    Returns
    -------
    (Tensor ``(nx, ny)`` indexed ``[x, y]`` with ``y`` up, Grid)

    Examples
    --------
    >>> rho, grid = image_histogram("disks", 1024)
    >>> grid.shape, round(float(rho.sum()), 6)
    ((32, 32), 1.0)
    """
    pixels = check_int(pixels, "pixels", 4, 1 << 22)
    if mass not in MASS:
        raise InputError(f"mass must be one of {', '.join(MASS)}, got {mass!r}")
    if not (isinstance(size, (int, float)) and math.isfinite(size) and size > 0):
        raise InputError(f"size must be a finite number > 0, got {size!r}")
    gray = _open(path_or_name)  # (rows, cols) in [0, 1], 1 white
    h, w = gray.shape
    scale = math.sqrt(pixels / (h * w))
    ny, nx = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(
        Image.fromarray(gray.astype(np.float32)).resize((nx, ny), Image.Resampling.BOX),
        dtype=np.float64,
    )
    values = np.clip(1.0 - small if mass == "dark" else small, 0.0, None)
    values = np.flipud(values).T.copy()  # rows top-down -> [x, y] with y up
    if not values.sum() > 0:
        where = "white" if mass == "dark" else "black"
        raise InputError(f"{os.fspath(path_or_name)!r} is {where} everywhere: no mass to transport")
    step = float(size) / max(nx, ny)
    cx, cy = (float(c) for c in centre)
    grid = Grid(
        (cx - nx * step / 2, cy - ny * step / 2), (cx + nx * step / 2, cy + ny * step / 2), (nx, ny)
    )
    return torch.as_tensor(values / values.sum(), dtype=dtype), grid


def image_geodesic(
    source, target, pixels: int = 4096, *, mass: str = "dark",
    times: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), sigma: float | None = None,
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64,
) -> Geodesic:  # fmt: skip
    """Two pictures as densities, side by side, and the exact plan between their pixels.

    The displacement interpolation between greyscale pictures (grey levels as
    mass): the same layout and :class:`~lagrangian_ot.geodesic.Geodesic` as the
    silhouette path, each picture's longest side 2 (the silhouettes' diameter).
    """
    half = SEPARATION / 2
    rho0, grid0 = image_histogram(
        source, pixels, mass=mass, centre=(-half, 0.0), size=2.0, dtype=dtype
    )
    rho1, grid1 = image_histogram(
        target, pixels, mass=mass, centre=(half, 0.0), size=2.0, dtype=dtype
    )
    plan = match_histograms(rho0.to(device), rho1.to(device), grid0, grid1)
    sig = float(sigma) if sigma is not None else default_sigma(plan.x)
    return Geodesic(plan, tuple(float(t) for t in times), sig, os.fspath(source), os.fspath(target))
