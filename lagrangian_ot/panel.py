"""A self-contained interactive panel: the moving density and its arrows in one HTML file.

The densities are precomputed at ``frames`` times and embedded as PNG images
(data URIs); the page cross-fades between neighbouring frames as the time
control moves, and draws the arrows itself: each arrow rides its particle
``Z_t = (1 - t) x + t y``, its length set by the velocity-scale control. No
network access, no external scripts or fonts: the file opens from disk.
A query string sets the controls, for example ``panel.html?t=0.3&scale=1.5``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os

import numpy as np

from ._io import atomic_path
from .animation import Canvas, _check, _frames_on
from .errors import InputError
from .plan import Plan
from .plot import _style


def _png(alpha: np.ndarray, rgb: np.ndarray) -> str:
    from PIL import Image

    img = np.empty((*alpha.shape, 4), dtype=np.uint8)
    img[..., :3] = np.rint(255 * rgb).astype(np.uint8)
    img[..., 3] = np.rint(255 * alpha).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGBA").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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
    _check(plan, frames, 1.0, width)
    if isinstance(arrows, bool) or not isinstance(arrows, int) or arrows < 0:
        raise InputError(f"arrows must be an integer >= 0, got {arrows!r}")
    canvas = Canvas(plan, sigma, width, arrows)
    images = [_png(alpha, rgb) for _, alpha, rgb, _ in _frames_on(canvas, frames)]
    arrow_data = {"p0": [], "p1": [], "half": []}
    if canvas.track:  # the page moves each arrow's centre linearly from t = 0 to t = 1
        arrow_data = {k: np.round(v, 2).tolist() for k, v in zip(("p0", "p1", "half"), canvas.track)}
    data = {
        "width": canvas.width, "height": canvas.height, "frames": images, "arrows": arrow_data,
        "arrow": _style.ARROW_COLOR,
    }  # fmt: skip
    page = _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", json.dumps(data, separators=(",", ":")))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px; }
  h1 { font-size: 17px; font-weight: 600; margin: 0 0 12px; }
  canvas { display: block; border: 1px solid #ddd; max-width: 100%; height: auto; }
  .controls { display: grid; grid-template-columns: auto minmax(160px, 420px) 4.5em; gap: 6px 12px;
              align-items: center; margin-top: 12px; max-width: 640px; }
  output { font-variant-numeric: tabular-nums; }
  button { font: inherit; padding: 2px 12px; }
</style>
</head>
<body data-status="loading">
<h1>__TITLE__</h1>
<canvas id="view"></canvas>
<div class="controls">
  <label for="time">time t</label><input id="time" type="range" min="0" max="1000" value="500">
  <output id="time-out"></output>
  <label for="scale">velocity scale</label><input id="scale" type="range" min="0" max="300" value="100">
  <output id="scale-out"></output>
  <span></span><span><button id="play" type="button">Play</button>
  <label><input id="show" type="checkbox" checked> arrows</label></span><span></span>
</div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
window.addEventListener("error", function (e) { document.body.dataset.status = "error: " + e.message; });
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const view = document.getElementById("view"), ctx = view.getContext("2d");
  const time = document.getElementById("time"), scale = document.getElementById("scale");
  const timeOut = document.getElementById("time-out"), scaleOut = document.getElementById("scale-out");
  const play = document.getElementById("play"), show = document.getElementById("show");
  view.width = D.width; view.height = D.height;
  const q = new URLSearchParams(location.search);
  if (q.has("t")) time.value = String(Math.round(1000 * Math.min(1, Math.max(0, Number(q.get("t")) || 0))));
  if (q.has("scale")) scale.value = String(Math.round(100 * Math.min(3, Math.max(0, Number(q.get("scale")) || 0))));
  if (q.get("arrows") === "0") show.checked = false;
  let pending = D.frames.length;
  const images = D.frames.map(function (src) {
    const im = new Image();
    im.onload = function () {
      pending -= 1;
      if (pending === 0) {
        draw();
        if (document.body.dataset.status === "loading") document.body.dataset.status = "ready";
      }
    };
    im.onerror = function () { document.body.dataset.status = "error: a frame did not load"; };
    im.src = src;
    return im;
  });
  function draw() {
    const t = Number(time.value) / 1000, s = Number(scale.value) / 100;
    timeOut.textContent = t.toFixed(2); scaleOut.textContent = s.toFixed(2) + "x";
    ctx.globalAlpha = 1; ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, view.width, view.height);
    const f = t * (images.length - 1), k = Math.min(Math.floor(f), images.length - 2), w = f - k;
    if (pending === 0) {
      ctx.globalAlpha = 1 - w; ctx.drawImage(images[k], 0, 0);
      ctx.globalAlpha = w; ctx.drawImage(images[k + 1], 0, 0);
    }
    ctx.globalAlpha = 1;
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
  let playing = null;
  play.addEventListener("click", function () {
    if (playing !== null) { cancelAnimationFrame(playing); playing = null; play.textContent = "Play"; return; }
    play.textContent = "Pause";
    let last = performance.now();
    function step(now) {
      let v = Number(time.value) + (now - last) / 4;  // one pass in 4 s
      last = now;
      if (v > 1000) v -= 1000;
      time.value = String(Math.round(v)); draw();
      playing = requestAnimationFrame(step);
    }
    playing = requestAnimationFrame(step);
  });
  [time, scale, show].forEach(function (el) { el.addEventListener("input", draw); });
  draw();
})();
</script>
</body>
</html>
"""
