"""Histograms and pictures on grids as densities: exact plans on pixel centres, and the command
line."""

import numpy as np
import ot
import pytest
import torch
from PIL import Image

import lagrangian_ot as lot
from lagrangian_ot.cli import main

F64 = torch.float64


def pot_cost(rho0, grid0, rho1, grid1):
    a = rho0.reshape(-1).numpy() / float(rho0.sum())
    b = rho1.reshape(-1).numpy() / float(rho1.sum())
    C = ot.dist(grid0.points().numpy(), grid1.points().numpy())
    return float(ot.emd2(a, b, C, numItermax=10**8))


def test_one_dimensional_histograms_match_sorting():
    g = lot.Grid((0.0,), (1.0,), (4,))
    plan = lot.match_histograms(torch.tensor([1.0, 0, 0, 1]), torch.tensor([0, 1.0, 1, 0]), g)
    assert plan.src.tolist() == [0, 3] and plan.dst.tolist() == [1, 2]
    assert float(plan.cost) == pytest.approx(2 * 0.5 * 0.25**2)


@pytest.mark.parametrize("zeros", [0.0, 0.6])
def test_histograms_on_two_grids_against_pot(zeros, gen):
    g0 = lot.Grid((0.0, 0.0), (1.0, 1.0), (12, 9))
    g1 = lot.Grid((0.3, -0.2), (1.5, 0.8), (7, 11))
    rho0 = torch.rand(g0.shape, generator=gen, dtype=F64)
    rho1 = torch.rand(g1.shape, generator=gen, dtype=F64) ** 3
    rho0[torch.rand(g0.shape, generator=gen) < zeros] = 0
    plan = lot.match_histograms(rho0, rho1, g0, g1)
    ref = pot_cost(rho0, g0, rho1, g1)
    assert float(plan.cost) == pytest.approx(ref, rel=1e-9)
    assert plan.gap <= 1e-12
    # the plan lives on all cell centres: flat C-order indices, rows and columns are the histograms
    assert plan.x.shape == (108, 2) and plan.y.shape == (77, 2)
    rows = torch.zeros(108, dtype=F64).index_add_(0, plan.src, plan.mass)
    cols = torch.zeros(77, dtype=F64).index_add_(0, plan.dst, plan.mass)
    torch.testing.assert_close(rows, rho0.reshape(-1) / rho0.sum(), atol=1e-13, rtol=0)
    torch.testing.assert_close(cols, rho1.reshape(-1) / rho1.sum(), atol=1e-13, rtol=0)
    # dual potentials on every cell, feasible on all pairs (empty cells included)
    f, g = plan.potentials
    C = torch.cdist(plan.x, plan.y) ** 2
    assert bool((f[:, None] + g[None, :] <= C + 1e-12).all())
    assert float(plan.cost) - float((f * rows).sum() + (g * cols).sum()) <= 1e-12


def test_bad_histograms_are_one_line_errors():
    g = lot.Grid((0.0, 0.0), (1.0, 1.0), (3, 3))
    ok = torch.ones(3, 3, dtype=F64)
    for bad, msg in [
        (torch.zeros(3, 3, dtype=F64), "zero everywhere"),
        (-ok, "negative"),
        (torch.ones(2, 3, dtype=F64), "shape"),
        (ok.clone().fill_(float("nan")), "NaN"),
        (np.ones((3, 3)), "torch.Tensor"),
    ]:
        with pytest.raises(lot.InputError, match=msg):
            lot.match_histograms(bad, ok, g)
    with pytest.raises(lot.InputError, match="dimensions"):
        lot.match_histograms(ok, torch.ones(3, dtype=F64), g, lot.Grid((0.0,), (1.0,), (3,)))


def test_image_histogram_reads_grey_levels_as_mass(tmp_path):
    img = np.full((20, 40), 255, dtype=np.uint8)
    img[:10, :20] = 0  # black top-left quarter
    Image.fromarray(img).save(tmp_path / "a.png")
    rho, grid = lot.image_histogram(tmp_path / "a.png", 200)
    assert grid.shape == (20, 10) and float(rho.sum()) == pytest.approx(1.0)
    assert grid.hi[0] - grid.lo[0] == pytest.approx(1.0) and grid.hi[1] - grid.lo[
        1
    ] == pytest.approx(0.5)
    # ink on paper: all the mass in the left half (x) and the top half (y up)
    assert float(rho[:10, 5:].sum()) == pytest.approx(1.0)
    bright, _ = lot.image_histogram(tmp_path / "a.png", 200, mass="bright")
    assert float(bright[10:, :].sum() + bright[:10, :5].sum()) == pytest.approx(1.0)
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(tmp_path / "white.png")
    with pytest.raises(lot.InputError, match="white everywhere"):
        lot.image_histogram(tmp_path / "white.png", 64)
    with pytest.raises(lot.InputError, match="mass must be"):
        lot.image_histogram(tmp_path / "a.png", 64, mass="grey")


def test_interpolate_density_end_to_end(tmp_path, capsys):
    yy, xx = np.mgrid[0:48, 0:48]
    for name, (cx, cy) in {"a.png": (14, 14), "b.png": (34, 30)}.items():
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 40.0)
        Image.fromarray((255 * (1 - blob)).astype(np.uint8)).save(tmp_path / name)
    out = tmp_path / "out"
    args = [
        "interpolate",
        str(tmp_path / "a.png"),
        str(tmp_path / "b.png"),
        "--density",
        "--n",
        "900",
    ]
    assert main([*args, "--times", "0,0.5,1", "--out", str(out)]) == 0
    assert "method exact" in capsys.readouterr().out
    data = np.load(out / "geodesic.npz")
    assert data["x"].shape == (900, 2) and float(data["mass"].sum()) == pytest.approx(1.0)
    # the dark blob moves 20 pixels right and 16 down (of 2/48 each), besides the side-by-side shift
    # of 3
    shift = (data["mass"][:, None] * (data["y"][data["dst"]] - data["x"][data["src"]])).sum(0)
    np.testing.assert_allclose(shift, [3 + 20 * 2 / 48, -16 * 2 / 48], atol=0.08)
    assert {"figure.png", "density-sequence.png", "midpoint-velocities.png"} <= set(
        p.name for p in out.iterdir()
    )
    assert main([*args, "--out", str(tmp_path / "x"), "--n", "2"]) == 2
