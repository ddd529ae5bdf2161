"""Pictures to point clouds: threshold a silhouette and sample points in it."""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import shapes
from .errors import InputError, check_int
from .kernels.native import farthest_points, poisson_disk

SAMPLINGS = ("farthest", "poisson", "random", "grid")
BUILTIN_SIZE = 512
MIN_PIXELS = 16  # a silhouette smaller than this is a speck, not a shape
# larger pictures are reduced to this many pixels on their longer side before sampling
MAX_SIDE = 1024
POINTS_PER_PIXEL = 4  # at most this many points per silhouette pixel (the grid sampling: 1)
PHOTO_MIDTONES = 0.2  # a silhouette has mid-grey pixels only along its edges; a photograph has many


def _decode(key: str) -> Image.Image:
    """One frame of a picture file, reduced to at most ``MAX_SIDE`` pixels on its longer side.

    Pictures beyond Pillow's safety limit are refused (a decompression bomb: a small file
    that decodes to gigabytes); Pillow's warnings are turned into ours, in plain words.
    """
    try:
        with warnings.catch_warnings():
            # below the limit: reduced here
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(key) as im:
                frames = getattr(im, "n_frames", 1)
                side = max(im.size)
                if im.format == "JPEG" and side > MAX_SIDE:
                    # decode at 1/2, 1/4 or 1/8
                    im.draft("L" if im.mode in ("L", "1") else "RGB", (MAX_SIDE, MAX_SIDE))
                im.load()
                img = im.copy()
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels, " if found else ""
        raise InputError(
            f"{key!r} is too large to decode safely ({size}limit {2 * Image.MAX_IMAGE_PIXELS:,}); "
            f"reduce it first: a silhouette needs no more than {MAX_SIDE} pixels a side"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"cannot read {key!r} as an image ({exc.__class__.__name__})") from None
    if frames > 1:
        warnings.warn(f"{key} has {frames} frames; using the first", UserWarning, stacklevel=4)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "L")
    factor = -(-max(img.size) // MAX_SIDE)
    if factor > 1:  # box average: a big picture costs what one of MAX_SIDE pixels does
        img = img.reduce(factor)
    return img


def _open(path_or_name) -> np.ndarray:
    """Grayscale image in [0, 1] (or an alpha mask), from a file or a built-in name.

    Files larger than ``MAX_SIDE`` pixels a side are reduced (box average) first.
    """
    key = os.fspath(path_or_name)
    if key in shapes.names() and not os.path.exists(key):
        img = shapes.render(key, BUILTIN_SIZE)
    else:
        if not os.path.exists(key):
            raise InputError(
                f"no such file or built-in shape: {key!r} "
                f"(built-in shapes: {', '.join(shapes.names())})"
            )
        if os.path.isdir(key):
            raise InputError(f"{key!r} is a directory, not an image")
        img = _decode(key)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        alpha = np.asarray(img.convert("RGBA"))[..., 3].astype(np.float64) / 255.0
        if alpha.max() - alpha.min() > 0.5:  # a transparent background: the alpha is the silhouette
            return 1.0 - alpha
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def _otsu(gray: np.ndarray) -> float:
    hist, edges = np.histogram(gray, bins=256, range=(0.0, 1.0))
    p = hist.astype(np.float64) / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    mu = np.cumsum(p * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def _warn_if_photograph(gray: np.ndarray, name) -> None:
    """Warn when many pixels are mid-greys: a silhouette has them only along its edges."""
    lo, hi = np.percentile(gray, (1, 99))
    band = 0.2 * (hi - lo)
    mid = float(((gray > lo + band) & (gray < hi - band)).mean())
    if mid > PHOTO_MIDTONES:
        warnings.warn(
            f"{name!s} does not look like a silhouette ({mid:.0%} "
            "of its pixels are mid-greys): its threshold "
            "may keep a blob. For a photograph, match its grey "
            "levels as a density (lagot interpolate --density), "
            "or set the threshold (--threshold, threshold=)",
            UserWarning,
            stacklevel=3,
        )


def silhouette_mask(path_or_name, threshold="auto") -> np.ndarray:
    """Boolean mask of the silhouette (rows top to bottom).

    The background is the class that covers most of the image border, so dark
    shapes on light backgrounds and light shapes on dark ones both work.
    """
    gray = _open(path_or_name)
    if gray.size == 0 or gray.max() - gray.min() < 1e-3:
        raise InputError(
            f"{path_or_name!s}: the image is blank (no contrast), no silhouette to find"
        )
    if threshold == "auto":
        _warn_if_photograph(gray, path_or_name)  # a threshold given is a choice made
        thr = _otsu(gray)
    else:
        try:
            thr = float(threshold)
        except (TypeError, ValueError):
            raise InputError(
                f"threshold must be 'auto' or a number in (0, 1), got {threshold!r}"
            ) from None
        if not 0 < thr < 1:
            raise InputError(f"threshold must be in (0, 1), got {thr}")
    dark = gray < thr
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    mask = ~dark if border.mean() > 0.5 else dark
    count = int(mask.sum())
    if count == 0 or count == mask.size:
        raise InputError(f"{path_or_name!s}: no silhouette found at threshold {thr:.3f}")
    return mask


def _pixels(mask: np.ndarray) -> np.ndarray:
    """Centres of the silhouette's pixels, ``(P, 2)``, x to the right and y up."""
    rows, cols = np.nonzero(mask)
    return np.stack([cols + 0.5, mask.shape[0] - (rows + 0.5)], axis=1)


def _upsample(mask: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)


def _grid_sample(mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """About ``n`` lattice points inside the mask, thinned at random to exactly ``n``."""
    H, W = mask.shape

    def lattice(h: float) -> np.ndarray:
        xs = np.arange(h / 2, W, h)
        ys = np.arange(h / 2, H, h)
        X, Y = np.meshgrid(xs, ys)
        inside = mask[Y.astype(int).clip(0, H - 1), X.astype(int).clip(0, W - 1)]
        return np.stack([X[inside], H - Y[inside]], axis=1)

    lo, hi = 1.0, float(max(H, W))
    if len(lattice(lo)) < n:
        raise InputError(
            f"n={n} is larger than the silhouette's {int(mask.sum())} pixels; use fewer points"
        )
    for _ in range(60):  # largest step with at least n lattice points
        mid = (lo + hi) / 2
        if len(lattice(mid)) >= n:
            lo = mid
        else:
            hi = mid
    pts = lattice(lo)
    return pts[np.sort(rng.choice(len(pts), n, replace=False))]


def _poisson_sample(pix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``n`` points of a maximal Poisson-disk packing of the candidates ``pix``.

    The radius is bisected to the largest one whose packing has at least ``n``
    points; the few extra points are dropped at random.
    """
    order = rng.permutation(len(pix))
    span = pix.max(0) - pix.min(0)
    lo, hi = 1e-3 * float(span.max()), 2.0 * float(np.sqrt(np.prod(span + 1) / n)) + 1.0
    best = poisson_disk(pix, order, lo).numpy()
    if len(best) < n:
        raise InputError(f"cannot place {n} points in the silhouette; use fewer points")
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        acc = poisson_disk(pix, order, mid).numpy()
        if len(acc) >= n:
            lo, best = mid, acc
            if len(acc) == n:
                break
        else:
            hi = mid
    keep = np.sort(rng.choice(len(best), n, replace=False))
    return pix[best[keep]]


def load_silhouette(
    path_or_name,
    n: int,
    *,
    sampling: str = "poisson",
    seed: int = 0,
    threshold="auto",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Sample ``n`` points in a silhouette, centred and scaled to unit radius, y up.

    Parameters
    ----------
    path_or_name : str or path
        An image file (any format Pillow reads; transparent backgrounds use the
        alpha channel; of a multi-frame file, the first frame, with a warning)
        or a built-in shape name (:func:`lagrangian_ot.shapes.names`). Pictures
        with many mid-grey pixels (photographs) give a warning: thresholding
        them rarely finds the intended shape.
    n : int
        Number of points, ``n >= 1``: at most 4 per pixel of the silhouette
        (``"grid"``: 1), checked before sampling. Pictures larger than
        ``MAX_SIDE`` (1024) pixels a side are reduced to it first (box average),
        so a 6000 x 6000 picture costs what a 1000 x 1000 one does.
    sampling : {"farthest", "poisson", "random", "grid"}
        ``"farthest"``: farthest-point sampling of the pixel centres, with a tiny
        jitter (evenly spread, the book's choice; at large n its unfinished last
        sweep leaves regions at two densities); ``"poisson"``: a maximal
        Poisson-disk packing with the radius that gives n points (evenly spread,
        one density everywhere, fast); ``"random"``: uniform in the
        silhouette; ``"grid"``: a regular lattice with about ``n`` points inside,
        thinned at random to exactly ``n`` (n may not exceed the pixel count).
    seed : int
        Seed of the random choices (start point, jitter, thinning).
    threshold : "auto" or float
        Gray level in (0, 1) separating shape from background; ``"auto"`` is
        Otsu's threshold. Dark-on-light or light-on-dark is detected from the border.

    Returns
    -------
    Tensor ``(n, 2)``: centroid at the origin, farthest point at distance 1.

    Examples
    --------
    >>> pts = load_silhouette("disks", 100)
    >>> pts.shape, round(float(pts.norm(dim=1).max()), 6)
    (torch.Size([100, 2]), 1.0)
    """
    if sampling not in SAMPLINGS:
        raise InputError(f"unknown sampling {sampling!r}; expected one of {', '.join(SAMPLINGS)}")
    n, seed = check_int(n, "n", 1), check_int(seed, "seed", 0)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputError(f"dtype must be a floating torch dtype, got {dtype!r}")
    mask = silhouette_mask(path_or_name, threshold)
    pixels = int(mask.sum())
    if pixels < MIN_PIXELS:
        raise InputError(
            f"{path_or_name!s}: the silhouette has only {pixels} pixels; draw it larger"
        )
    per_pixel = 1 if sampling == "grid" else POINTS_PER_PIXEL
    if n > per_pixel * pixels:
        raise InputError(
            f"n={n} is larger than the silhouette of {path_or_name!s} "
            f"can give: at most {per_pixel * pixels:,} points "
            f"({per_pixel} per pixel of its {pixels:,} "
            f"pixels at {mask.shape[1]} x {mask.shape[0]}); "
            "use fewer points or a larger picture"
        )
    rng = np.random.default_rng(seed)
    if sampling == "grid":
        pts = _grid_sample(mask, n, rng)
    elif sampling == "poisson":
        factor = max(1, math.ceil(math.sqrt(4 * n / mask.sum())))
        pix = _pixels(_upsample(mask, factor) if factor > 1 else mask)
        pix = (pix + rng.uniform(-0.5, 0.5, pix.shape)) / factor
        pts = _poisson_sample(pix, n, rng)
    elif sampling == "random":
        pix = _pixels(mask)
        pts = pix[rng.integers(0, len(pix), n)] + rng.uniform(-0.5, 0.5, (n, 2))
    else:
        factor = max(1, math.ceil(math.sqrt(2 * n / mask.sum())))
        pix = _pixels(_upsample(mask, factor) if factor > 1 else mask) / factor
        order = farthest_points(pix, n, start=int(rng.integers(len(pix)))).numpy()
        pts = pix[order] + rng.uniform(-0.05, 0.05, (n, 2)) / factor
    pts = torch.from_numpy(np.ascontiguousarray(pts, dtype=np.float64))
    pts = pts - pts.mean(0)
    radius = float(pts.norm(dim=1).max())
    pts = pts / (radius if radius > 0 else 1.0)
    return pts.to(dtype)
