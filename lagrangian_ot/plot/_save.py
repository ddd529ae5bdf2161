"""Saving figures atomically in the shared style."""

from __future__ import annotations

import os

from .._io import atomic_path
from ..errors import InputError
from ._style import STYLE

FORMATS = (".png", ".pdf", ".svg")


def save(fig, path: str | os.PathLike) -> None:
    """Save ``fig`` to ``path`` (format from the suffix); no partial file on failure."""
    import matplotlib

    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot save a figure as {suffix or 'a file without suffix'}; use {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise InputError(f"cannot save {os.fspath(path)!r}: the folder {folder!r} does not exist")
    with matplotlib.rc_context(STYLE), atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix[1:])
