"""The seed's geodesic figure: a density sequence and midpoint velocity arrows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .. import _particles
from ..errors import InputError, check_int
from ..fields import density
from ..grid import Grid
from ..hk import HKPlan
from ..kernels.native import farthest_points
from ..plan import Plan
from . import _style


def _figure(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _check_plan(plan) -> None:
    _particles.check(plan, "figures")


def _local_density(points: torch.Tensor, mass: torch.Tensor, sigma: float, resolution: int | None):
    """Density of ``points`` on a crop padded by the kernel halo: ``(grid, rho (Nx, Ny))``."""
    pad = _style.HALO_SIGMAS * sigma
    p = points.detach()
    extent = float((p.max(0).values - p.min(0).values).max()) + 2 * pad
    res = resolution or _style.default_resolution(extent, sigma)
    grid = Grid.around(p, res, pad)
    rho = density(p, mass.detach(), grid, sigma)
    return grid, rho.double().cpu().numpy()


def _spread_pairs(mass: torch.Tensor, points: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of ``count`` particles with ``mass (K,)``, evenly spread by their ``points (K, 2)``
    (farthest-point sampling)."""
    keep = torch.nonzero(mass > 0).reshape(-1)
    count = min(int(count), keep.numel())
    if count == 0:
        return keep
    return keep[farthest_points(points[keep].detach(), count).to(keep.device)]


def _sigma(plan, sigma: float | None) -> float:
    from ..errors import check_positive

    return check_positive(sigma, "sigma") if sigma is not None else _particles.sigma_of(plan)


def density_sequence(
    plan: Plan | HKPlan,
    times: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    sigma: float | None = None,
    *,
    ax=None,
    resolution: int | None = None,
    labels: bool = True,
):
    """Kernel-smoothed densities of the McCann interpolation, one local crop per time.

    Each panel is cropped around its particles with a halo of 2.7 ``sigma`` and
    coloured from red (t = 0) to blue (t = 1); panels are laid out left to right.
    For an :class:`~lagrangian_ot.HKPlan` the particles follow the WFR geodesic
    (:func:`~lagrangian_ot.hk_interpolate`) and all panels share one opacity scale,
    so that mass that fades or grows shows as it is.

    Parameters
    ----------
    plan : Plan or HKPlan
        A 2-D plan (for example from :func:`lagrangian_ot.match` or
        :func:`lagrangian_ot.hk_plan`).
    times : sequence of float
        Times of the panels.
    sigma : float, optional
        Kernel bandwidth; default about the particle spacing.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when None.
    resolution : int, optional
        Cells along the longest side of each crop (default from ``sigma``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_plan(plan)
    times = [float(t) for t in times]
    if not times:
        raise InputError("times is empty")
    sig = _sigma(plan, sigma)
    fig, ax = _figure(ax, (2.2 * len(times), 2.6))
    cursor, gap, top, bottom = 0.0, None, -np.inf, np.inf
    centres = []
    crops = [_local_density(*_particles.at(plan, t)[:2], sig, resolution) for t in times]
    peak = max(float(rho.max()) for _, rho in crops) if _particles.fades(plan) else None
    for t, (grid, rho) in zip(times, crops):
        (x0, x1, y0, y1) = grid.extent
        gap = 0.08 * (x1 - x0) if gap is None else gap
        shift = cursor - x0
        ax.imshow(
            _style.rgba_image(rho, _style.time_color(t), peak=peak),
            origin="lower", extent=(x0 + shift, x1 + shift, y0, y1), interpolation="bilinear",
        )  # fmt: skip
        centres.append(cursor + (x1 - x0) / 2)
        cursor += (x1 - x0) + gap
        top, bottom = max(top, y1), min(bottom, y0)
    if labels:
        for c, t in zip(centres, times):
            ax.text(c, bottom, f"t = {t:g}", ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.5 * gap, cursor - 0.5 * gap)
    ax.set_ylim(bottom - (0.12 * (top - bottom) if labels else 0), top)
    _style.bare(ax)
    return fig


def arrow_segments(
    plan: Plan | HKPlan, n_arrows: int = 90, scale: float | None = None, t: float = 0.5
):
    """Shortened arrows along the characteristics, centred at evenly spread particles.

    Particles ``Z_t`` with mass at ``t`` are subsampled by farthest-point sampling; arrow
    ``k`` is the segment of direction ``V = y - x`` and length ``scale |V|`` centred at
    ``Z_t``, so its tail lies on the source side and its head on the target side. For an
    :class:`~lagrangian_ot.HKPlan`, ``V = end - start`` and only particles that travel carry
    an arrow (none where all mass fades and grows in place: then ``A = 0``).

    Returns ``(index (A,), tails (A, 2), heads (A, 2))``.
    """
    _check_plan(plan)
    n_arrows = check_int(n_arrows, "n_arrows", 1)
    z, mass, _ = _particles.at(plan, float(t))
    z = z.detach()  # (K, 2)
    v = _particles.displacement(plan).detach()  # (K, 2)
    if _particles.fades(plan):  # particles that only grow or fade stay put: no arrow
        mass = torch.where(v.norm(dim=1) > 0, mass, torch.zeros_like(mass))
    idx = _spread_pairs(mass, z, n_arrows)
    count = idx.numel()
    if count == 0:
        return idx, z[idx], z[idx]
    # median arrow about 0.8 of the spacing of the arrows: no arrow runs into the next
    if scale is None:
        centres = z[idx].double()
        gaps = torch.cdist(centres, centres).fill_diagonal_(float("inf")).min(1).values
        spacing = (
            float(gaps.median()) if count > 1 else float((z.max(0).values - z.min(0).values).max())
        )
        length = float(v[idx].norm(dim=1).median())
        scale = min(0.5, 0.8 * spacing / length) if length > 0 else 0.5
    elif not float(scale) > 0:
        raise InputError(f"scale must be > 0, got {scale}")
    half = 0.5 * float(scale) * v[idx]  # (A, 2)
    return idx, z[idx] - half, z[idx] + half


def midpoint_arrows(
    plan: Plan | HKPlan,
    n_arrows: int = 90,
    scale: float | None = None,
    *,
    t: float = 0.5,
    sigma: float | None = None,
    ax=None,
    resolution: int | None = None,
    labels: bool = True,
):
    """Density at time ``t`` (default 1/2) with shortened velocity arrows.

    About ``n_arrows`` evenly spread particles carry an arrow along ``y - x``,
    ``scale`` times its length (default: the median arrow is 0.8 of the
    spacing between arrows, so arrows do not run into each other),
    from a source-side tail to a target-side head.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_plan(plan)
    sig = _sigma(plan, sigma)
    fig, ax = _figure(ax, (3.0, 3.0))
    z, mass, _ = _particles.at(plan, float(t))
    grid, rho = _local_density(z, mass, sig, resolution)
    ax.imshow(
        _style.rgba_image(rho, _style.time_color(t)) * np.array([1, 1, 1, 0.85]),
        origin="lower", extent=grid.extent, interpolation="bilinear",
    )  # fmt: skip
    _, tails, heads = arrow_segments(plan, n_arrows, scale, t)
    tails = tails.double().cpu().numpy()
    d = heads.double().cpu().numpy() - tails
    if len(tails):
        ax.quiver(
            tails[:, 0], tails[:, 1], d[:, 0], d[:, 1],
            angles="xy", scale_units="xy", scale=1.0, color=_style.ARROW_COLOR,
            width=0.0045, headwidth=3.6, headlength=4.2, headaxislength=3.8, zorder=3,
        )  # fmt: skip
    x0, x1, y0, y1 = grid.extent
    reach = np.concatenate([tails, tails + d, [[x0, y0], [x1, y1]]])  # the crop and the arrows
    ax.set_xlim(reach[:, 0].min(), reach[:, 0].max())
    bottom, top = reach[:, 1].min(), reach[:, 1].max()
    if labels:
        ax.text(0.5 * (x0 + x1), bottom, f"t = {float(t):g}", ha="center", va="top", fontsize=9)
        bottom -= 0.12 * (top - bottom)
    ax.set_ylim(bottom, top)
    _style.bare(ax)
    return fig


def geodesic_figure(
    plan: Plan | HKPlan,
    times: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    sigma: float | None = None,
    *,
    n_arrows: int = 90,
    scale: float | None = None,
):
    """The seed's figure: the density sequence (left) and the midpoint arrows (right)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.2 * len(times) + 3.0, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[len(times), 1.35])
    density_sequence(plan, times, sigma, ax=left)
    midpoint_arrows(plan, n_arrows, scale, sigma=sigma, ax=right)
    return fig
