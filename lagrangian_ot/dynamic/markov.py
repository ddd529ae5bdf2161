"""Deprecated location of the Markov-chain transport distance: it uses no grid and moved to
:mod:`lagrangian_ot.markov`. Importing this module warns; its names keep working."""

import warnings

from ..markov import FLOOR, MarkovGeodesic, log_mean, markov_distance

__all__ = ["FLOOR", "MarkovGeodesic", "log_mean", "markov_distance"]

warnings.warn(
    "lagrangian_ot.dynamic.markov is deprecated: import markov_distance and MarkovGeodesic from "
    "lagrangian_ot.markov (or lagrangian_ot.dynamic)",
    DeprecationWarning,
    stacklevel=2,
)
