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

import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

if _TYPE_CHECKING:  # what the names are, for type checkers and editors
    from . import dynamic, plot, shapes
    from ._entropic import entropic_value
    from .errors import InputError
    from .fields import density, density_and_momentum, momentum, velocity
    from .grid import Grid
    from .hk import HKPlan, hk_action, hk_interpolate, hk_plan
    from .images import image_geodesic, image_histogram, match_histograms
    from .interpolate import mccann
    from .match import match
    from .physics import continuity_residual, kinetic_action, weak_continuity
    from .plan import Plan
    from .result import Result
    from .silhouette import load_silhouette
    from .training import OTPairs, ot_pairs, w2_loss

# Public names and the modules that define them. They are imported on first use, so that
# ``lagot --version`` and ``--help`` answer without importing torch (about 1 s).
_EXPORTS = {
    "dynamic": ".dynamic", "plot": ".plot", "shapes": ".shapes",
    "InputError": ".errors",
    "entropic_value": "._entropic",
    "density": ".fields", "density_and_momentum": ".fields", "momentum": ".fields",
    "velocity": ".fields",
    "Grid": ".grid",
    "HKPlan": ".hk", "hk_action": ".hk", "hk_interpolate": ".hk", "hk_plan": ".hk",
    "image_geodesic": ".images", "image_histogram": ".images", "match_histograms": ".images",
    "mccann": ".interpolate",
    "match": ".match",
    "continuity_residual": ".physics", "kinetic_action": ".physics", "weak_continuity": ".physics",
    "Plan": ".plan",
    "Result": ".result",
    "load_silhouette": ".silhouette",
    "OTPairs": ".training", "ot_pairs": ".training", "w2_loss": ".training",
}  # fmt: skip


_MODULES = ("dynamic", "plot", "shapes")


def _export(name: str):
    module = _importlib.import_module(_EXPORTS[name], __name__)
    return module if name in _MODULES else getattr(module, name)


class _Package(_types.ModuleType):
    """The package: public names load on first use; a submodule never hides the function of its name
    (``import lagrangian_ot.match`` leaves ``lagrangian_ot.match`` the function, as it always
    was)."""

    def __getattr__(self, name: str):
        if name not in _EXPORTS:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = _export(name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and name not in _MODULES and isinstance(value, _types.ModuleType):
            value = getattr(value, name)  # the submodule ``match`` carries the function ``match``
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(_EXPORTS))


_sys.modules[__name__].__class__ = _Package

__all__ = [
    "Grid",
    "HKPlan",
    "InputError",
    "OTPairs",
    "Plan",
    "Result",
    "__version__",
    "continuity_residual",
    "density",
    "density_and_momentum",
    "dynamic",
    "entropic_value",
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
