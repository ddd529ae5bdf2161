"""Figures of the particles themselves: trajectories, plan lines, the Eulerian velocity field."""

from __future__ import annotations

import numpy as np
import torch

from .. import _particles
from ..errors import InputError, check_int, check_times
from ..fields import density_and_momentum
from ..grid import Grid
from ..hk import HKPlan
from ..plan import Plan
from . import _style
from ._geodesic import _check_plan, _figure, _local_density, _sigma, _spread_pairs


def _clouds(ax, plan: Plan | HKPlan, dot: float, alpha: float) -> None:
    """The source (red) and target (blue) points."""
    for cloud, rgb in ((plan.x, _style.SOURCE_RGB), (plan.y, _style.TARGET_RGB)):
        p = cloud.detach().double().cpu().numpy()
        ax.scatter(p[:, 0], p[:, 1], s=dot, color=rgb, alpha=alpha, linewidths=0, zorder=3)


def trajectories(plan: Plan | HKPlan, n_paths: int = 150, *, ax=None, steps: int = 32):
    """The characteristics ``Z_t = (1 - t) x + t y`` of evenly spread particles (those of an
    :class:`~lagrangian_ot.HKPlan` run on the same segments, from ``start`` to ``end``).

    Each path is drawn as short segments coloured from red (t = 0) to blue
    (t = 1), over faint source and target clouds.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.collections import LineCollection

    _check_plan(plan)
    n_paths, steps = check_int(n_paths, "n_paths", 1), check_int(steps, "steps", 1)
    fig, ax = _figure(ax, (5.0, 2.6))
    ts = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    z, mass, _ = _particles.at(plan, ts)  # (T, K, 2), (T, K)
    idx = _spread_pairs(mass.amax(0), z[0], n_paths)
    z = z[:, idx].double().cpu().numpy()  # (T, A, 2)
    segs = np.stack([z[:-1], z[1:]], axis=2).reshape(-1, 2, 2)  # (T - 1) * A segments
    mid = 0.5 * (ts[:-1] + ts[1:]).numpy()
    colours = np.repeat(np.stack([_style.time_color(t) for t in mid]), len(idx), axis=0)
    _clouds(ax, plan, max(0.3, 6000 / max(len(plan.x), 1)), 0.4)
    ax.add_collection(LineCollection(segs, colors=colours, linewidths=0.6, alpha=0.6, zorder=4))
    ax.autoscale_view()
    _style.bare(ax)
    return fig


def plan_lines(plan: Plan | HKPlan, *, ax=None, max_lines: int = 3000):
    """The transport plan as lines between matched points (for small ``n``).

    Line opacity follows the mass moved (a permutation: all equal; an
    :class:`~lagrangian_ot.HKPlan`'s ``gamma``, zero where mass only grows or fades);
    at most ``max_lines`` of the heaviest pairs are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.collections import LineCollection

    _check_plan(plan)
    max_lines = check_int(max_lines, "max_lines", 1)
    fig, ax = _figure(ax, (5.0, 2.6))
    mass = (plan.gamma if isinstance(plan, HKPlan) else plan.mass).detach().double().cpu()
    # pairs with mass
    order = torch.argsort(mass, descending=True)[: min(max_lines, int((mass > 0).sum()))]
    xs = plan.x[plan.src[order]].detach().double().cpu().numpy()
    yd = plan.y[plan.dst[order]].detach().double().cpu().numpy()
    w = (mass[order] / max(float(mass.max()), 1e-300)).numpy()
    rgba = np.zeros((len(order), 4))
    rgba[:, :3] = 0.35
    rgba[:, 3] = 0.15 + 0.45 * w
    ax.add_collection(LineCollection(np.stack([xs, yd], axis=1), colors=rgba, linewidths=0.6))
    _clouds(ax, plan, min(16.0, max(1.0, 4000 / max(len(plan.x), 1))), 1.0)
    ax.autoscale_view()
    _style.bare(ax)
    return fig


def velocity_field(
    plan: Plan | HKPlan,
    t: float = 0.5,
    *,
    sigma: float | None = None,
    kind: str = "arrows",
    ax=None,
    cells: int = 28,
    floor: float = 0.05,
    resolution: int | None = None,
):
    """The Eulerian velocity ``v = m / rho`` at time ``t`` over the density (of an
    :class:`~lagrangian_ot.HKPlan`: of its travelling particles, which carry their masses and
    velocities at ``t``).

    ``kind="arrows"``: arrows on a regular ``cells``-wide grid; ``"streamlines"``:
    streamlines. Both are masked where the density is below ``floor`` times its
    maximum (there ``v`` is undefined).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_plan(plan)
    if kind not in ("arrows", "streamlines"):
        raise InputError(f"kind must be 'arrows' or 'streamlines', got {kind!r}")
    t = float(check_times(t, "t")[0][0])
    if not 0.0 < float(floor) < 1.0:
        raise InputError(f"floor must be in (0, 1), got {floor}")
    sig = _sigma(plan, sigma)
    fig, ax = _figure(ax, (3.2, 3.2))
    z, mass, velocity = _particles.at(plan, float(t))
    grid, rho_img = _local_density(z, mass, sig, resolution)
    ax.imshow(
        _style.rgba_image(rho_img, _style.time_color(t)) * np.array([1, 1, 1, 0.8]),
        origin="lower", extent=grid.extent, interpolation="bilinear",
    )  # fmt: skip
    x0, x1, y0, y1 = grid.extent
    side = max(x1 - x0, y1 - y0)
    n = (max(4, round(cells * (x1 - x0) / side)), max(4, round(cells * (y1 - y0) / side)))
    coarse = Grid((x0, y0), (x1, y1), n)
    rho, mom = density_and_momentum(z, mass, velocity, coarse, sig)
    rho = rho.double().cpu().numpy()
    mom = mom.double().cpu().numpy()
    mask = rho > floor * rho.max()
    v = np.where(mask[..., None], mom / np.where(mask, rho, 1.0)[..., None], np.nan)  # (Nx, Ny, 2)
    gx, gy = (ax_.double().cpu().numpy() for ax_ in coarse.axes)
    if kind == "arrows" and np.any(v[mask] != 0):  # nothing to draw where nothing moves
        X, Y = np.meshgrid(gx, gy, indexing="ij")
        ax.quiver(
            X[mask], Y[mask], v[..., 0][mask], v[..., 1][mask], color=_style.ARROW_COLOR,
            angles="xy", width=0.004, headwidth=3.6, headlength=4.2, headaxislength=3.8, zorder=3,
        )  # fmt: skip
    elif kind == "streamlines":
        ax.streamplot(gx, gy, v[..., 0].T, v[..., 1].T, color=_style.ARROW_COLOR, density=1.0,
                      linewidth=0.6, arrowsize=0.7, broken_streamlines=True)  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    _style.bare(ax)
    return fig
