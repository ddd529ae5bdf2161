"""Figures (matplotlib is imported only when a figure is drawn).

Single-panel functions take ``ax=None`` (a new figure when None); every
function returns the figure; save it with :func:`save` (PNG, PDF or SVG by
file name).
"""

from ._eulerian import duality_figure, grid_sequence
from ._geodesic import (
    arrow_segments,
    density_sequence,
    geodesic_figure,
    midpoint_arrows,
)
from ._paths import plan_lines, trajectories, velocity_field
from ._save import join_side_by_side, save
from ._style import default_sigma, time_color
from ._unbalanced import barycenter_rows, fading_rows

__all__ = [
    "arrow_segments",
    "barycenter_rows",
    "default_sigma",
    "density_sequence",
    "duality_figure",
    "fading_rows",
    "geodesic_figure",
    "grid_sequence",
    "join_side_by_side",
    "midpoint_arrows",
    "plan_lines",
    "save",
    "time_color",
    "trajectories",
    "velocity_field",
]
