"""Compute kernels of lagrangian_ot: the only place that knows about backends.

Installed as :mod:`lagrangian_ot.kernels`. Each reduction has a blocked torch
implementation (exact, any device) and a KeOps implementation (mainly for
CUDA); ``backend="auto"`` picks the blocked torch code on every device (see
``backend.resolve_backend`` for why KeOps is opt-in), and on grids FFT
convolution once the exact sums would be expensive. ``BACKENDS`` lists the
names a caller may pass.

- :mod:`.gaussian`: Gaussian sums ``sum_k w_k G_sigma(q - z_k)`` at query
  points or on tensor-product grids (separable, exact).
- :mod:`.reductions`: the reductions the matching needs, ``min_j (|x_i - y_j|^2 - g_j)``
  with its argmin, and the ``k`` smallest values per row.
- :mod:`.native`: the sparse min-cost transportation solvers (network simplex;
  successive shortest paths for assignment problems) and farthest-point
  sampling (C, loaded with ctypes).
- :mod:`.threads`: how many CPU threads a computation gets (one for small work,
  the pool only where it pays; ``fit_threads`` wraps the solvers' entry points).
"""

from .backend import BACKENDS, available_backends, resolve_backend
from .gaussian import gaussian_sum, gaussian_sum_grid
from .native import farthest_points, network_simplex, ssp_transport
from .reductions import cmin, ctopk, sqdist

__all__ = [
    "BACKENDS",
    "available_backends",
    "cmin",
    "ctopk",
    "farthest_points",
    "gaussian_sum",
    "gaussian_sum_grid",
    "resolve_backend",
    "sqdist",
    "network_simplex",
    "ssp_transport",
]
