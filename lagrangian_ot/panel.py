"""A self-contained interactive panel: the moving density and its arrows in one HTML file.

The densities are precomputed at ``frames`` times and embedded as PNG images
(data URIs); the page cross-fades between neighbouring frames as the time
control moves, and draws the arrows itself: each arrow rides its particle
``Z_t = (1 - t) x + t y``, its length set by the velocity-scale control. No
network access, no external scripts or fonts: the file opens from disk.
A query string sets the controls, for example ``panel.html?t=0.3&scale=1.5``.
"""

from __future__ import annotations

import os

import numpy as np

from ._html import png_uri, write_page
from .animation import MAX_FRAMES, Canvas, _frames_on
from .errors import check_int
from .plan import Plan
from .plot import _style


def write_panel(
    plan: Plan,
    path: str | os.PathLike,
    *,
    frames: int = 33,
    arrows: int = 80,
    sigma: float | None = None,
    width: int = 720,
    title: str = "McCann interpolation",
) -> None:
    """Write ``panel.html``: time and velocity-scale controls over the moving density.

    Parameters
    ----------
    plan : Plan
        One 2-D plan.
    path : path
        The ``.html`` file to write (replaced atomically).
    frames : int
        Density frames precomputed from t = 0 to 1 (the page blends between them).
    arrows : int
        Number of arrows (0: none).
    sigma : float, optional
        Kernel bandwidth (default about the particle spacing).
    width : int
        Canvas width in pixels.
    title : str
        Heading of the page.
    """
    frames = check_int(frames, "frames", 2, MAX_FRAMES)
    canvas = Canvas(plan, sigma, width, arrows)
    images = [png_uri(alpha, rgb) for _, alpha, rgb, _ in _frames_on(canvas, frames)]
    arrow_data = {"p0": [], "p1": [], "half": []}
    if canvas.track:  # the page moves each arrow's centre linearly from t = 0 to t = 1
        arrow_data = {k: np.round(v, 2).tolist() for k, v in zip(("p0", "p1", "half"), canvas.track)}
    data = {
        "width": canvas.width, "height": canvas.height, "frames": images, "arrows": arrow_data,
        "arrow": _style.ARROW_COLOR,
    }  # fmt: skip
    write_page(path, title=title, data=data, controls=_CONTROLS, script=_SCRIPT)


_CONTROLS = """
  <label for="scale">velocity scale</label><input id="scale" type="range" min="0" max="300" value="100">
  <output id="scale-out"></output>
  <span></span><span><button id="play" type="button">Play</button>
  <label><input id="show" type="checkbox" checked> arrows</label></span><span></span>
"""

_SCRIPT = """
  const scale = document.getElementById("scale"), show = document.getElementById("show");
  const timeOut = document.getElementById("time-out"), scaleOut = document.getElementById("scale-out");
  scale.value = String(Math.round(100 * queryValue("scale", 0, 3, Number(scale.value) / 100)));
  if (query.get("arrows") === "0") show.checked = false;
  const images = loadFrames(D.frames, draw);
  function draw() {
    const t = Number(time.value) / 1000, s = Number(scale.value) / 100;
    timeOut.textContent = t.toFixed(2); scaleOut.textContent = s.toFixed(2) + "x";
    blend(images, t);
    if (!show.checked || s === 0) return;
    ctx.strokeStyle = D.arrow; ctx.lineWidth = Math.max(1, view.width / 500);
    const A = D.arrows;
    for (let i = 0; i < A.p0.length; i++) {
      const cx = (1 - t) * A.p0[i][0] + t * A.p1[i][0], cy = (1 - t) * A.p0[i][1] + t * A.p1[i][1];
      const hx = s * A.half[i][0], hy = s * A.half[i][1], len = Math.hypot(hx, hy);
      if (len < 0.5) continue;
      const x0 = cx - hx, y0 = cy - hy, x1 = cx + hx, y1 = cy + hy, ux = hx / len, uy = hy / len;
      const h = Math.min(0.7 * len, 3 + 2 * ctx.lineWidth);
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
      ctx.moveTo(x1 - h * (0.89 * ux - 0.45 * uy), y1 - h * (0.89 * uy + 0.45 * ux)); ctx.lineTo(x1, y1);
      ctx.lineTo(x1 - h * (0.89 * ux + 0.45 * uy), y1 - h * (0.89 * uy - 0.45 * ux));
      ctx.stroke();
    }
  }
  animate(document.getElementById("play"), draw);
  [time, scale, show].forEach(function (el) { el.addEventListener("input", draw); });
  draw();
"""
