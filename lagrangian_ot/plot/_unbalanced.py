"""The seed's 1-D figure: balanced and KL-relaxed barycentre paths, one row each."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError
from ..grid import Grid
from . import _style


def barycenter_rows(
    grid: Grid,
    rows: Sequence[tuple[str, torch.Tensor]],
    times: Sequence[float],
):
    """One row of panels per path: ``rows`` of ``(label, path (T, N))`` on a 1-D ``grid``.

    Each panel fills the density at its time, coloured red (t = 0) to blue
    (t = 1), with its mass written under it.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    if len(grid.shape) != 1:
        raise InputError("barycenter_rows draws 1-D paths")
    times = [float(t) for t in times]
    x = grid.axes[0].numpy()
    fig = Figure(figsize=(2.1 * len(times), 1.45 * len(rows) + 0.3), layout="constrained")
    axes = fig.subplots(len(rows), len(times), sharex=True, sharey=True, squeeze=False)
    top = max(max(float(p.max()) for _, p in rows), 1e-300)  # shared y axis
    for r, (label, path) in enumerate(rows):
        values = path.double().cpu().numpy()
        if values.shape != (len(times), len(x)):
            raise InputError(
                f"row {label!r}: expected shape {(len(times), len(x))}, got {values.shape}"
            )
        for c, t in enumerate(times):
            ax = axes[r, c]
            colour = _style.time_color(t)
            ax.fill_between(x, values[c], color=colour, alpha=0.35, linewidth=0)
            ax.plot(x, values[c], color=colour, linewidth=1.0)
            mass = float(values[c].sum() * grid.cell_volume)
            ax.text(
                0.5,
                -0.06,
                f"mass {mass:.3f}",
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=7,
            )
            if r == 0:
                ax.set_title(f"t = {t:g}")
            ax.set_ylim(0, 1.08 * top)
            ax.set_yticks([])
            ax.set_xticks([])
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
        axes[r, 0].set_ylabel(label)
    return fig


def fading_rows(rho, canvas: Grid, labels: Sequence[str], times: Sequence[float], masses=None):
    """Rows of 2-D density frames on one canvas and one opacity scale (so fading mass shows).

    ``rho (R, T, W, H)`` frames at ``times`` for each of ``R`` rows; ``masses (R, T)``
    is written under each panel when given.
    """
    from matplotlib.figure import Figure

    rho = torch.as_tensor(rho).double().cpu().numpy()
    if rho.ndim != 4 or rho.shape[:2] != (len(labels), len(times)):
        raise InputError(
            f"rho must have shape ({len(labels)}, {len(times)}, W, H), got {rho.shape}"
        )
    peak = float(rho.max())
    span = (canvas.hi[0] - canvas.lo[0]) / (canvas.hi[1] - canvas.lo[1])
    fig = Figure(figsize=(1.9 * span * len(times), 1.9 * len(labels) + 0.35), layout="constrained")
    axes = fig.subplots(len(labels), len(times), squeeze=False)
    for r, label in enumerate(labels):
        for c, t in enumerate(times):
            ax = axes[r, c]
            # one scale: fading shows
            img = _style.rgba_image(rho[r, c], _style.time_color(t), peak=peak)
            ax.imshow(img, origin="lower", extent=canvas.extent)
            _style.bare(ax)
            if r == 0:
                ax.set_title(f"t = {t:g}", fontsize=9)
            if masses is not None:
                ax.set_xlabel(f"mass {float(masses[r][c]):.3f}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=9)
    return fig
