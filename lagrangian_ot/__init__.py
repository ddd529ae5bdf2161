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
        __path__.append(_root)  # type: ignore[name-defined]

from . import dynamic, plot, shapes
from ._version import __version__
from .errors import InputError
from .fields import density, density_and_momentum, momentum, velocity
from .grid import Grid
from .hk import HKPlan, hk_action, hk_interpolate, hk_plan
from .images import image_geodesic, image_histogram, match_histograms
from .interpolate import mccann
from .match import match
from .physics import continuity_residual, kinetic_action, weak_continuity
from .plan import Plan
from .silhouette import load_silhouette
from .training import OTPairs, ot_pairs, w2_loss

__all__ = [
    "Grid",
    "HKPlan",
    "InputError",
    "OTPairs",
    "Plan",
    "__version__",
    "continuity_residual",
    "density",
    "density_and_momentum",
    "dynamic",
    "hk_action",
    "hk_interpolate",
    "hk_plan",
    "image_geodesic",
    "image_histogram",
    "kinetic_action",
    "load_silhouette",
    "match",
    "match_histograms",
    "mccann",
    "momentum",
    "ot_pairs",
    "plot",
    "shapes",
    "velocity",
    "w2_loss",
    "weak_continuity",
]
