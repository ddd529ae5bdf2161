"""Built-in silhouettes, drawn by code: a sitting cat and two disks.

Each shape is a black silhouette on a white square image, drawn with Pillow at
four times the requested size and downsampled, so edges are smooth.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image, ImageDraw

from .errors import InputError

Painter = Callable[[ImageDraw.ImageDraw, float], None]


def _ellipse(
    draw: ImageDraw.ImageDraw, s: float, cx: float, cy: float, rx: float, ry: float
) -> None:
    draw.ellipse([(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s], fill=0)


def _cat(draw: ImageDraw.ImageDraw, s: float) -> None:
    """A sitting cat seen from the front, tail curling up on its right (unit square, y down)."""
    _ellipse(draw, s, 0.47, 0.68, 0.19, 0.23)  # body
    _ellipse(draw, s, 0.47, 0.49, 0.14, 0.12)  # chest and neck
    _ellipse(draw, s, 0.47, 0.32, 0.135, 0.12)  # head
    # left ear
    draw.polygon([(0.35 * s, 0.30 * s), (0.34 * s, 0.10 * s), (0.46 * s, 0.22 * s)], fill=0)
    # right ear
    draw.polygon([(0.59 * s, 0.30 * s), (0.60 * s, 0.10 * s), (0.48 * s, 0.22 * s)], fill=0)
    _ellipse(draw, s, 0.37, 0.90, 0.075, 0.04)  # left paw
    _ellipse(draw, s, 0.57, 0.90, 0.075, 0.04)  # right paw
    # tail: a thick quadratic curve from the back of the body up along the right side
    p0, p1, p2 = (0.60, 0.86), (0.93, 0.86), (0.84, 0.50)
    steps = 64
    for k in range(steps + 1):
        t = k / steps
        x = (1 - t) ** 2 * p0[0] + 2 * t * (1 - t) * p1[0] + t**2 * p2[0]
        y = (1 - t) ** 2 * p0[1] + 2 * t * (1 - t) * p1[1] + t**2 * p2[1]
        r = 0.045 - 0.012 * t
        _ellipse(draw, s, x, y, r, r)


def _disks(draw: ImageDraw.ImageDraw, s: float) -> None:
    """Two equal disks side by side."""
    _ellipse(draw, s, 0.27, 0.5, 0.19, 0.19)
    _ellipse(draw, s, 0.73, 0.5, 0.19, 0.19)


def _ring(draw: ImageDraw.ImageDraw, s: float) -> None:
    """An annulus."""
    _ellipse(draw, s, 0.5, 0.5, 0.40, 0.40)
    draw.ellipse([0.26 * s, 0.26 * s, 0.74 * s, 0.74 * s], fill=255)


def _star(draw: ImageDraw.ImageDraw, s: float) -> None:
    """A five-pointed star."""
    pts = []
    for k in range(10):
        r = 0.44 if k % 2 == 0 else 0.18
        a = -math.pi / 2 + k * math.pi / 5
        pts.append(((0.5 + r * math.cos(a)) * s, (0.53 + r * math.sin(a)) * s))
    draw.polygon(pts, fill=0)


_SHAPES: dict[str, Painter] = {"cat": _cat, "disks": _disks, "ring": _ring, "star": _star}


def names() -> list[str]:
    """Names of the built-in shapes."""
    return list(_SHAPES)


def render(name: str, size: int = 512) -> Image.Image:
    """The built-in shape ``name`` as a grayscale image, black on white, ``size x size``."""
    if name not in _SHAPES:
        raise InputError(f"unknown shape {name!r}; built-in shapes: {', '.join(names())}")
    big = 4 * int(size)
    img = Image.new("L", (big, big), 255)
    _SHAPES[name](ImageDraw.Draw(img), float(big))
    return img.resize((int(size), int(size)), Image.Resampling.LANCZOS)
