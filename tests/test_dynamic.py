"""Benamou-Brenier on grids against closed forms, 1-D quantiles and the Lagrangian pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lagrangian_ot as lot
from lagrangian_ot import Grid, InputError
from lagrangian_ot.dynamic import benamou_brenier

BOX2 = Grid((0.0, 0.0), (1.0, 1.0), (64, 64))
M0, S0 = (0.36, 0.42), 0.07
M1, S1 = (0.62, 0.58), 0.09
W2_GAUSS = (M1[0] - M0[0]) ** 2 + (M1[1] - M0[1]) ** 2 + 2 * (S1 - S0) ** 2  # isotropic closed form


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The grids here are small: one thread avoids OpenMP start-up costs on every operation."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian(grid: Grid, mean, std, mass=1.0, dtype=torch.float64):
    p = grid.points().to(dtype)
    r = torch.exp(-((p - torch.tensor(mean, dtype=dtype)) ** 2).sum(-1) / (2 * std**2)).reshape(
        grid.shape
    )
    return mass * r / (r.sum() * grid.cell_volume)


def square_grid(n: int) -> Grid:
    return Grid((0.0, 0.0), (1.0, 1.0), (n, n))


@pytest.fixture(scope="module")
def gauss64():
    g = BOX2
    return benamou_brenier(
        gaussian(g, M0, S0), gaussian(g, M1, S1), g, n_times=32, tol=1e-3, multilevel=False
    )


@pytest.mark.slow
def test_gaussians_2d_within_one_percent(gauss64):
    res = gauss64
    assert res.converged
    assert abs(res.value / W2_GAUSS - 1) < 0.01
    # the path is a geodesic: the mean moves linearly
    p = BOX2.points().reshape(64, 64, 2).double()
    mass = res.rho.sum((1, 2)) * BOX2.cell_volume
    mean = (res.rho[..., None] * p).sum((1, 2)) * BOX2.cell_volume / mass[:, None]
    t = res.times[:, None]
    expected = (1 - t) * torch.tensor(M0) + t * torch.tensor(M1)
    assert torch.allclose(mass, torch.ones_like(mass), atol=1e-8)
    assert (mean - expected).abs().max() < 2e-3


@pytest.mark.slow
def test_the_path_is_a_valid_density_path():
    """The returned path is nonnegative with each time's mass kept, so it goes straight into
    least_action_velocity (the README's example); the splitting's iterate dips below zero."""
    from lagrangian_ot.dynamic import least_action_velocity

    g = square_grid(24)
    res = benamou_brenier(
        gaussian(g, (0.3, 0.4), 0.07), gaussian(g, (0.65, 0.6), 0.1), g, n_times=12
    )
    assert float(res.rho.min()) >= 0.0
    mass = res.rho.flatten(1).sum(1) * g.cell_volume
    assert torch.allclose(mass, torch.ones_like(mass), atol=1e-10)
    v = least_action_velocity(res.rho, g, dt=1 / 12)
    assert bool(torch.isfinite(v.velocity).all())


def test_gaussians_error_falls_with_the_grid(gauss64):
    errors = []
    for n, steps in ((8, 4), (12, 6)):
        g = square_grid(n)
        res = benamou_brenier(gaussian(g, M0, S0), gaussian(g, M1, S1), g, n_times=steps, tol=1e-4)
        errors.append(abs(res.value / W2_GAUSS - 1))
    errors.append(abs(gauss64.value / W2_GAUSS - 1))
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.slow
def test_primal_dual_identities(gauss64):
    res = gauss64
    h = BOX2.spacing[0]
    phi = res.potential  # (T, n, n) at mid-times
    grad = torch.stack(torch.gradient(phi, spacing=h, dim=(1, 2)), dim=-1)
    rho_mid = 0.5 * (res.rho[1:] + res.rho[:-1])
    support = rho_mid > 0.05 * rho_mid.amax()
    m = res.momentum
    err = (m - rho_mid[..., None] * grad / 2)[support].norm() / m[support].norm()
    assert err < 0.02
    # Hamilton-Jacobi d_t phi + |grad phi|^2 / 4 = 0 where rho is not negligible
    dt_phi = torch.diff(phi, dim=0) * (phi.shape[0])
    g2 = (0.5 * (grad[1:] + grad[:-1])) ** 2
    hj = dt_phi + g2.sum(-1) / 4
    inner = res.rho[1:-1] > 0.05 * res.rho.amax()
    assert hj[inner].abs().max() < 0.05 * (g2.sum(-1)[inner] / 4).abs().max()


@pytest.mark.slow
def test_agrees_with_the_lagrangian_pipeline(gauss64):
    """Cells as weighted particles, matched exactly: the same W2^2 up to each discretisation."""
    g = BOX2
    pts = g.points().double()
    r0 = gaussian(g, M0, S0).reshape(-1)
    r1 = gaussian(g, M1, S1).reshape(-1)
    keep0, keep1 = r0 > 1e-6 * r0.max(), r1 > 1e-6 * r1.max()
    a, b = r0[keep0], r1[keep1]
    plan = lot.match(pts[keep0], pts[keep1], a / a.sum(), b / b.sum(), method="exact")
    assert abs(plan.cost / gauss64.value - 1) < 0.01
    assert abs(plan.cost / W2_GAUSS - 1) < 0.01


# -- 1-D: quantiles --------------------------------------------------------------

LINE = Grid((0.0,), (1.0,), (128,))


def mixture_1d(grid: Grid):
    x = grid.axes[0]
    r = torch.exp(-((x - 0.3) ** 2) / (2 * 0.05**2)) + 0.6 * torch.exp(
        -((x - 0.55) ** 2) / (2 * 0.04**2)
    )
    return r / (r.sum() * grid.cell_volume)


def quantiles(rho: torch.Tensor, grid: Grid, u: np.ndarray) -> np.ndarray:
    """Inverse CDF of a cell-centred density (piecewise constant), at levels ``u``."""
    h = grid.spacing[0]
    faces = grid.lo[0] + h * np.arange(rho.numel() + 1)
    cdf = np.concatenate([[0.0], np.cumsum(rho.double().numpy() * h)])
    cdf /= cdf[-1]
    return np.interp(u, cdf, faces)


@pytest.fixture(scope="module")
def line_problem():
    rho0 = mixture_1d(LINE)
    rho1 = gaussian(LINE, (0.68,), 0.07)
    return rho0, rho1


def wp_quantile(rho0, rho1, grid, p):
    u = (np.arange(200_000) + 0.5) / 200_000
    return float(np.mean(np.abs(quantiles(rho0, grid, u) - quantiles(rho1, grid, u)) ** p))


@pytest.mark.slow
def test_1d_value_density_and_momentum_match_quantiles(line_problem):
    rho0, rho1 = line_problem
    res = benamou_brenier(rho0, rho1, LINE, n_times=32, tol=2e-5)
    assert abs(res.value / wp_quantile(rho0, rho1, LINE, 2) - 1) < 0.01
    # density at t = 1/2: its CDF against the quantile geodesic's
    h = LINE.spacing[0]
    faces = h * np.arange(129)
    u = (np.arange(100_000) + 0.5) / 100_000
    q_half = 0.5 * (quantiles(rho0, LINE, u) + quantiles(rho1, LINE, u))
    cdf_exact = np.searchsorted(np.sort(q_half), faces) / u.size
    cdf_bb = np.concatenate([[0.0], np.cumsum(res.rho[16].numpy() * h)])
    assert np.abs(cdf_bb - cdf_exact).max() < 0.02
    # momentum: in 1-D the flux is -d_t F_t; compare at the mid-times by differences of F_t
    cdf_t = []
    for t in res.times.numpy():
        q = (1 - t) * quantiles(rho0, LINE, u) + t * quantiles(rho1, LINE, u)
        cdf_t.append(np.searchsorted(np.sort(q), faces) / u.size)
    flux = -np.diff(np.array(cdf_t), axis=0) * 32  # (T, 129) at faces
    m_exact = 0.5 * (flux[:, 1:] + flux[:, :-1])
    m_bb = res.momentum[..., 0].numpy()
    assert np.linalg.norm(m_bb - m_exact) / np.linalg.norm(m_exact) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("p", [1.5, 3.0])
def test_1d_kinetic_exponent_gives_wp(line_problem, p):
    rho0, rho1 = line_problem
    grid = Grid((0.0,), (1.0,), (64,))
    r0 = torch.nn.functional.avg_pool1d(rho0[None, None], 2)[0, 0]
    r1 = torch.nn.functional.avg_pool1d(rho1[None, None], 2)[0, 0]
    res = benamou_brenier(r0, r1, grid, n_times=16, p=p, tol=1e-4)
    assert res.converged
    assert abs(res.value / wp_quantile(r0, r1, grid, p) - 1) < 0.03


def test_mobility_zero_is_h_minus_one(line_problem):
    rho0, rho1 = line_problem
    res = benamou_brenier(rho0, rho1, LINE, n_times=8, beta=0.0, tol=1e-6)
    h = LINE.spacing[0]
    f0, f1 = torch.cumsum(rho0, 0) * h, torch.cumsum(rho1, 0) * h
    h1 = float(((f0 - f1) ** 2).sum() * h)  # int (F0 - F1)^2 dx
    assert abs(res.value / h1 - 1) < 1e-3
    # the H^-1 geodesic is the linear interpolation
    lin = (1 - res.times[:, None]) * rho0 + res.times[:, None] * rho1
    assert (res.rho - lin).abs().max() < 1e-3 * rho0.max()


def test_mobility_one_is_w2(line_problem):
    rho0, rho1 = line_problem
    a = benamou_brenier(rho0, rho1, LINE, n_times=8, beta=1.0, max_iter=300)
    b = benamou_brenier(rho0, rho1, LINE, n_times=8, max_iter=300)
    assert a.value == b.value


def _mobility_action(res, beta: float, grid: Grid) -> float:
    rho_mid = 0.5 * (res.rho[1:] + res.rho[:-1]).clamp(min=1e-300)
    m2 = (res.momentum**2).sum(-1)
    return float((m2 / rho_mid**beta).sum()) * grid.cell_volume / res.momentum.shape[0]


@pytest.mark.slow
def test_intermediate_mobility_beats_other_paths(line_problem):
    """beta = 1/2 has no closed form: its optimum is below the action of the W2 and H^-1
    geodesics."""
    rho0, rho1 = line_problem
    g = Grid((0.0,), (1.0,), (32,))
    r0 = torch.nn.functional.avg_pool1d(rho0[None, None], 4)[0, 0]
    r1 = torch.nn.functional.avg_pool1d(rho1[None, None], 4)[0, 0]
    res = benamou_brenier(r0, r1, g, n_times=8, beta=0.5, tol=1e-5)
    assert res.converged and math.isfinite(res.value) and res.value > 0
    assert res.rho.min() > -1e-3 * r0.max()
    assert abs(_mobility_action(res, 0.5, g) / res.value - 1) < 1e-2
    for other in (
        benamou_brenier(r0, r1, g, n_times=8, tol=1e-5),
        benamou_brenier(r0, r1, g, n_times=8, beta=0.0),
    ):
        assert _mobility_action(other, 0.5, g) > 1.02 * res.value


@pytest.mark.slow
def test_mobility_value_scales_with_mass(line_problem):
    """``|m|^2 / rho^beta`` is homogeneous of degree 2 - beta in the mass."""
    rho0, rho1 = line_problem
    g = Grid((0.0,), (1.0,), (32,))
    r0 = torch.nn.functional.avg_pool1d(rho0[None, None], 4)[0, 0]
    r1 = torch.nn.functional.avg_pool1d(rho1[None, None], 4)[0, 0]
    a = benamou_brenier(r0, r1, g, n_times=8, beta=0.5, max_iter=200)
    b = benamou_brenier(3 * r0, 3 * r1, g, n_times=8, beta=0.5, max_iter=200)
    assert b.value / a.value == pytest.approx(3**1.5, rel=1e-9)


@pytest.mark.slow
def test_float32_agrees_with_float64(line_problem):
    rho0, rho1 = line_problem
    a = benamou_brenier(rho0, rho1, LINE, n_times=16, max_iter=400, tol=1e-9)
    b = benamou_brenier(rho0.float(), rho1.float(), LINE, n_times=16, max_iter=400, tol=1e-9)
    assert b.rho.dtype == torch.float32 and b.momentum.dtype == torch.float32
    assert abs(b.value / a.value - 1) < 1e-3


@pytest.mark.slow
def test_units_scale_with_the_box():
    """The same picture in a box 3x larger, with 2x the mass: value x 9 x 2."""
    small = Grid((0.0,), (1.0,), (64,))
    big = Grid((-1.0,), (2.0,), (64,))
    r0 = gaussian(small, (0.35,), 0.06)
    r1 = gaussian(small, (0.6,), 0.05)
    a = benamou_brenier(r0, r1, small, n_times=16, max_iter=500)
    b = benamou_brenier(2 * r0 / 3, 2 * r1 / 3, big, n_times=16, max_iter=500)
    assert abs(b.value / (18 * a.value) - 1) < 1e-9


# -- bad input -------------------------------------------------------------------


def test_unequal_masses_say_so_and_offer_normalisation(line_problem):
    rho0, rho1 = line_problem
    with pytest.raises(InputError, match=r"equal masses.*normalise.*wfr"):
        benamou_brenier(rho0, 0.9 * rho1, LINE)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: -r, "negative"),
        (lambda r: r * float("nan"), "NaN"),
        (lambda r: r[:-1], "shape"),
        (lambda r: torch.zeros_like(r), "zero everywhere"),
        (lambda r: r.long(), "float32 or float64"),
        (lambda r: r.half(), "float32 or float64"),
    ],
)
def test_bad_densities(line_problem, change, message):
    rho0, rho1 = line_problem
    with pytest.raises(InputError, match=message):
        benamou_brenier(rho0, change(rho1), LINE)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"p": 1.0}, "p must be"),
        ({"beta": 1.5}, "beta must be"),
        ({"p": 3, "beta": 0.5}, "not both"),
        ({"action": "h1"}, "action must be"),
        ({"n_times": 0}, "n_times"),
        ({"tol": 0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"n_times": 10**6}, "too large"),
        ({"gamma": -1.0}, "gamma"),
        ({"gamma": "abc"}, "gamma"),
    ],
)
def test_bad_options(line_problem, kwargs, message):
    rho0, rho1 = line_problem
    with pytest.raises(InputError, match=message):
        benamou_brenier(rho0, rho1, LINE, **kwargs)


def test_grid_sequence_times_are_checked():
    g = Grid((0.0, 0.0), (1.0, 1.0), (8, 8))
    rho = gaussian(g, (0.5, 0.5), 0.15)
    res = benamou_brenier(rho, rho, g, n_times=4, max_iter=5)
    for times in [(float("nan"),), (1.1,), (), ("a",)]:
        with pytest.raises(InputError, match="times"):
            lot.plot.grid_sequence(res, times)


@pytest.mark.gpu
def test_cuda_matches_cpu(line_problem):
    rho0, rho1 = line_problem
    a = benamou_brenier(rho0, rho1, LINE, n_times=16, max_iter=300, tol=1e-9)
    b = benamou_brenier(rho0.cuda(), rho1.cuda(), LINE, n_times=16, max_iter=300, tol=1e-9)
    assert b.rho.is_cuda and b.potential.is_cuda
    assert abs(b.value / a.value - 1) < 1e-9
    assert torch.allclose(b.rho.cpu(), a.rho, atol=1e-9)


@pytest.mark.slow
def test_three_dimensional_gaussians():
    """The solver is dimension-agnostic: a 3-D translation and scaling, against the closed form."""
    g = Grid((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (20, 20, 20))
    m0, m1 = (0.4, 0.42, 0.45), (0.6, 0.55, 0.5)
    exact = sum((a - b) ** 2 for a, b in zip(m0, m1)) + 3 * (0.11 - 0.09) ** 2
    res = benamou_brenier(gaussian(g, m0, 0.09), gaussian(g, m1, 0.11), g, n_times=8, tol=1e-3)
    assert res.momentum.shape == (8, 20, 20, 20, 3)
    assert abs(res.value / exact - 1) < 0.02


@pytest.mark.slow
def test_multilevel_warm_start_reaches_the_same_geodesic(gauss64):
    g = BOX2
    res = benamou_brenier(
        gaussian(g, M0, S0), gaussian(g, M1, S1), g, n_times=32, tol=1e-3, multilevel=True
    )
    assert res.converged and res.iterations < gauss64.iterations
    assert abs(res.value / W2_GAUSS - 1) < 0.01
    assert abs(res.value / gauss64.value - 1) < 5e-3


# -- honest stops and progress ----------------------------------------------------


def test_stopping_short_warns_with_the_residuals():
    rho0, rho1 = mixture_1d(LINE), mixture_1d(LINE).flip(0)
    with pytest.warns(
        RuntimeWarning,
        match=r"benamou_brenier stopped at max_iter=20 short of tol=1e-06: "
        r"continuity residual [0-9.e+-]+, fixed-point residual",
    ) as record:
        res = benamou_brenier(rho0, rho1, LINE, n_times=8, max_iter=20, tol=1e-6)
    assert not res.converged and "raise max_iter" in str(record[0].message)
    assert record[0].filename == __file__  # points at the caller
    for kw in ({"p": 3.0}, {"beta": 0.5}):
        with pytest.warns(RuntimeWarning, match="short of tol"):
            benamou_brenier(rho0, rho1, LINE, n_times=8, max_iter=10, tol=1e-6, **kw)


def test_converged_solve_is_silent_and_progress_draws_on_stderr(capsys, monkeypatch):
    import warnings

    from lagrangian_ot import _progress

    monkeypatch.setattr(
        _progress, "DELAY", 0.0
    )  # draw at once (a quick job otherwise prints nothing)
    rho0, rho1 = mixture_1d(LINE), mixture_1d(LINE).flip(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = benamou_brenier(rho0, rho1, LINE, n_times=8, tol=1e-2, progress=True)
    assert res.converged
    err = capsys.readouterr().err
    assert "/5000" in err  # the bar, drawn on stderr (tqdm redraws at most every 0.1 s)
    benamou_brenier(rho0, rho1, LINE, n_times=8, tol=1e-2, progress=False)
    assert capsys.readouterr().err == ""
