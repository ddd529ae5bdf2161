"""Eulerian dynamic solvers on grids: the convex side of the toolkit.

- :func:`benamou_brenier`: W2 (and ``W_p``, concave mobilities) geodesics by proximal
  splitting on a staggered space-time grid.
- :func:`wfr`: Wasserstein-Fisher-Rao geodesics (transport with creation and destruction of mass).

Densities are given at the cell centres of a :class:`~lagrangian_ot.Grid`;
every solver runs on the device and in the dtype of its inputs.
"""

from ._problem import DynamicResult
from .benamou_brenier import benamou_brenier
from .wfr import wfr

__all__ = ["DynamicResult", "benamou_brenier", "wfr"]
