"""The shared look of the figures: colours, sizes, axes without decoration."""

from __future__ import annotations

import math

import numpy as np
import torch

from .._geometry import default_sigma  # noqa: F401  (the figures' default, re-exported)
from ..grid import Grid

SOURCE_RGB = np.array([0.80, 0.13, 0.15])  # t = 0: red
TARGET_RGB = np.array([0.12, 0.30, 0.72])  # t = 1: blue
ARROW_COLOR = "#1a1a1a"
HALO_SIGMAS = 2.7  # crops extend this many bandwidths beyond the particles
MAX_SIDE = 4096  # pixels along the longest side of an animation or panel frame
STYLE = {
    "font.size": 9,
    "axes.titlesize": 9,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
    "pdf.fonttype": 42,
}


def time_color(t: float) -> np.ndarray:
    """RGB of time ``t``: red at 0 to blue at 1, linearly."""
    t = min(max(float(t), 0.0), 1.0)
    return (1 - t) * SOURCE_RGB + t * TARGET_RGB


def arrow_rgb() -> np.ndarray:
    """RGB of the arrows, in [0, 1]."""
    from PIL import ImageColor

    return np.array(ImageColor.getrgb(ARROW_COLOR)) / 255


def default_resolution(extent: float, sigma: float) -> int:
    """Cells along the longest side: at least three per bandwidth, between 120 and 640."""
    return int(min(640, max(120, math.ceil(3 * extent / sigma))))


def density_alpha(rho: np.ndarray, gamma: float = 0.8, peak: float | None = None) -> np.ndarray:
    """Opacity of a density in the figures: rising to 1 at 85% of its peak (same shape as ``rho``).

    ``peak`` (default ``rho.max()``): one shared by several frames puts them on one
    scale, so that mass that fades or grows shows as it is.
    """
    peak = float(rho.max()) if peak is None else float(peak)
    return np.clip(rho / (0.85 * peak), 0, 1) ** gamma if peak > 0 else np.zeros_like(rho)


def rgba_image(
    rho: np.ndarray, rgb: np.ndarray, gamma: float = 0.8, peak: float | None = None
) -> np.ndarray:
    """A density as a colour image: constant colour, opacity rising with the density
    (:func:`density_alpha`).

    ``rho (H, W)`` indexed ``[x, y]`` -> ``(W, H, 4)`` ready for ``imshow(origin="lower")``.
    """
    alpha = density_alpha(rho, gamma, peak)
    img = np.empty((*rho.T.shape, 4))
    img[..., :3] = rgb
    img[..., 3] = alpha.T
    return img


def canvas_box(points: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lo, hi)`` of a frame around ``points (K, d)``: the kernel's halo and a 3% margin."""
    pts = points.detach().double().cpu()
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = HALO_SIGMAS * sigma + 0.03 * float((hi - lo).max())
    return lo - pad, hi + pad


def frame_grid(points: torch.Tensor, sigma: float, width: int):
    """The pixel grid of a frame around ``points (K, 2)`` (:func:`canvas_box`): ``width`` pixels
    wide, the height by the aspect, both even (video codecs want that) and the longer side at
    most :data:`MAX_SIDE` pixels."""
    lo, hi = canvas_box(points, sigma)
    span = (hi - lo).tolist()
    width = width - width % 2
    height = width * span[1] / span[0]
    if height > MAX_SIDE:  # tall paths: the longest side is MAX_SIDE pixels
        width, height = max(2, int(width * MAX_SIDE / height)) // 2 * 2, MAX_SIDE
    return Grid(lo.tolist(), hi.tolist(), (width, max(2, int(round(height / 2)) * 2)))


def bare(ax) -> None:
    """Equal aspect, no ticks, no frame."""
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
