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
        raise InputError(
            f"cannot save a figure as {suffix or 'a file without suffix'}; use {', '.join(FORMATS)}"
        )
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise InputError(f"cannot save {os.fspath(path)!r}: the folder {folder!r} does not exist")
    with matplotlib.rc_context(STYLE), atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix[1:])


def join_side_by_side(
    left: str | os.PathLike, right: str | os.PathLike, target: str | os.PathLike
) -> None:
    """Two PNG files as one, scaled to the same height (no second rendering)."""
    from PIL import Image

    with Image.open(left) as a, Image.open(right) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        h = min(a.height, b.height)
        a = a.resize((round(a.width * h / a.height), h), Image.Resampling.LANCZOS)
        b = b.resize((round(b.width * h / b.height), h), Image.Resampling.LANCZOS)
        gap = h // 12
        both = Image.new("RGB", (a.width + gap + b.width, h), "white")
        both.paste(a, (0, 0))
        both.paste(b, (a.width + gap, 0))
    with atomic_path(target) as tmp:
        both.save(tmp, format="PNG")
