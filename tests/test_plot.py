"""Figures: the arrows' geometry, the colours, the files."""

import numpy as np
import pytest
import torch
from PIL import Image

from lagrangian_ot import InputError, load_silhouette, match, mccann, plot


@pytest.fixture(scope="module")
def plan():
    x = load_silhouette("cat", 300, dtype=torch.float64) - torch.tensor(
        [1.5, 0.0], dtype=torch.float64
    )
    y = load_silhouette("disks", 300, dtype=torch.float64) + torch.tensor(
        [1.5, 0.0], dtype=torch.float64
    )
    return match(x, y)


def test_arrows_run_from_source_side_to_target_side(plan):
    idx, tails, heads = plot.arrow_segments(plan)
    assert 85 <= len(idx) <= 90
    x = plan.x[plan.src[idx]]
    y = plan.y[plan.dst[idx]]
    mid = mccann(plan, 0.5)[idx]
    torch.testing.assert_close((tails + heads) / 2, mid)  # centred at the midpoint particle
    assert bool(((tails - x).norm(dim=1) < (heads - x).norm(dim=1)).all())  # tail nearer the source
    assert bool(((heads - y).norm(dim=1) < (tails - y).norm(dim=1)).all())  # head nearer the target
    seg, v = heads - tails, y - x
    cross = seg[:, 0] * v[:, 1] - seg[:, 1] * v[:, 0]
    assert float(cross.abs().max()) < 1e-12  # collinear with Y - X
    assert bool(((seg * v).sum(1) > 0).all())  # pointing the same way
    assert bool((seg.norm(dim=1) < v.norm(dim=1)).all())  # shortened


def test_arrows_are_evenly_spread(plan):
    idx, _, _ = plot.arrow_segments(plan, n_arrows=60)
    mid = mccann(plan, 0.5)
    d = torch.cdist(mid[idx], mid[idx])
    d.fill_diagonal_(np.inf)
    rnd = torch.randperm(mid.shape[0], generator=torch.Generator().manual_seed(0))[:60]
    dr = torch.cdist(mid[rnd], mid[rnd])
    dr.fill_diagonal_(np.inf)
    assert float(d.min()) > 2 * float(dr.min())


def test_arrow_scale_and_count_arguments(plan):
    _, t1, h1 = plot.arrow_segments(plan, n_arrows=10, scale=0.2)
    assert len(t1) == 10
    idx, _, _ = plot.arrow_segments(plan, n_arrows=10, scale=0.2)
    torch.testing.assert_close((h1 - t1), 0.2 * plan.velocity[idx])
    with pytest.raises(InputError):
        plot.arrow_segments(plan, n_arrows=0)
    with pytest.raises(InputError):
        plot.arrow_segments(plan, scale=-1.0)


def _ink(path):
    """Mean colour of the inked (non-white) pixels in the left and right fifth of a PNG."""
    img = np.asarray(Image.open(path).convert("RGB")).astype(float) / 255
    w = img.shape[1]
    out = []
    for part in (img[:, : w // 5], img[:, -w // 5 :]):
        ink = part[(part.sum(-1) < 2.4)]
        out.append(ink.mean(0))
    return out


def test_density_sequence_goes_red_to_blue(plan, tmp_path):
    fig = plot.density_sequence(plan)
    plot.save(fig, tmp_path / "seq.png")
    left, right = _ink(tmp_path / "seq.png")
    assert left[0] > left[2] + 0.2  # red
    assert right[2] > right[0] + 0.2  # blue


def test_panels_cover_the_whole_smoothed_silhouette(plan):
    """The crop is padded by the kernel halo: the density on the crop's edge is negligible."""
    from lagrangian_ot.plot._geodesic import _local_density

    sigma = plot.default_sigma(plan.x)
    for t in (0.0, 0.5, 1.0):
        _, rho = _local_density(mccann(plan, t), plan.mass, sigma, None)
        edge = np.concatenate([rho[0], rho[-1], rho[:, 0], rho[:, -1]])
        assert edge.max() < 0.05 * rho.max()


@pytest.mark.slow
def test_figures_take_an_axes_and_save_png_pdf_svg(plan, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plot.midpoint_arrows(plan, ax=ax) is fig
    assert plot.density_sequence(plan, [0.0, 1.0], ax=ax) is fig
    for suffix, magic in ((".png", b"\x89PNG"), (".pdf", b"%PDF"), (".svg", b"<?xml")):
        plot.save(plot.geodesic_figure(plan), tmp_path / f"f{suffix}")
        assert (tmp_path / f"f{suffix}").read_bytes()[:5].startswith(magic)
    with pytest.raises(InputError, match="cannot save"):
        plot.save(fig, tmp_path / "f.bmp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png", "f.svg"]  # no leftovers


def test_plot_rejects_bad_plans(plan):
    with pytest.raises(InputError):
        plot.density_sequence("not a plan")
    x3 = torch.rand(10, 3, dtype=torch.float64)
    with pytest.raises(InputError, match="2-D"):
        plot.density_sequence(match(x3, x3))
    with pytest.raises(InputError, match="times"):
        plot.density_sequence(plan, [])


@pytest.fixture(scope="module")
def hk():
    """Two clouds farther apart than pi kappa for the first kappa (mass fades and grows in
    place) with twice the mass at the target, and close enough for the second (mass travels)."""
    from lagrangian_ot import hk_plan

    g = torch.Generator().manual_seed(11)
    x = torch.rand(80, 2, generator=g, dtype=torch.float64) * 0.5
    y = torch.rand(60, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor(
        [0.9, 0.0], dtype=torch.float64
    )
    b = torch.full((60,), 2.0 / 60, dtype=torch.float64)
    return hk_plan(x, y, None, b, 0.05), hk_plan(x, y, None, b, 0.5)


def test_every_figure_takes_an_hk_plan(hk, tmp_path):
    for plan in hk:
        for name, fig in (
            ("sequence", plot.density_sequence(plan, (0.0, 0.5, 1.0))),
            ("arrows", plot.midpoint_arrows(plan, 20)),
            ("geodesic", plot.geodesic_figure(plan, (0.0, 1.0), n_arrows=20)),
            ("trajectories", plot.trajectories(plan, 20)),
            ("velocity", plot.velocity_field(plan, 0.5, cells=12)),
            ("lines", plot.plan_lines(plan, max_lines=50)),
        ):
            plot.save(fig, tmp_path / f"{name}.png")
            assert (tmp_path / f"{name}.png").stat().st_size > 0


def test_hk_arrows_ride_the_travelling_particles(hk):
    from lagrangian_ot import hk_interpolate

    plan = hk[1]
    idx, tails, heads = plot.arrow_segments(plan, n_arrows=15, scale=0.3, t=0.4)
    z, h, _, _ = hk_interpolate(plan, 0.4)
    torch.testing.assert_close((tails + heads) / 2, z[idx])  # centred at the particle at t
    torch.testing.assert_close(heads - tails, 0.3 * (plan.end - plan.start)[idx])
    assert bool((h[idx] > 0).all())  # only particles with mass at t carry an arrow


def test_hk_density_sequence_shares_one_opacity_scale(hk, monkeypatch):
    # the panels of a plan whose mass changes are drawn against the largest density of all
    # panels: with mass fading in place, the midpoint panel is lighter than the last one
    from lagrangian_ot.plot import _geodesic

    peaks = []
    real = _geodesic._style.rgba_image
    monkeypatch.setattr(
        _geodesic._style,
        "rgba_image",
        lambda rho, rgb, **kw: peaks.append(kw) or real(rho, rgb, **kw),
    )
    plot.density_sequence(hk[0], (0.0, 0.5, 1.0))
    assert len(peaks) == 3 and len({p["peak"] for p in peaks}) == 1 and peaks[0]["peak"] > 0
    peaks.clear()
    plot.density_sequence(match(hk[0].x, hk[0].x + 1), (0.0, 1.0))  # balanced: each panel its own
    assert [p["peak"] for p in peaks] == [None, None]
