"""Self-contained interactive panels: moving densities and their controls in one HTML file.

The densities are precomputed at ``frames`` times and embedded as PNG images
(data URIs); the page cross-fades between neighbouring frames as the time
control moves. No network access, no external scripts or fonts: the file opens
from disk. Two pages:

- :func:`write_panel`: one plan, balanced (:class:`~lagrangian_ot.Plan`) or not
  (:class:`~lagrangian_ot.HKPlan`), with time and velocity-scale controls; the page
  draws the arrows itself, each riding its particle, its length set by the scale
  control. A query string sets the controls: ``panel.html?t=0.3&scale=1.5``.
- :func:`write_unbalanced_panel`: the WFR paths between two weighted clouds for
  several reaction lengths ``kappa`` (one :func:`~lagrangian_ot.hk_plan` each),
  with a reaction-length control; its frames share one canvas and one opacity
  scale, so fading and growing mass shows as it is:
  ``unbalanced.html?t=0.4&k=2`` (``k`` indexes the reaction lengths).

(Until 0.2 the second page lived in ``lagrangian_ot.hk_panel``, which still
imports with a ``DeprecationWarning``.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch

from . import _particles
from ._html import png_uri, write_page
from .animation import MAX_FRAMES, Canvas, _frames_on
from .errors import InputError, check_int, check_positive
from .fields import density
from .hk import HKPlan, hk_plan
from .plan import Plan
from .plot import _style

__all__ = [
    "MAX_FRAMES",
    "MAX_UNBALANCED_FRAMES",
    "unbalanced_frames",
    "write_panel",
    "write_unbalanced_panel",
]

MAX_UNBALANCED_FRAMES = 200  # per reaction length: the page holds them all


def write_panel(
    plan: Plan | HKPlan,
    path: str | os.PathLike,
    *,
    frames: int = 33,
    arrows: int = 80,
    sigma: float | None = None,
    width: int = 720,
    title: str | None = None,
) -> None:
    """Write ``panel.html``: time and velocity-scale controls over the moving density.

    Parameters
    ----------
    plan : Plan or HKPlan
        One 2-D plan. The particles of an :class:`~lagrangian_ot.HKPlan` travel and change
        mass along the WFR geodesic, on one opacity scale for all frames (as in
        :mod:`lagrangian_ot.animation`); its arrows point from ``start`` to ``end``.
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
    title : str, optional
        Heading of the page (default: "McCann interpolation", or "Unbalanced transport
        (Wasserstein-Fisher-Rao)" for an :class:`~lagrangian_ot.HKPlan`).
    """
    frames = check_int(frames, "frames", 2, MAX_FRAMES)
    canvas = Canvas(plan, sigma, width, arrows)
    if title is None:
        title = _UNBALANCED_TITLE if _particles.fades(plan) else "McCann interpolation"
    images, centres = [], []
    for t, alpha, rgb, _ in _frames_on(canvas, frames):
        images.append(png_uri(alpha, rgb))
        if canvas.track:  # the page moves each arrow's centre linearly between two frames
            centres.append(np.round(canvas.centres(t), 2).tolist())
    arrow_data = {
        "centres": centres,
        "half": np.round(canvas.track[1], 2).tolist() if canvas.track else [],
    }
    data = {
        "width": canvas.width, "height": canvas.height, "frames": images, "arrows": arrow_data,
        "arrow": _style.ARROW_COLOR,
    }  # fmt: skip
    write_page(path, title=title, data=data, controls=_CONTROLS, script=_SCRIPT)


_UNBALANCED_TITLE = "Unbalanced transport (Wasserstein-Fisher-Rao)"


def unbalanced_frames(
    x,
    y,
    a,
    b,
    kappas: Sequence[float],
    *,
    frames: int = 17,
    times=None,
    sigma=None,
    width: int = 560,
    plans=None,
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
    frames = check_int(frames, "frames", 2 - (times is not None), MAX_UNBALANCED_FRAMES)
    width = check_int(width, "width (pixels)", 16, 4096)
    if x.dim() != 2 or x.shape[-1] != 2 or y.dim() != 2 or y.shape[-1] != 2:
        raise InputError("the unbalanced panel draws 2-D clouds (n, 2) and (m, 2)")
    sig = (
        check_positive(sigma, "sigma")
        if sigma is not None
        else min(_style.default_sigma(x), _style.default_sigma(y))
    )
    if plans is not None and (len(plans) != len(kappas) or any(
        not math.isclose(p.kappa, k, rel_tol=1e-12) for p, k in zip(plans, kappas)
    )):  # fmt: skip
        raise InputError(
            "give one plan per kappa, in order: plans for "
            f"{[p.kappa for p in plans]}, kappas {kappas}"
        )
    canvas = _style.frame_grid(torch.cat([x, y]), sig, width)
    t = torch.linspace(0, 1, frames, dtype=torch.float64) if times is None else times
    rho, masses, values = [], [], []
    plans = list(plans) if plans is not None else [hk_plan(x, y, a, b, k) for k in kappas]
    for plan in plans:
        z, h, _ = _particles.at(plan, t)  # (T, K, 2), (T, K)
        rho.append(
            torch.stack([density(z[i], h[i], canvas, sig) for i in range(frames)]).double().cpu()
        )
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
    title: str = _UNBALANCED_TITLE,
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
            alpha = _style.density_alpha(rho[k, i].numpy(), peak=peak)  # one scale: fading shows
            row.append(png_uri(alpha.T[::-1], _style.time_color(i / (rho.shape[1] - 1))))
        images.append(row)
    data = {
        "width": canvas.shape[0], "height": canvas.shape[1], "frames": images,
        "kappas": [float(k) for k in kappas], "values": values, "masses": masses.tolist(),
    }  # fmt: skip
    write_page(
        path,
        title=title,
        data=data,
        controls=_UNBALANCED_CONTROLS,
        script=_UNBALANCED_SCRIPT,
        note=_UNBALANCED_NOTE,
        output_width="9em",
    )


_UNBALANCED_CONTROLS = """
  <label for="kappa">reaction length &kappa;</label>
  <input id="kappa" type="range" min="0" max="0" value="0" step="1">
  <output id="kappa-out"></output>
  <span>mass</span><span></span><output id="mass-out"></output>
  <span>WFR&sup2;</span><span></span><output id="value-out"></output>
  <span></span><span><button id="play" type="button">Play</button></span><span></span>
"""

_UNBALANCED_NOTE = """Small &kappa;: creating and destroying mass is cheap, shapes fade and grow in
place. Large &kappa;: mass travels as in balanced transport. Beyond a distance &pi;&kappa; nothing
travels."""

_UNBALANCED_SCRIPT = """
  const kappa = document.getElementById("kappa");
  const out = function (id) { return document.getElementById(id); };
  kappa.max = String(D.kappas.length - 1);
  kappa.value = String(Math.round(queryValue("k", 0, D.kappas.length - 1, 0)));
  const flat = loadFrames([].concat.apply([], D.frames), draw), per = D.frames[0].length;
  const images = D.frames.map(function (_, j) { return flat.slice(j * per, (j + 1) * per); });
  function draw() {
    const t = Number(time.value) / 1000, j = Number(kappa.value);
    const at = blend(images[j], t), k = at.k, w = at.w;
    const mass = (1 - w) * D.masses[j][k] + w * D.masses[j][k + 1];
    out("time-out").textContent = t.toFixed(2);
    out("kappa-out").textContent = D.kappas[j].toPrecision(3);
    out("mass-out").textContent = mass.toFixed(4);
    out("value-out").textContent = D.values[j].toPrecision(4);
  }
  animate(out("play"), draw);
  [time, kappa].forEach(function (el) { el.addEventListener("input", draw); });
  draw();
"""


_CONTROLS = """
  <label for="scale">velocity scale</label>
  <input id="scale" type="range" min="0" max="300" value="100">
  <output id="scale-out"></output>
  <span></span><span><button id="play" type="button">Play</button>
  <label><input id="show" type="checkbox" checked> arrows</label></span><span></span>
"""

_SCRIPT = """
  const scale = document.getElementById("scale"), show = document.getElementById("show");
  const timeOut = document.getElementById("time-out");
  const scaleOut = document.getElementById("scale-out");
  scale.value = String(Math.round(100 * queryValue("scale", 0, 3, Number(scale.value) / 100)));
  if (query.get("arrows") === "0") show.checked = false;
  const images = loadFrames(D.frames, draw);
  function draw() {
    const t = Number(time.value) / 1000, s = Number(scale.value) / 100;
    timeOut.textContent = t.toFixed(2); scaleOut.textContent = s.toFixed(2) + "x";
    const at = blend(images, t);
    if (!show.checked || s === 0) return;
    ctx.strokeStyle = D.arrow; ctx.lineWidth = Math.max(1, view.width / 500);
    const A = D.arrows, k = at.k, w = at.w;
    for (let i = 0; i < A.half.length; i++) {
      const c0 = A.centres[k][i], c1 = A.centres[k + 1][i];
      const cx = (1 - w) * c0[0] + w * c1[0], cy = (1 - w) * c0[1] + w * c1[1];
      const hx = s * A.half[i][0], hy = s * A.half[i][1], len = Math.hypot(hx, hy);
      if (len < 0.5) continue;
      const x0 = cx - hx, y0 = cy - hy, x1 = cx + hx, y1 = cy + hy, ux = hx / len, uy = hy / len;
      const h = Math.min(0.7 * len, 3 + 2 * ctx.lineWidth);
      ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
      ctx.moveTo(x1 - h * (0.89 * ux - 0.45 * uy), y1 - h * (0.89 * uy + 0.45 * ux));
      ctx.lineTo(x1, y1);
      ctx.lineTo(x1 - h * (0.89 * ux + 0.45 * uy), y1 - h * (0.89 * uy - 0.45 * ux));
      ctx.stroke();
    }
  }
  animate(document.getElementById("play"), draw);
  [time, scale, show].forEach(function (el) { el.addEventListener("input", draw); });
  draw();
"""
