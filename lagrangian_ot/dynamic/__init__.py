"""Eulerian dynamic solvers on grids: the convex side of the toolkit.

- :func:`benamou_brenier`: W2 (and ``W_p``, concave mobilities) geodesics by proximal
  splitting on a staggered space-time grid.
- :func:`wfr`: Wasserstein-Fisher-Rao geodesics (transport with creation and destruction of mass).
- :func:`least_action_velocity`: the minimal-energy velocity (and growth rate) of a
  prescribed density path; :func:`dacorogna_moser_velocity` for comparison.
- :func:`markov_distance`: the transport distance on a reversible Markov chain (it uses no
  grid and lives in :mod:`lagrangian_ot.markov`; re-exported here).

Densities are given at the cell centres of a :class:`~lagrangian_ot.Grid`;
every solver runs on the device and in the dtype of its inputs.
"""

from ..markov import MarkovGeodesic, markov_distance
from ._problem import DynamicResult
from .benamou_brenier import benamou_brenier
from .velocity import VelocityField, dacorogna_moser_velocity, least_action_velocity
from .wfr import wfr

__all__ = [
    "DynamicResult",
    "MarkovGeodesic",
    "VelocityField",
    "benamou_brenier",
    "dacorogna_moser_velocity",
    "least_action_velocity",
    "markov_distance",
    "wfr",
]
