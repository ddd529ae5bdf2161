"""lagrangian_ot: particle (Lagrangian) optimal transport in PyTorch.

Point clouds are matched by exact (certified) or Sinkhorn plans, McCann
characteristics ``Z_t = (1 - t) X + t Y`` are advanced in batch, and kernel
smoothing turns particles into Eulerian density and velocity fields.

>>> import lagrangian_ot as lot
>>> x = lot.load_silhouette("cat", 300)
>>> y = lot.load_silhouette("disks", 300)
>>> plan = lot.match(x, y)
>>> plan.is_permutation, plan.method
(True, 'exact')
"""

from __future__ import annotations

import os as _os

# In a source checkout the kernels live beside the package, in ../kernels; an
# install maps them to lagrangian_ot/kernels. Make both layouts import alike.
_here = _os.path.dirname(_os.path.abspath(__file__))
if not _os.path.isdir(_os.path.join(_here, "kernels")):
    _root = _os.path.dirname(_here)
    if _os.path.isfile(_os.path.join(_root, "kernels", "__init__.py")):
        __path__.append(_root)  # type: ignore[name-defined]  # noqa: F821

from . import plot, shapes  # noqa: E402
from ._version import __version__  # noqa: E402
from .errors import InputError  # noqa: E402
from .fields import density, density_and_momentum, momentum, velocity  # noqa: E402
from .grid import Grid  # noqa: E402
from .interpolate import mccann  # noqa: E402
from .match import match  # noqa: E402
from .physics import continuity_residual, kinetic_action, weak_continuity  # noqa: E402
from .plan import Plan  # noqa: E402
from .silhouette import load_silhouette  # noqa: E402
from .training import OTPairs, ot_pairs, w2_loss  # noqa: E402

__all__ = [
    "__version__",
    "Grid",
    "OTPairs",
    "InputError",
    "Plan",
    "density",
    "continuity_residual",
    "density_and_momentum",
    "kinetic_action",
    "load_silhouette",
    "match",
    "mccann",
    "momentum",
    "ot_pairs",
    "plot",
    "shapes",
    "velocity",
    "w2_loss",
    "weak_continuity",
]
