"""Self-contained HTML pages of density frames: one canvas, range controls, a Play button.

The frames are embedded as PNG data URIs and the page's data as JSON; there are
no network requests, external scripts or fonts, so a page opens from disk.
Each page adds its controls and its ``draw`` function to a shared prelude:

- ``D``: the page's data; ``view``, ``ctx``: the canvas; ``time``: the time control
  (0 to 1000), set from the query string (``?t=0.3``);
- ``loadFrames(srcs, draw)``: the frames as images (marked ``loaded`` together); ``draw``
  runs once all have loaded, and the body's ``data-status`` becomes ``ready`` (or
  ``error: ...``: tests read it);
- ``blend(images, t)``: clears the canvas and cross-fades the two frames around ``t``
  (once they have loaded);
- ``queryValue(name, lo, hi, fallback)``: a number from the query string, clamped;
- ``animate(button, draw)``: Play / Pause, one pass over the time control in 4 s.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re

import numpy as np

from ._io import atomic_path


def png_uri(alpha: np.ndarray, rgb) -> str:
    """A frame as a PNG data URI: opacity ``alpha (rows, cols)`` in [0, 1] over one colour
    ``rgb``."""
    from PIL import Image

    img = np.empty((*alpha.shape, 4), dtype=np.uint8)
    img[..., :3] = np.rint(255 * np.asarray(rgb)).astype(np.uint8)
    img[..., 3] = np.rint(255 * alpha).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode="RGBA").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def write_page(
    path: str | os.PathLike,
    *,
    title: str,
    data: dict,
    controls: str,
    script: str,
    note: str = "",
    output_width: str = "4.5em",
) -> None:
    """Write the page (replaced atomically): ``controls`` (HTML rows of three cells) and ``script``
    (its JavaScript)."""
    values = {
        "TITLE": html.escape(title),
        "OUTPUT_WIDTH": output_width,
        "CONTROLS": controls.strip(),
        "NOTE": f'<p class="note">{note}</p>' if note else "",
        "SCRIPT": script.strip(),
        "DATA": json.dumps(data, separators=(",", ":")).replace("</", "<\\/"),
    }
    # one pass: no value is expanded again
    page = re.sub(r"__([A-Z_]+?)__", lambda m: values[m[1]], _PAGE)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(page)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
         margin: 24px; }
  h1 { font-size: 17px; font-weight: 600; margin: 0 0 12px; }
  canvas { display: block; border: 1px solid #ddd; max-width: 100%; height: auto; }
  .controls { display: grid; grid-template-columns: auto minmax(160px, 420px) __OUTPUT_WIDTH__;
              gap: 6px 12px; align-items: center; margin-top: 12px; max-width: 680px; }
  output { font-variant-numeric: tabular-nums; }
  button { font: inherit; padding: 2px 12px; }
  p.note { color: #555; max-width: 680px; }
</style>
</head>
<body data-status="loading">
<h1>__TITLE__</h1>
<canvas id="view"></canvas>
<div class="controls">
  <label for="time">time t</label><input id="time" type="range" min="0" max="1000" value="500">
  <output id="time-out"></output>
__CONTROLS__
</div>
__NOTE__
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
window.addEventListener("error", function (e) {
  document.body.dataset.status = "error: " + e.message;
});
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const view = document.getElementById("view"), ctx = view.getContext("2d");
  const time = document.getElementById("time"), query = new URLSearchParams(location.search);
  view.width = D.width; view.height = D.height;
  function queryValue(name, lo, hi, fallback) {
    if (!query.has(name)) return fallback;
    return Math.min(hi, Math.max(lo, Number(query.get(name)) || 0));
  }
  time.value = String(Math.round(1000 * queryValue("t", 0, 1, Number(time.value) / 1000)));
  function loadFrames(srcs, draw) {
    let pending = srcs.length;
    const images = srcs.map(function (src) {
      const im = new Image();
      im.onload = function () {
        pending -= 1;
        if (pending === 0) {
          images.forEach(function (other) { other.loaded = true; });
          draw();
          if (document.body.dataset.status === "loading") document.body.dataset.status = "ready";
        }
      };
      im.onerror = function () { document.body.dataset.status = "error: a frame did not load"; };
      im.src = src;
      return im;
    });
    return images;
  }
  function blend(images, t) {
    const f = t * (images.length - 1), k = Math.min(Math.floor(f), images.length - 2), w = f - k;
    ctx.globalAlpha = 1; ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, view.width, view.height);
    if (images[k].loaded && images[k + 1].loaded) {
      ctx.globalAlpha = 1 - w; ctx.drawImage(images[k], 0, 0);
      ctx.globalAlpha = w; ctx.drawImage(images[k + 1], 0, 0);
      ctx.globalAlpha = 1;
    }
    return { k: k, w: w };
  }
  function animate(button, draw) {
    let playing = null;
    button.addEventListener("click", function () {
      if (playing !== null) {
        cancelAnimationFrame(playing); playing = null; button.textContent = "Play"; return;
      }
      button.textContent = "Pause";
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
  }
__SCRIPT__
})();
</script>
</body>
</html>
"""
