"""Figures of grid geodesics: the 1-D duality figure and 2-D density sequences."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError, check_times
from . import _style


def duality_figure(result):
    """Density, momentum and dual potential of a 1-D grid geodesic, in the ``(x, t)`` plane.

    ``result`` is a :class:`~lagrangian_ot.dynamic.DynamicResult` on a 1-D grid.
    The potential is drawn where the density is not negligible (elsewhere it is
    not determined); the density's level lines are drawn on every panel.
    """
    from matplotlib.figure import Figure

    grid = result.grid
    if grid.dim != 1:
        raise InputError("duality_figure draws 1-D geodesics")
    rho = result.rho.double().cpu().numpy()
    mid = 0.5 * (rho[1:] + rho[:-1])
    m = result.momentum[..., 0].double().cpu().numpy()
    phi = result.potential.double().cpu().numpy()
    phi = np.where(mid > 1e-2 * mid.max(), phi, np.nan)
    fig = Figure(figsize=(10.5, 3.3), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    extent = (grid.lo[0], grid.hi[0], 0.0, 1.0)
    panels = [
        (r"density $\rho(t, x)$", rho, "Greys", None),
        (r"momentum $m(t, x)$", m, "RdBu_r", float(np.abs(m).max())),
        (r"potential $\varphi(t, x)$", phi, "viridis", None),
    ]
    for ax_, (title, values, cmap, sym) in zip(axes, panels):
        kw = {"vmin": -sym, "vmax": sym} if sym else {}
        im = ax_.imshow(
            values,
            origin="lower",
            extent=extent,
            aspect="auto",
            cmap=cmap,
            interpolation="nearest",
            **kw,
        )
        ax_.contour(
            np.linspace(grid.lo[0], grid.hi[0], rho.shape[1]), np.linspace(0, 1, rho.shape[0]), rho,
            levels=np.linspace(0.1, 0.9, 5) * rho.max(), colors="k", linewidths=0.5, alpha=0.5,
        )  # fmt: skip
        fig.colorbar(im, ax=ax_, shrink=0.85)
        ax_.set_title(title, fontsize=10)
        ax_.set_xlabel("x")
    axes[0].set_ylabel("t")
    name = "Benamou-Brenier" if result.source is None else "Wasserstein-Fisher-Rao"
    fig.suptitle(
        f"{name} on {grid.shape[0]} cells x {rho.shape[0] - 1} steps: value {result.value:.5g}",
        fontsize=10,
    )
    return fig


def grid_sequence(result, times: Sequence[float] = (0, 0.25, 0.5, 0.75, 1)):
    """Densities of a 2-D grid geodesic at ``times``, coloured red (t = 0) to blue (t = 1)."""
    from matplotlib.figure import Figure

    grid = result.grid
    if grid.dim != 2:
        raise InputError("grid_sequence draws 2-D geodesics")
    steps = result.rho.shape[0] - 1
    times = check_times(times, "times")[0].tolist()
    fig = Figure(figsize=(2.2 * len(times), 2.45), layout="constrained")
    axes = fig.subplots(1, len(times), squeeze=False)[0]
    rho_all = result.rho.double().cpu().numpy()
    for ax_, t in zip(axes, times):
        k = int(round(t * steps))
        ax_.imshow(
            _style.rgba_image(rho_all[k], _style.time_color(k / steps)),
            origin="lower",
            extent=grid.extent,
        )
        mass = float(rho_all[k].sum()) * grid.cell_volume
        ax_.set_title(
            f"t = {k / steps:.2f}" + ("" if result.source is None else f", mass {mass:.3f}"),
            fontsize=9,
        )
        _style.bare(ax_)
    return fig
