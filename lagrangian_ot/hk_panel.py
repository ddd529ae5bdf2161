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

import math
import os
from collections.abc import Sequence

import torch

from ._html import png_uri, write_page
from .errors import InputError, check_int, check_positive
from .fields import density
from .hk import hk_interpolate, hk_plan
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
    frames = check_int(frames, "frames", 2 - (times is not None), MAX_FRAMES)
    width = check_int(width, "width (pixels)", 16, 4096)
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
            alpha = _style.density_alpha(rho[k, i].numpy(), peak=peak)  # one scale: fading shows
            row.append(png_uri(alpha.T[::-1], _style.time_color(i / (rho.shape[1] - 1))))
        images.append(row)
    data = {
        "width": canvas.shape[0], "height": canvas.shape[1], "frames": images,
        "kappas": [float(k) for k in kappas], "values": values, "masses": masses.tolist(),
    }  # fmt: skip
    write_page(path, title=title, data=data, controls=_CONTROLS, script=_SCRIPT, note=_NOTE, output_width="9em")


_CONTROLS = """
  <label for="kappa">reaction length &kappa;</label><input id="kappa" type="range" min="0" max="0" value="0" step="1">
  <output id="kappa-out"></output>
  <span>mass</span><span></span><output id="mass-out"></output>
  <span>WFR&sup2;</span><span></span><output id="value-out"></output>
  <span></span><span><button id="play" type="button">Play</button></span><span></span>
"""

_NOTE = """Small &kappa;: creating and destroying mass is cheap, shapes fade and grow in place.
Large &kappa;: mass travels as in balanced transport. Beyond a distance &pi;&kappa; nothing travels."""

_SCRIPT = """
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
