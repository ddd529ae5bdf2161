"""The built-in example problems that ``lagot`` draws without input: a pair of 1-D Gaussian
mixtures on [-3, 3] (a tall bump at the left and its mirror image) and the cat and the two
disks as clouds with unequal masses."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .errors import InputError, check_int
from .grid import Grid
from .unbalanced import SEED_ALPHA, SEED_BETA, SEED_GRID, gaussian_mixture

__all__ = ["SEED_ALPHA", "SEED_BETA", "SEED_GRID", "mixture_pair", "wfr_clouds"]

Mixture = Sequence[tuple[float, float, float]]


def mixture_pair(
    alpha: Mixture = SEED_ALPHA, beta: Mixture = SEED_BETA, grid: Grid = SEED_GRID
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian mixtures (components ``(weight, mean, std)``) on a 1-D ``grid``, each
    scaled to unit mass (``rho.sum() * grid.cell_volume = 1``), float64.

    Examples
    --------
    >>> a, b = mixture_pair()
    >>> round(float(a.sum()) * SEED_GRID.cell_volume, 12), a.shape
    (1.0, torch.Size([260]))
    """
    out = []
    for name, mix in (("alpha", alpha), ("beta", beta)):
        rho = gaussian_mixture(grid.axes[0], mix)
        if not float(rho.sum()) > 0:
            span = f"[{grid.lo[0]:g}, {grid.hi[0]:g}]"
            raise InputError(f"{name} puts no mass on the grid {span}; move its means inside")
        out.append(rho / (rho.sum() * grid.cell_volume))
    return out[0], out[1]


def wfr_clouds(n: int, *, shift: float = 1.6, target_mass: float = 1.5):
    """The cat (``n`` points, mass 1, centred) and the two disks (``n`` points, mass
    ``target_mass``, moved by ``shift`` along x): ``x, y, b`` in float64 (``a`` uniform)."""
    from .silhouette import load_silhouette

    n = check_int(n, "n", 2)
    x = load_silhouette("cat", n).double()
    y = load_silhouette("disks", n).double() + torch.tensor([shift, 0.0], dtype=torch.float64)
    b = torch.full((n,), target_mass / n, dtype=torch.float64)
    return x, y, b
