"""Entropic barycentre paths on grids, balanced and KL-relaxed, against POT and invariances."""

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from lagrangian_ot import Grid, InputError
from lagrangian_ot.unbalanced import barycenter_path, gaussian_mixture, kernel_log_scale

GRID = Grid((-3.0,), (3.0,), (90,))
TIMES = (0.0, 0.3, 0.7, 1.0)


def _pair(grid=GRID):
    x = grid.axes[0]
    a = gaussian_mixture(x, ((0.8, -1.2, 0.3), (0.2, 0.8, 0.3)))
    b = gaussian_mixture(x, ((0.3, -0.6, 0.35), (0.7, 1.3, 0.25)))
    vol = grid.cell_volume
    return a / (a.sum() * vol), b / (b.sum() * vol)


@pytest.mark.slow
@pytest.mark.parametrize("reach", [None, 0.6])
def test_matches_pot_barycenters(reach):
    ot = pytest.importorskip("ot")
    a, b = _pair()
    blur = 0.2
    eps = 2 * blur**2
    path = barycenter_path(a, b, GRID, TIMES, blur=blur, reach=reach, tol=1e-11)
    x = GRID.axes[0].numpy()
    # the heat kernel, as POT's cost
    M = (x[:, None] - x[None, :]) ** 2 - eps * kernel_log_scale(GRID, eps)
    A = np.stack([a.numpy(), b.numpy()], axis=1)
    for k, t in enumerate(TIMES):
        w = np.array([1 - t, t])
        if reach is None:
            ref = ot.bregman.barycenter(
                A, M, eps, weights=w, method="sinkhorn_log", numItermax=20000, stopThr=1e-12
            )
        else:
            ref = ot.unbalanced.barycenter_unbalanced(
                A, M, eps, 2 * reach**2, weights=w, numItermax=50000, stopThr=1e-13
            )
        np.testing.assert_allclose(path[k].numpy(), ref, rtol=0, atol=1e-6 * ref.max())


@pytest.mark.slow
def test_balanced_conserves_mass_and_relaxed_dips_between_equal_ends():
    a, b = _pair()
    vol = GRID.cell_volume
    bal = barycenter_path(a, b, GRID, TIMES, blur=0.15)
    rel = barycenter_path(a, b, GRID, TIMES, blur=0.15, reach=0.8)
    np.testing.assert_allclose((bal.sum(1) * vol).numpy(), 1.0, atol=5e-6)
    m = (rel.sum(1) * vol).numpy()
    bias = (0.15 / 0.8) ** 2  # the relaxed ends carry an entropic excess of order eps / rho
    assert abs(m[0] - 1) < bias and abs(m[-1] - 1) < bias
    assert m[1] < m[0] and m[2] < m[-1] and m.min() > 0.5


def test_symmetry_and_endpoints():
    x = GRID.axes[0]
    a = gaussian_mixture(x, ((1.0, -1.0, 0.3),))
    b = torch.flip(a, [0])  # mirror image: the path is mirror-symmetric in time and space
    path = barycenter_path(a, b, GRID, (0.0, 0.25, 0.5, 0.75, 1.0), blur=0.15)
    torch.testing.assert_close(path[2], torch.flip(path[2], [0]), rtol=0, atol=1e-8)
    torch.testing.assert_close(path[1], torch.flip(path[3], [0]), rtol=0, atol=1e-8)

    def mean(p):
        return float((p * x).sum() / p.sum())

    # the balanced path moves the bump: its mean goes linearly from -1 to 1
    np.testing.assert_allclose([mean(p) for p in path], [-1.0, -0.5, 0.0, 0.5, 1.0], atol=2e-3)


def test_two_dimensional_grid():
    grid = Grid((-2.0, -1.5), (2.0, 1.5), (40, 30))
    X, Y = torch.meshgrid(*grid.axes, indexing="ij")
    a = torch.exp(-((X + 1) ** 2 + Y**2) / 0.2)
    b = torch.exp(-((X - 1) ** 2 + Y**2) / 0.2)
    a, b = a / (a.sum() * grid.cell_volume), b / (b.sum() * grid.cell_volume)
    path = barycenter_path(a, b, grid, (0.5,), blur=0.15)
    assert path.shape == (1, 40, 30)
    assert float(path.sum() * grid.cell_volume) == pytest.approx(1.0, abs=1e-5)
    centre = float((path[0] * X).sum() / path[0].sum())
    assert abs(centre) < 1e-6


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a, b: (-a, b), "negative"),
        (lambda a, b: (a * 0, b), "zero everywhere"),
        (lambda a, b: (a[:-1], b), "shape"),
        (lambda a, b: (a * 2, b), "different masses"),
        (lambda a, b: (a.clone().fill_(float("nan")), b), "NaN"),
    ],
)
def test_bad_densities(change, message):
    a, b = _pair()
    with pytest.raises(InputError, match=message):
        barycenter_path(*change(a, b), GRID, blur=0.2)


@pytest.mark.parametrize(
    "kwargs", [{"blur": 0.0}, {"blur": 0.2, "reach": -1.0}, {"blur": 0.2, "times": [1.5]}]
)
def test_bad_settings(kwargs):
    a, b = _pair()
    kwargs = dict(kwargs)
    times = kwargs.pop("times", TIMES)
    with pytest.raises(InputError):
        barycenter_path(a, b, GRID, times, **kwargs)


@pytest.mark.slow
def test_lagot_unbalanced_reproduces_the_seed_figure(tmp_path):
    args = [sys.executable, "-m", "lagrangian_ot", "unbalanced", "--out", str(tmp_path / "u")]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "u").iterdir()) == [
        "unbalanced.pdf",
        "unbalanced.png",
    ]
    bal, rel = (list(map(float, m.split())) for m in re.findall(r"\[([^\]]*)\]", r.stdout))
    assert all(abs(m - 1) <= 5e-6 for m in bal)  # REFERENCE.md: balanced mass 1 to 5e-6
    # relaxed: dips, stays in (0.8, 1.01)
    assert all(0.8 < m < 1.01 for m in rel) and min(rel) < 0.95


@pytest.mark.slow
@pytest.mark.parametrize("mixture", ["1:0", "", "1:50:0.1"])
def test_lagot_unbalanced_bad_mixture(tmp_path, mixture):
    args = [sys.executable, "-m", "lagrangian_ot", "unbalanced", "--alpha", mixture]
    out = str(tmp_path / "u")
    r = subprocess.run([*args, "--out", out], capture_output=True, text=True, timeout=120)
    assert (
        r.returncode == 2
        and r.stderr.startswith("lagot: error:")
        and len(r.stderr.strip().splitlines()) == 1
    )
    assert not (tmp_path / "u").exists()
