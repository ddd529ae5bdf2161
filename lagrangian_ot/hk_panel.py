"""The interactive unbalanced panel: reaction length and time controls over a WFR path.

For each reaction length ``kappa`` in a list, the optimal semi-coupling
(:func:`~lagrangian_ot.hk.hk_plan`) between two weighted clouds is computed once,
and its particles, which travel and change mass along the travelling-Dirac
geodesics, are smoothed into density frames on one fixed canvas with one
opacity scale, so fading and growing mass shows as it is. The frames are
embedded as PNG data URIs in a single HTML file; the page blends between
neighbouring frames in time. A query string sets the controls, for example
``unbalanced.html?t=0.4&k=2`` (``k`` indexes the reaction lengths).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from ._io import atomic_path
from .errors import InputError, check_positive
from .fields import density
from .hk import hk_interpolate, hk_plan
from .panel import _png
from .plot import _style

MAX_FRAMES = 200


def unbalanced_frames(
    x, y, a, b, kappas: Sequence[float], *, frames: int = 17, times=None, sigma=None, width: int = 560, plans=None
):
    """Density frames of the WFR paths, ``(K, frames, width, height)``, their masses and values.

    Frames at ``frames`` even times from 0 to 1, or at ``times`` when given.
    ``plans`` reuses :func:`~lagrangian_ot.hk.hk_plan` results for the same ``kappas``.
    Returns ``(rho, masses (K, frames), values (K,), canvas Grid, plans)``.
    """
    if times is not None:
        times = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
        frames = int(times.numel())
    if not kappas:
        raise InputError("give at least one reaction length kappa")
    kappas = [check_positive(k, "kappa") for k in kappas]
    if isinstance(frames, bool) or not isinstance(frames, int) or not (2 - (times is not None)) <= frames <= MAX_FRAMES:
        raise InputError(f"frames must be an integer in [2, {MAX_FRAMES}], got {frames!r}")
    if isinstance(width, bool) or not isinstance(width, int) or not 16 <= width <= 4096:
        raise InputError(f"width must be an integer in [16, 4096] pixels, got {width!r}")
    if x.dim() != 2 or x.shape[-1] != 2 or y.dim() != 2 or y.shape[-1] != 2:
        raise InputError("the unbalanced panel draws 2-D clouds (n, 2) and (m, 2)")
    sig = check_positive(sigma, "sigma") if sigma is not None else min(_style.default_sigma(x), _style.default_sigma(y))
    if plans is not None and (len(plans) != len(kappas) or any(
        not math.isclose(p.kappa, k, rel_tol=1e-12) for p, k in zip(plans, kappas)
    )):  # fmt: skip
        raise InputError(f"give one plan per kappa, in order: plans for {[p.kappa for p in plans]}, kappas {kappas}")
    canvas = _style.frame_grid(torch.cat([x, y]), sig, width)
    t = torch.linspace(0, 1, frames, dtype=torch.float64) if times is None else times
    rho, masses, values = [], [], []
    plans = list(plans) if plans is not None else [hk_plan(x, y, a, b, k) for k in kappas]
    for plan in plans:
        z, h, _, _ = hk_interpolate(plan, t)  # (T, K, 2), (T, K)
        rho.append(torch.stack([density(z[i], h[i], canvas, sig) for i in range(frames)]).double().cpu())
        masses.append(h.double().sum(-1).cpu())
        values.append(float(plan.value))
    return torch.stack(rho), torch.stack(masses), values, canvas, plans


def write_unbalanced_panel(
    x: torch.Tensor,
    y: torch.Tensor,
    path: str | os.PathLike,
    *,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    kappas: Sequence[float] = (0.1, 0.2, 0.4, 0.8, 1.6),
    frames: int = 17,
    sigma: float | None = None,
    width: int = 560,
    title: str = "Unbalanced transport (Wasserstein-Fisher-Rao)",
    plans=None,
) -> None:
    """Write a self-contained HTML page with reaction-length and time controls.

    Parameters
    ----------
    x, y : Tensor
        2-D clouds ``(n, 2)`` and ``(m, 2)``.
    path : path
        The ``.html`` file (replaced atomically).
    a, b : Tensor, optional
        Masses (default ``1/n`` and ``1/m``); totals may differ.
    kappas : sequence of float
        Reaction lengths offered by the control: below ``pi kappa`` mass travels,
        beyond it fades and grows.
    frames : int
        Density frames per reaction length, from t = 0 to 1.
    sigma : float, optional
        Kernel bandwidth (default about the particle spacing).
    width : int
        Canvas width in pixels.
    title : str
        Heading of the page.
    plans : list of HKPlan, optional
        Plans already computed for ``kappas`` (as :func:`unbalanced_frames` returns them).
    """
    rho, masses, values, canvas, _ = unbalanced_frames(
        x, y, a, b, kappas, frames=frames, sigma=sigma, width=width, plans=plans
    )
    peak = float(rho.max())
    images = []
    for k in range(rho.shape[0]):
        row = []
        for i in range(rho.shape[1]):
            alpha = np.clip(rho[k, i].numpy() / (0.85 * peak), 0, 1) ** 0.8  # one scale: fading shows
            row.append(_png(alpha.T[::-1], _style.time_color(i / (rho.shape[1] - 1))))
        images.append(row)
    data = {
        "width": canvas.shape[0], "height": canvas.shape[1], "frames": images,
        "kappas": [float(k) for k in kappas], "values": values, "masses": masses.tolist(),
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
  .controls { display: grid; grid-template-columns: auto minmax(160px, 420px) 9em; gap: 6px 12px;
              align-items: center; margin-top: 12px; max-width: 680px; }
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
  <label for="kappa">reaction length &kappa;</label><input id="kappa" type="range" min="0" max="0" value="0" step="1">
  <output id="kappa-out"></output>
  <span>mass</span><span></span><output id="mass-out"></output>
  <span>WFR&sup2;</span><span></span><output id="value-out"></output>
  <span></span><span><button id="play" type="button">Play</button></span><span></span>
</div>
<p class="note">Small &kappa;: creating and destroying mass is cheap, shapes fade and grow in place.
Large &kappa;: mass travels as in balanced transport. Beyond a distance &pi;&kappa; nothing travels.</p>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
window.addEventListener("error", function (e) { document.body.dataset.status = "error: " + e.message; });
(function () {
  const D = JSON.parse(document.getElementById("data").textContent);
  const view = document.getElementById("view"), ctx = view.getContext("2d");
  const time = document.getElementById("time"), kappa = document.getElementById("kappa");
  const out = function (id) { return document.getElementById(id); };
  view.width = D.width; view.height = D.height;
  kappa.max = String(D.kappas.length - 1);
  const q = new URLSearchParams(location.search);
  if (q.has("t")) time.value = String(Math.round(1000 * Math.min(1, Math.max(0, Number(q.get("t")) || 0))));
  if (q.has("k")) kappa.value = String(Math.min(D.kappas.length - 1, Math.max(0, Math.round(Number(q.get("k")) || 0))));
  let pending = D.frames.length * D.frames[0].length;
  const images = D.frames.map(function (row) {
    return row.map(function (src) {
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
  });
  function draw() {
    const t = Number(time.value) / 1000, j = Number(kappa.value), row = images[j];
    const f = t * (row.length - 1), k = Math.min(Math.floor(f), row.length - 2), w = f - k;
    const mass = (1 - w) * D.masses[j][k] + w * D.masses[j][k + 1];
    out("time-out").textContent = t.toFixed(2);
    out("kappa-out").textContent = D.kappas[j].toPrecision(3);
    out("mass-out").textContent = mass.toFixed(4);
    out("value-out").textContent = D.values[j].toPrecision(4);
    ctx.globalAlpha = 1; ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, view.width, view.height);
    if (pending === 0) {
      ctx.globalAlpha = 1 - w; ctx.drawImage(row[k], 0, 0);
      ctx.globalAlpha = w; ctx.drawImage(row[k + 1], 0, 0);
      ctx.globalAlpha = 1;
    }
  }
  let playing = null;
  out("play").addEventListener("click", function () {
    const play = out("play");
    if (playing !== null) { cancelAnimationFrame(playing); playing = null; play.textContent = "Play"; return; }
    play.textContent = "Pause";
    let last = performance.now();
    function step(now) {
      let v = Number(time.value) + (now - last) / 4;
      last = now;
      if (v > 1000) v -= 1000;
      time.value = String(Math.round(v)); draw();
      playing = requestAnimationFrame(step);
    }
    playing = requestAnimationFrame(step);
  });
  [time, kappa].forEach(function (el) { el.addEventListener("input", draw); });
  draw();
})();
</script>
</body>
</html>
"""
