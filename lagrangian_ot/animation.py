"""Animations of the McCann interpolation: a GIF (Pillow) and an MP4 (ffmpeg).

Frames are rendered one at a time on a fixed canvas that covers the whole
path (no matplotlib per frame: the density is coloured with NumPy, the arrows
drawn with Pillow) and written as soon as they are made, so memory stays that
of one frame however long the animation. The look is the still figures':
white background, colour from red (t = 0) to blue (t = 1), opacity rising with
the density. An :class:`~lagrangian_ot.HKPlan` animates alike: its particles
travel and change mass along the WFR geodesic, on one opacity scale for all
frames, so that mass that fades or grows shows as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import numpy as np
import torch

from . import _particles
from ._io import atomic_path
from .errors import InputError, check_int
from .fields import density
from .hk import HKPlan
from .plan import Plan
from .plot import _style

ARROW_INDEX = 255  # palette entry of the arrows in GIF frames
MAX_FRAMES = 3000  # at 25 frames per second, two minutes
PEAK_TIMES = 9  # frames whose masses change share the largest density at this many even times


def _check_timing(frames: int, duration: float) -> int:
    """The number of frames, checked with the duration of one pass."""
    if not (isinstance(duration, (int, float)) and np.isfinite(duration) and duration > 0):
        raise InputError(f"duration must be a positive number of seconds, got {duration!r}")
    return check_int(frames, "frames", 2, MAX_FRAMES)


class Canvas:
    """The fixed frame of an animation: a grid over the whole path and its pixel size.

    Checks the plan (one 2-D :class:`Plan` or :class:`HKPlan`), ``width`` (pixels) and
    ``arrows`` (a count). Each frame's opacity rises to its own peak density, except for a
    plan whose masses change: there all frames share the largest density at
    :data:`PEAK_TIMES` even times (a frame above it saturates).
    """

    def __init__(self, plan: Plan | HKPlan, sigma: float | None, width: int, arrows: int = 0):
        _particles.check(plan, "animations")
        width, arrows = check_int(width, "width (pixels)", 32, 4096), check_int(arrows, "arrows", 0)
        self.plan = plan
        self.sigma = float(sigma) if sigma is not None else _particles.sigma_of(plan)
        self.grid = _style.frame_grid(
            torch.cat([plan.x.detach(), plan.y.detach()]), self.sigma, width
        )
        self.width, self.height = self.grid.shape
        self.peak = None
        if _particles.fades(plan):
            self.peak = max(
                float(self.density(float(t)).max()) for t in np.linspace(0.0, 1.0, PEAK_TIMES)
            )
        self.track = self._arrow_track(arrows) if arrows else None

    def density(self, t: float) -> np.ndarray:
        """The smoothed density ``(width, height)`` at time ``t``, indexed ``[x, y]``."""
        z, mass, _ = _particles.at(self.plan, t)
        return density(z, mass.detach(), self.grid, self.sigma).double().cpu().numpy()

    def alpha(self, t: float) -> np.ndarray:
        """Opacity ``(height, width)`` in [0, 1], top row first."""
        return _style.density_alpha(self.density(t), peak=self.peak).T[::-1]

    def _arrow_track(self, n_arrows: int):
        """The arrows of :func:`lagrangian_ot.plot.arrow_segments` at t = 1/2: the indices of
        their particles ``(A,)`` and their half vectors in pixels ``(A, 2)``. The arrows ride
        their particles (:meth:`centres`) and keep their length."""
        from .plot import arrow_segments

        idx, tails, heads = arrow_segments(self.plan, n_arrows=n_arrows, t=0.5)
        half = (0.5 * (heads - tails)).double().cpu().numpy()
        origin = np.zeros_like(half)
        return idx, self._pixels(origin + half) - self._pixels(origin)

    def centres(self, t: float) -> np.ndarray:
        """``(A, 2)``: the arrows' centres in pixels at time ``t`` (their particles' positions)."""
        idx, _ = self.track
        return self._pixels(
            _particles.at(self.plan, float(t))[0][idx].detach().double().cpu().numpy()
        )

    def arrows(self, t: float):
        """Arrow ``(tails, heads)`` in pixels at time ``t`` (the canvas must have been made with
        arrows)."""
        centres = self.centres(t)
        half = self.track[1]
        return centres - half, centres + half

    def _pixels(self, p: np.ndarray) -> np.ndarray:
        """Data coordinates -> pixel coordinates (x right, y down; pixel centres at integers)."""
        lo, hi = np.array(self.grid.lo), np.array(self.grid.hi)
        u = (p - lo) / (hi - lo)
        return np.stack([u[:, 0] * self.width - 0.5, (1 - u[:, 1]) * self.height - 0.5], axis=1)


def _draw_arrows(draw, tails: np.ndarray, heads: np.ndarray, fill, width: int) -> None:
    """Lines with a small open head, in pixel coordinates."""
    for (x0, y0), (x1, y1) in zip(tails.tolist(), heads.tolist()):
        dx, dy = x1 - x0, y1 - y0
        length = (dx * dx + dy * dy) ** 0.5
        if length < 1e-9:
            continue
        draw.line([(x0, y0), (x1, y1)], fill=fill, width=width)
        h = min(0.35 * length, 3.0 + 2.0 * width)
        ux, uy = dx / length, dy / length
        for sx in (1, -1):  # two barbs at +-27 degrees
            bx = x1 - h * (0.89 * ux - sx * 0.45 * uy)
            by = y1 - h * (0.89 * uy + sx * 0.45 * ux)
            draw.line([(x1, y1), (bx, by)], fill=fill, width=width)


def frames(
    plan: Plan | HKPlan,
    n_frames: int = 48,
    *,
    sigma: float | None = None,
    width: int = 640,
    arrows: int = 0,
) -> Iterator[tuple[float, np.ndarray, np.ndarray, tuple | None]]:
    """Yield ``(t, alpha (H, W), rgb (3,), arrows)`` for ``n_frames`` times from 0 to 1, one at a
    time.

    ``arrows`` is None, or with ``arrows > 0`` the ``(tails, heads)`` of that
    many arrows in pixels (see :func:`write_gif`).
    """
    canvas = Canvas(plan, sigma, width, arrows)
    return _frames_on(canvas, check_int(n_frames, "n_frames", 2, MAX_FRAMES))


def _frames_on(canvas: Canvas, n_frames: int):
    for t in np.linspace(0.0, 1.0, n_frames):
        t = float(t)
        yield t, canvas.alpha(t), _style.time_color(t), (canvas.arrows(t) if canvas.track else None)


def _line_width(canvas: Canvas) -> int:
    return max(1, canvas.width // 400)


def write_gif(
    plan: Plan | HKPlan,
    path: str | os.PathLike,
    *,
    frames: int = 48,
    duration: float = 4.0,
    arrows: int = 0,
    sigma: float | None = None,
    width: int = 640,
) -> None:
    """Write the moving density as an animated GIF, looping, one frame in memory at a time.

    Parameters
    ----------
    plan : Plan or HKPlan
        One 2-D plan.
    path : path
        The ``.gif`` to write (replaced atomically).
    frames : int
        Number of frames from t = 0 to t = 1 (at least 2).
    duration : float
        Seconds for one pass from t = 0 to 1.
    arrows : int
        Number of velocity arrows carried with the particles (0: none).
    sigma : float, optional
        Kernel bandwidth (default about the particle spacing).
    width : int
        Width in pixels; the height follows the aspect of the path.
    """
    from PIL import GifImagePlugin, Image, ImageDraw

    frames = _check_timing(frames, duration)
    canvas = Canvas(plan, sigma, width, arrows)
    delay = max(20, int(round(1000 * duration / frames / 10)) * 10)  # GIF delays are in 1/100 s
    levels = np.linspace(0.0, 1.0, ARROW_INDEX)  # palette entries 0..254: white -> colour(t)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        first = True
        arrow_rgb = _style.arrow_rgb()[None, :]
        for _, alpha, rgb, arrow in _frames_on(canvas, frames):
            index = np.rint(alpha * (ARROW_INDEX - 1)).astype(np.uint8)
            im = Image.fromarray(index, mode="P")
            # (255, 3): white -> this frame's colour
            colours = 1.0 - levels[:, None] * (1.0 - rgb[None, :])
            pal = np.vstack([colours, arrow_rgb])
            im.putpalette((np.rint(pal * 255).astype(np.uint8)).reshape(-1).tolist())
            if arrow is not None:
                _draw_arrows(
                    ImageDraw.Draw(im), *arrow, fill=ARROW_INDEX, width=_line_width(canvas)
                )
            if first:
                im.encoderinfo = {"loop": 0, "duration": delay}
                fh.writelines(GifImagePlugin.getheader(im, None, {"loop": 0, "duration": delay})[0])
                first = False
            _write_frame(GifImagePlugin, fh, im, delay)
        fh.write(b";")


def _write_frame(gif, fh, im, delay: int) -> None:
    """One GIF frame with its own colour table, written straight to ``fh``.

    Pillow's public ``getdata`` collects the chunks in a class made per call,
    whose reference cycle keeps every frame's bytes until a garbage collection;
    its frame writer (what ``getdata`` calls) writes to the file directly.
    """
    params = {"duration": delay, "include_color_table": True}
    writer = getattr(gif, "_write_frame_data", None)
    if writer is not None:
        writer(fh, im, (0, 0), params)
    else:  # pragma: no cover - older or newer Pillow
        for chunk in gif.getdata(im, **params):
            fh.write(chunk)


def ffmpeg_available() -> bool:
    """Whether an ``ffmpeg`` executable is on the PATH (needed for MP4)."""
    return shutil.which("ffmpeg") is not None


def write_mp4(
    plan: Plan | HKPlan,
    path: str | os.PathLike,
    *,
    frames: int = 48,
    duration: float = 4.0,
    arrows: int = 0,
    sigma: float | None = None,
    width: int = 640,
) -> None:
    """Write the same animation as an H.264 MP4 through ``ffmpeg`` (frames piped, none kept).

    Raises :class:`InputError` when ffmpeg is not installed.
    """
    from PIL import Image, ImageDraw

    frames = _check_timing(frames, duration)
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise InputError("MP4 needs ffmpeg on the PATH (GIF needs nothing more)")
    canvas = Canvas(plan, sigma, width, arrows)
    fps = frames / float(duration)
    with atomic_path(path) as tmp:
        cmd = [
            exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{canvas.width}x{canvas.height}", "-r", f"{fps:.6g}", "-i", "-",
            "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mp4", os.fspath(tmp),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            fill = tuple(int(round(255 * c)) for c in _style.arrow_rgb())
            for _, alpha, colour, arrow in _frames_on(canvas, frames):
                rgb = 1.0 - alpha[..., None] * (1.0 - colour[None, None, :])  # over white
                im = Image.fromarray(np.rint(rgb * 255).astype(np.uint8), mode="RGB")
                if arrow is not None:
                    _draw_arrows(ImageDraw.Draw(im), *arrow, fill=fill, width=_line_width(canvas))
                proc.stdin.write(im.tobytes())
            proc.stdin.close()
            err = proc.stderr.read().decode(errors="replace").strip()
            if proc.wait() != 0:
                raise RuntimeError(
                    f"ffmpeg failed: {err.splitlines()[-1] if err else 'no message'}"
                )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
