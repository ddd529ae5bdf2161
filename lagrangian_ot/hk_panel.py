"""Deprecated location of the unbalanced panel: :mod:`lagrangian_ot.panel` serves balanced and
unbalanced plans alike. The names below keep working; each use warns where it moved."""

import warnings

from . import panel as _panel

_MOVED = {
    "unbalanced_frames": "unbalanced_frames",
    "write_unbalanced_panel": "write_unbalanced_panel",
    "MAX_FRAMES": "MAX_UNBALANCED_FRAMES",
}

__all__ = sorted(_MOVED)


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    new = _MOVED[name]
    warnings.warn(
        f"lagrangian_ot.hk_panel.{name} is deprecated: use lagrangian_ot.panel.{new}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_panel, new)


def __dir__():
    return sorted([*globals(), *_MOVED])
