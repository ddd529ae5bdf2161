"""Pictures as densities on a grid, for the Eulerian solvers."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .errors import InputError, check_int
from .grid import Grid
from .silhouette import silhouette_mask


def image_density(
    path_or_name, n: int, *, floor: float = 1e-3, dtype=torch.float64
) -> tuple[torch.Tensor, Grid]:
    """The silhouette of a picture (file or built-in shape) as a density of mass 1 on ``n x n``
    cells.

    The picture is fitted into the unit square (aspect kept, centred); each cell's
    value is the fraction of it covered by the silhouette, plus ``floor`` times the
    mean (a thin background that keeps the dynamic solvers well conditioned).

    Returns
    -------
    (Tensor ``(n, n)`` indexed ``[x, y]``, Grid on ``[0, 1]^2``)

    Examples
    --------
    >>> rho, grid = image_density("disks", 32)
    >>> rho.shape, round(float(rho.sum()) * grid.cell_volume, 6)
    (torch.Size([32, 32]), 1.0)
    """
    n = check_int(n, "grid size (cells per side)", 4, 1024)
    if not (0 <= floor < 1):
        raise InputError(f"floor must be in [0, 1), got {floor}")
    mask = silhouette_mask(path_or_name).astype(np.float32)
    h, w = mask.shape
    side = max(h, w)
    square = np.zeros((side, side), dtype=np.float32)
    square[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = mask
    small = np.asarray(
        Image.fromarray(square).resize((n, n), Image.Resampling.BOX), dtype=np.float64
    )
    cover = np.flipud(small).T.copy()  # rows top-down -> [x, y] with y up
    cover = cover / cover.mean()
    rho = torch.as_tensor(cover + floor, dtype=dtype)
    grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
    return rho / (rho.sum() * grid.cell_volume), grid
