"""Wasserstein-Fisher-Rao (HK) plans and travelling Diracs, against closed forms, POT and the field
pipeline.

Conventions (REFERENCE.md): no 1/2 in the action; two Diracs at distance d cost
``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos(min(d / (2 kappa), pi/2)))``.
"""

import doctest
import math

import numpy as np
import pytest
import torch

from lagrangian_ot import Grid, InputError, hk, match
from lagrangian_ot.fields import density, momentum
from lagrangian_ot.hk import HKPlan, cost_matrix, hk_action, hk_interpolate, hk_plan

D = torch.float64


def t64(v):
    return torch.tensor(v, dtype=D)


def two_diracs(h0, h1, d, kappa):
    """The closed form of REFERENCE.md, section 2, with ``1 - cos = 2 sin^2(./2)`` (no cancellation
    at small d)."""
    theta = min(d / (2 * kappa), math.pi / 2)
    value = (
        4
        * kappa**2
        * ((math.sqrt(h0) - math.sqrt(h1)) ** 2 + 4 * math.sqrt(h0 * h1) * math.sin(theta / 2) ** 2)
    )
    assert value == pytest.approx(
        4 * kappa**2 * (h0 + h1 - 2 * math.sqrt(h0 * h1) * math.cos(theta)), abs=1e-12
    )
    return value


def clouds(seed, n, m, dim=2, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, dim, generator=g, dtype=D)
    y = torch.rand(m, dim, generator=g, dtype=D) * spread + 0.1
    a = torch.rand(n, generator=g, dtype=D) + 0.2
    b = 1.5 * torch.rand(m, generator=g, dtype=D) + 0.1
    return x, y, a, b


def gauss_legendre(k):
    nodes, weights = np.polynomial.legendre.leggauss(k)
    return t64((nodes + 1) / 2), t64(weights / 2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small problems: torch's thread pool only adds contention on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def random_plan():
    """A 2-D problem with pairs, decays (x beyond pi kappa of every y) and growths."""
    x, y, a, b = clouds(1, 14, 12)
    x = torch.cat([x, t64([[-3.0, -3.0]])])  # no partner within pi kappa: decays
    a = torch.cat([a, t64([0.7])])
    y = torch.cat([y, t64([[4.0, 4.0]])])  # grows from nothing
    b = torch.cat([b, t64([0.4])])
    return hk_plan(x, y, a, b, kappa=0.3)


# --------------------------------------------------------------------------- two Diracs


@pytest.mark.parametrize(
    "h0, h1, d, kappa, dim",
    [
        (1.0, 4.0, 1.0, 1.0, 2),
        (2.0, 0.5, 0.7, 0.3, 1),
        (1.0, 1.0, 2.5, 0.8, 3),
        (0.3, 0.3, 1e-3, 2.0, 2),
    ],
)
def test_two_diracs_travel_as_one_particle(h0, h1, d, kappa, dim):
    x0 = torch.zeros(1, dim, dtype=D)
    x1 = torch.zeros(1, dim, dtype=D)
    x1[0, 0] = d
    plan = hk_plan(x0, x1, t64([h0]), t64([h1]), kappa)
    closed = two_diracs(h0, h1, d, kappa)
    assert plan.n_pairs == 1 and plan.src.tolist() == [0] and plan.dst.tolist() == [0]
    assert float(plan.value) == pytest.approx(closed, rel=1e-12)
    assert float(plan.static) == pytest.approx(closed, rel=1e-7)
    assert float(plan.lower) <= closed * (1 + 1e-12)
    assert hk_action(plan, n_times=16) == pytest.approx(closed, rel=1e-10)
    # the mass curve h(t) = A t^2 - 2 B t + h0
    cos = math.cos(d / (2 * kappa))
    A = h0 + h1 - 2 * math.sqrt(h0 * h1) * cos
    B = h0 - math.sqrt(h0 * h1) * cos
    t = torch.linspace(0, 1, 11, dtype=D)
    z, h, _, s = hk_interpolate(plan, t)
    assert torch.allclose(h[:, 0], A * t**2 - 2 * B * t + h0, rtol=1e-12, atol=1e-14)
    assert torch.allclose(s[:, 0], 2 * A * t - 2 * B, rtol=1e-10, atol=1e-12)
    assert torch.allclose(z[0], x0[0]) and torch.allclose(z[-1], x1[0], atol=1e-14)
    assert torch.allclose(z[..., 1:], torch.zeros_like(z[..., 1:]))  # stays on the segment


@pytest.mark.parametrize("t", [0.25, 0.5, 0.8])
def test_travelling_dirac_is_a_constant_speed_geodesic(t):
    """``WFR(mu0, mu_t) = t WFR(mu0, mu1)`` and ``WFR(mu_t, mu1) = (1 - t) WFR(mu0, mu1)``, by the
    closed form.

    This checks the position of the particle (not only its mass) against the two-Dirac formula.
    """
    h0, h1, d, kappa = 1.0, 3.0, 1.7, 0.6
    plan = hk_plan(t64([[0.0, 0.0]]), t64([[d, 0.0]]), t64([h0]), t64([h1]), kappa)
    z, h, _, _ = hk_interpolate(plan, t)
    zt, ht = float(z[0, 0]), float(h[0])
    total = two_diracs(h0, h1, d, kappa)
    assert two_diracs(h0, ht, zt, kappa) == pytest.approx(t**2 * total, rel=1e-10)
    assert two_diracs(ht, h1, d - zt, kappa) == pytest.approx((1 - t) ** 2 * total, rel=1e-10)
    assert 0 < zt < d and abs(zt - t * d) > 1e-3  # the speed is not constant along the segment


@pytest.mark.parametrize("d, kappa", [(2.0, 0.6), (5.0, 1.0)])
def test_two_diracs_beyond_pi_kappa_decay_and_grow(d, kappa):
    assert d > math.pi * kappa
    h0, h1 = 1.3, 0.4
    x0, x1 = t64([[0.0, 0.0]]), t64([[0.0, d]])
    plan = hk_plan(x0, x1, t64([h0]), t64([h1]), kappa)
    closed = 4 * kappa**2 * (h0 + h1)
    assert closed == pytest.approx(two_diracs(h0, h1, d, kappa), rel=1e-14)
    assert float(plan.value) == pytest.approx(closed, rel=1e-14)
    assert float(plan.static) == pytest.approx(closed, rel=1e-14) and plan.gap < 1e-12
    assert plan.src.tolist() == [0, -1] and plan.dst.tolist() == [-1, 0]
    t = torch.linspace(0, 1, 7, dtype=D)
    z, h, v, s = hk_interpolate(plan, t)
    assert torch.allclose(h[:, 0], (1 - t) ** 2 * h0) and torch.allclose(h[:, 1], t**2 * h1)
    assert torch.allclose(s[:, 0], -2 * (1 - t) * h0) and torch.allclose(s[:, 1], 2 * t * h1)
    assert torch.equal(z[:, 0], x0.expand(7, 2)) and torch.equal(z[:, 1], x1.expand(7, 2))
    assert float(v.abs().max()) == 0.0
    assert hk_action(plan) == pytest.approx(closed, rel=1e-12)


# --------------------------------------------------------------------------- whole clouds


def test_scaled_copies_are_pure_fisher_rao():
    alpha, kappa = 2.7, 0.4
    x, _, a, _ = clouds(2, 15, 1)
    plan = hk_plan(x, x.clone(), a, alpha * a, kappa)
    expected = 4 * kappa**2 * (math.sqrt(alpha) - 1) ** 2 * float(a.sum())
    assert float(plan.value) == pytest.approx(expected, rel=1e-9)
    assert float(plan.lower) == pytest.approx(expected, rel=1e-4)
    t = torch.linspace(0, 1, 9, dtype=D)
    _, h, v, _ = hk_interpolate(plan, t)
    assert torch.allclose(h.sum(1), (1 - t + t * math.sqrt(alpha)) ** 2 * a.sum(), rtol=1e-12)
    kinetic = (h * (v * v).sum(-1)).sum(1)  # no mass moves
    assert float(kinetic.max()) < 1e-12 * expected


def test_large_kappa_tends_to_balanced_w2():
    ot = pytest.importorskip("ot")
    x, y, _, _ = clouds(3, 10, 10)
    a = torch.full((10,), 0.1, dtype=D)
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    w2 = float(ot.emd2(a.numpy(), a.numpy(), M.numpy()))
    assert w2 == pytest.approx(float(match(x, y, a, a, method="exact").cost), rel=1e-10)
    errors = {}
    for kappa in (5.0, 10.0, 20.0):
        value = float(hk_plan(x, y, a, a, kappa).value)
        assert value <= w2 * (1 + 1e-9)  # a cone distance is shorter than the straight line
        errors[kappa] = w2 - value
    assert errors[20.0] < 1e-3 * w2
    # the gap closes like 1 / kappa^2
    assert errors[5.0] / errors[10.0] == pytest.approx(4.0, rel=0.01)
    assert errors[10.0] / errors[20.0] == pytest.approx(4.0, rel=0.01)


def _pot_objective(G, a, b, M, rho):
    def kl(p, q):
        pos = p > 0
        return float(np.sum(np.where(pos, p * np.log(np.where(pos, p, 1.0) / q), 0.0) - p + q))

    return rho * (kl(G.sum(1), a) + kl(G.sum(0), b)) + float(np.sum(np.where(G > 0, G * M, 0.0)))


@pytest.mark.slow
# scipy's L-BFGS-B options, as POT passes them
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("solver", ["mm_unbalanced", "lbfgsb_unbalanced"])
def test_static_value_matches_pot(solver):
    """POT's unregularised KL-relaxed solvers on the cost ``4 kappa^2 ell``, ``reg_m = 4 kappa^2``.

    Infinite costs (pairs farther than ``pi kappa``) are replaced by ``1e4``, which
    keeps them empty. Tolerance: ``1e-8`` relative (the entropic bias of ``value``
    measured here is about ``1e-10``).
    """
    ot = pytest.importorskip("ot")
    kappa = 0.35
    x, y, a, b = clouds(3, 6, 7, spread=1.2)
    plan = hk_plan(x, y, a, b, kappa)
    rho = 4 * kappa**2
    M = cost_matrix(x, y, kappa).numpy()
    assert np.isinf(M).any() and np.isfinite(M).any()
    M = np.where(np.isinf(M), 1e4, M)
    an, bn = a.numpy(), b.numpy()
    if solver == "mm_unbalanced":
        G = ot.unbalanced.mm_unbalanced(an, bn, M, rho, div="kl", numItermax=100_000, stopThr=1e-15)
    else:
        G = ot.unbalanced.lbfgsb_unbalanced(an, bn, M, 0.0, rho, numItermax=100_000, stopThr=1e-15)
    ref = _pot_objective(G, an, bn, M, rho)
    assert float(plan.value) == pytest.approx(ref, rel=1e-8)
    assert float(plan.static) == pytest.approx(ref, rel=1e-8)
    assert float(plan.lower) <= ref * (1 + 1e-12) and ref <= float(plan.value) * (1 + 1e-12)
    # the static form at POT's plan, through our semi-coupling: the LMS identity
    assert 4 * kappa**2 * (an.sum() + bn.sum() - 2 * G.sum()) == pytest.approx(ref, rel=1e-6)


def test_semi_coupling_marginals_and_identities(random_plan):
    plan = random_plan
    a0 = torch.zeros_like(plan.a).index_add_(0, plan.src[plan.src >= 0], plan.h0[plan.src >= 0])
    b1 = torch.zeros_like(plan.b).index_add_(0, plan.dst[plan.dst >= 0], plan.h1[plan.dst >= 0])
    assert torch.allclose(a0, plan.a, rtol=1e-13) and torch.allclose(b1, plan.b, rtol=1e-13)
    decays = plan.dst < 0
    grows = plan.src < 0
    assert plan.src[decays].tolist() == [plan.a.shape[0] - 1]  # the far source decays ...
    assert plan.dst[grows].tolist() == [plan.b.shape[0] - 1]  # ... and the far target grows
    assert bool((plan.angle < math.pi / 2).all())
    value = float(plan.value)
    assert float(plan.static) == pytest.approx(value, rel=1e-8)
    # LMS: HK^2 = 4 kappa^2 (sum a + sum b - 2 sum gamma) at the optimum
    rho = 4 * plan.kappa**2
    # (gamma is the entropic plan: its first-order conditions carry an O(eps) term, the value's do
    # not)
    assert rho * float(plan.a.sum() + plan.b.sum() - 2 * plan.gamma.sum()) == pytest.approx(
        value, rel=1e-4
    )
    assert 0 <= plan.gap <= 1e-4 * value and float(plan.lower) <= value
    assert float(plan.pair_costs.sum()) == pytest.approx(value, rel=1e-14)
    assert plan.info["residual"] <= 1e-9


def test_value_converges_as_blur_shrinks():
    x, y, a, b = clouds(4, 12, 9)
    ref = hk_plan(x, y, a, b, 0.4, blur=1e-4)
    errors = [
        abs(float(hk_plan(x, y, a, b, 0.4, blur=bl).value) - float(ref.value))
        for bl in (3e-2, 1e-2, 3e-3)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-6 * float(ref.value)
    assert ref.gap < 1e-6 * float(ref.value)


def test_blocked_and_conjugate_gradient_paths_agree(monkeypatch, random_plan):
    plan = random_plan
    from lagrangian_ot.hk import _costs, _solver

    monkeypatch.setattr(_costs, "CACHE_PAIRS", 0)  # cost recomputed in row blocks
    monkeypatch.setattr(_solver, "DENSE_NEWTON", 0)  # Newton systems by conjugate gradients
    monkeypatch.setattr(_costs, "BLOCK_BYTES", 8 * 3 * 13)  # several blocks of 3 rows
    other = hk_plan(plan.x, plan.y, plan.a, plan.b, plan.kappa)
    assert float(other.value) == pytest.approx(float(plan.value), rel=1e-9)
    assert float(other.lower) == pytest.approx(float(plan.lower), rel=1e-6)


def test_zero_masses_carry_no_particle():
    x, y, a, b = clouds(5, 5, 6)
    a[1] = 0.0
    b[[0, 4]] = 0.0
    plan = hk_plan(x, y, a, b, 0.5)
    # every point with mass carries a particle (paired, decaying or growing), the massless ones none
    assert set(plan.src.tolist()) - {-1} == {i for i in range(len(a)) if a[i] > 0}
    assert set(plan.dst.tolist()) - {-1} == {i for i in range(len(b)) if b[i] > 0}
    keep_a, keep_b = a > 0, b > 0
    sub = hk_plan(x[keep_a], y[keep_b], a[keep_a], b[keep_b], 0.5)
    assert float(plan.value) == pytest.approx(float(sub.value), rel=1e-9)


# --------------------------------------------------------------------------- the dynamic side


def test_action_equals_value(random_plan):
    plan = random_plan
    assert hk_action(plan, n_times=24) == pytest.approx(float(plan.value), rel=1e-10)
    # constant integrands
    assert hk_action(plan, n_times=3) == pytest.approx(float(plan.value), rel=1e-10)


def test_velocities_and_sources_are_the_time_derivatives(random_plan):
    """Finite differences of the positions and masses give the returned ``v`` and ``s`` (d/dt h =
    s), and the action computed from those finite differences is the value."""
    plan = random_plan
    t, w = gauss_legendre(12)
    dt = 1e-5
    zp, hp, _, _ = hk_interpolate(plan, t + dt)
    zm, hm, _, _ = hk_interpolate(plan, t - dt)
    _, h, v, s = hk_interpolate(plan, t)
    v_fd = (zp - zm) / (2 * dt)
    s_fd = (hp - hm) / (2 * dt)
    assert torch.allclose(v_fd, v, rtol=1e-6, atol=1e-7 * float(v.abs().max()))
    assert torch.allclose(s_fd, s, rtol=1e-6, atol=1e-7 * float(s.abs().max()))
    action = (w * (h * (v_fd**2).sum(-1) + plan.kappa**2 * s_fd**2 / h).sum(1)).sum()
    assert float(action) == pytest.approx(float(plan.value), rel=1e-6)


def test_fields_fade_and_grow(random_plan):
    plan = random_plan
    grid = Grid((-5.5, -5.5), (6.0, 6.0), (140, 140))
    sigma = 0.35
    z0, h0, _, _ = hk_interpolate(plan, 0.0)
    z1, h1, _, _ = hk_interpolate(plan, 1.0)
    rho0 = density(plan.x, plan.a, grid, sigma, backend="torch")
    rho1 = density(plan.y, plan.b, grid, sigma, backend="torch")
    scale = float(rho0.abs().max())
    assert torch.allclose(density(z0, h0, grid, sigma, backend="torch"), rho0, atol=1e-12 * scale)
    assert torch.allclose(density(z1, h1, grid, sigma, backend="torch"), rho1, atol=1e-12 * scale)
    vol = grid.cell_volume
    for t in (0.0, 0.3, 0.5, 0.9, 1.0):
        z, h, _, _ = hk_interpolate(plan, t)
        mass = float(density(z, h, grid, sigma, backend="torch").sum()) * vol
        assert mass == pytest.approx(float(h.sum()), rel=1e-6)
    # the far source fades out where it stands, the far target grows where it stands
    corner = grid.points().sub(t64([-3.0, -3.0])).norm(dim=1).argmin()
    fading = [
        float(density(*hk_interpolate(plan, t)[:2], grid, sigma).reshape(-1)[corner])
        for t in (0.0, 0.5, 1.0)
    ]
    assert fading[0] > fading[1] > fading[2] >= 0


def _d4(f, h, dim):
    """Fourth-order central difference along ``dim`` (two cells lost at each end)."""
    f = f.movedim(dim, 0)
    return ((-f[4:] + 8 * f[3:-1] - 8 * f[1:-3] + f[:-4]) / (12 * h)).movedim(0, dim)


def test_smoothed_fields_satisfy_the_balance_equation(random_plan):
    """``d_t rho + div m = zeta`` with ``zeta = sum_k s_k G(x - z_k)``: the smoothed fields of the
    particles."""
    plan = random_plan
    grid = Grid((-0.5, -0.5), (1.6, 1.6), (90, 90))
    sigma, t, dt = 0.15, 0.4, 1e-4
    zp, hp, _, _ = hk_interpolate(plan, t + dt)
    zm, hm, _, _ = hk_interpolate(plan, t - dt)
    z, h, v, s = hk_interpolate(plan, t)
    dtrho = (
        density(zp, hp, grid, sigma, backend="torch")
        - density(zm, hm, grid, sigma, backend="torch")
    ) / (2 * dt)
    m = momentum(z, h, v, grid, sigma, backend="torch")
    div = _d4(m[..., 0], grid.spacing[0], 0)[:, 2:-2] + _d4(m[..., 1], grid.spacing[1], 1)[2:-2, :]
    zeta = density(z, s, grid, sigma, backend="torch")
    residual = (dtrho - zeta)[2:-2, 2:-2] + div
    scale = float(dtrho.abs().max())
    assert float(residual.abs().max()) < 1e-3 * scale
    assert float(zeta.abs().max()) > 0.1 * scale  # the source term matters
    assert float((dtrho[2:-2, 2:-2] + div).abs().max()) > 0.1 * scale  # without it, no balance


def test_interpolate_shapes_and_float32(random_plan):
    plan = random_plan
    K = plan.n_pairs
    z, h, v, s = hk_interpolate(plan, 0.3)
    assert z.shape == (K, 2) and h.shape == (K,) and v.shape == (K, 2) and s.shape == (K,)
    zz, hh, _, _ = hk_interpolate(plan, t64([0.3, 0.6]))
    assert zz.shape == (2, K, 2) and torch.allclose(zz[0], z) and torch.allclose(hh[0], h)
    p32 = hk_plan(plan.x.float(), plan.y.float(), plan.a.float(), plan.b.float(), plan.kappa)
    assert p32.value.dtype == torch.float32 and p32.h0.dtype == torch.float32
    assert hk_interpolate(p32, 0.5)[0].dtype == torch.float32
    assert float(p32.value) == pytest.approx(float(plan.value), rel=1e-5)


def test_docstring_examples():
    result = doctest.testmod(hk, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.gpu
def test_cuda_matches_cpu(random_plan):
    plan = random_plan
    dev = torch.device("cuda")
    other = hk_plan(plan.x.to(dev), plan.y.to(dev), plan.a.to(dev), plan.b.to(dev), plan.kappa)
    assert other.h0.device.type == "cuda"
    assert float(other.value) == pytest.approx(float(plan.value), rel=1e-9)
    assert hk_action(other) == pytest.approx(float(plan.value), rel=1e-9)


# --------------------------------------------------------------------------- bad input


X, Y, A, B = t64([[0.0, 0.0], [1.0, 0.0]]), t64([[0.5, 0.5]]), t64([1.0, 2.0]), t64([1.0])


@pytest.mark.parametrize(
    "args, match_",
    [
        ((X, Y, t64([1.0, -1.0]), B, 1.0), "negative"),
        ((X, Y, A, t64([float("nan")]), 1.0), "NaN"),
        ((t64([[0.0, float("nan")], [1.0, 0.0]]), Y, A, B, 1.0), "NaN"),
        ((X, Y, A, B, 0.0), "kappa"),
        ((X, Y, A, B, -1.0), "kappa"),
        ((X, Y, A, B, float("inf")), "kappa"),
        ((X, Y, A, B, float("nan")), "kappa"),
        ((X, Y, A, B, 1e200), "kappa"),
        ((torch.zeros(0, 2, dtype=D), Y, torch.zeros(0, dtype=D), B, 1.0), "empty"),
        ((X, t64([[0.5, 0.5, 0.5]]), A, B, 1.0), "dimension"),
        ((X, Y, t64([0.0, 0.0]), B, 1.0), "zero everywhere"),
        ((X, Y, A, t64([1.0, 2.0]), 1.0), "shape"),
        ((X[None], Y[None], A, B, 1.0), "batches"),
    ],
)
def test_bad_input_is_one_clear_line(args, match_):
    with pytest.raises(InputError, match=match_) as err:
        hk_plan(*args)
    assert "\n" not in str(err.value)


def test_bad_times_and_options():
    plan = hk_plan(X, Y, A, B, 1.0)
    for t in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match=r"\[0, 1\]"):
            hk_interpolate(plan, t)
    with pytest.raises(InputError, match="HKPlan"):
        hk_interpolate(match(X, X), 0.5)
    with pytest.raises(InputError, match="n_times"):
        hk_action(plan, n_times=0)
    with pytest.raises(InputError, match="blur"):
        hk_plan(X, Y, A, B, 1.0, blur=-1.0)
    assert isinstance(plan, HKPlan)


def _pcg(matvec, rhs, diag, rtol, max_iter):
    """The shared conjugate gradients on one system with a Jacobi preconditioner, as hk_plan's
    Newton steps use them."""
    from lagrangian_ot._cg import pcg

    return pcg(lambda p: matvec(p[0])[None], lambda r: r / diag, rhs[None], rtol, max_iter)[0][0]


def test_newton_cg_solves_spd_systems_and_survives_lost_curvature():
    g = torch.Generator().manual_seed(3)
    A = torch.rand(30, 30, generator=g, dtype=D)
    A = A @ A.T + 0.5 * torch.eye(30, dtype=D)
    rhs = torch.rand(30, generator=g, dtype=D)
    u = _pcg(lambda p: A @ p, rhs, A.diagonal().clone(), 1e-12, 200)
    assert torch.allclose(u, torch.linalg.solve(A, rhs), rtol=1e-9, atol=1e-12)
    # no positive curvature (round-off on a singular direction): an ascent direction, never inf or
    # NaN
    diag = torch.full((30,), 2.0, dtype=D)
    v = _pcg(lambda p: -p, rhs, diag, 1e-12, 200)
    assert torch.equal(v, rhs / diag)


def test_sparse_plan_blocks_keep_the_largest_entries_and_skip_empty_rows():
    from lagrangian_ot._entropic import (  # shared by the balanced and HK plans
        RELATIVE_FLOOR,
        sparse_plan,
    )
    from lagrangian_ot.kernels.softmin import DenseKernel

    def top_entries(logp, k, first_row):
        # log plan entries logp (r, m) as the costs -logp at zero potentials and masses, eps = 1
        zero_f, zero_g = torch.zeros(logp.shape[0], dtype=D), torch.zeros(logp.shape[1], dtype=D)
        rows = (torch.arange(first_row, first_row + logp.shape[0]), torch.arange(logp.shape[1]))
        plan = sparse_plan(
            DenseKernel(-logp), zero_f, zero_g, zero_f, zero_g, 1.0, 0.0, rows, row_cap=k
        )
        return plan[:4]

    logp = torch.tensor(
        [[0.0, -1.0, -2.0, -30.0], [-math.inf] * 4, [-3.0, -math.inf, -3.0, -1.0]], dtype=D
    )
    src, dst, mass, dropped = top_entries(logp, 3, first_row=5)
    assert src.tolist() == [5, 5, 5, 7, 7, 7] and dst.tolist()[:3] == [0, 1, 2]
    assert sorted(dst.tolist()[3:]) == [0, 2, 3]
    # left out: row 5's fourth entry; row 6 has no mass, row 7 none beyond its three finite ones
    assert dropped == pytest.approx(math.exp(-30.0), rel=1e-9)
    assert torch.allclose(mass[:3], torch.tensor([1.0, math.exp(-1), math.exp(-2)], dtype=D))
    # with room for all four, the fourth of row 5 is below the floor
    assert math.log(RELATIVE_FLOOR) > -30.0
    src, _, _, dropped = top_entries(logp, 4, first_row=0)
    assert src.tolist().count(0) == 3 and dropped == pytest.approx(math.exp(-30.0), rel=1e-9)


def test_the_shared_sparse_plan_builder_caps_rows_on_every_dense_kernel():
    # the k largest entries of each row of a_i b_j exp((f_i + g_j - c_ij) / eps), in (src, dst)
    # order, from the stored, the recomputed (point) and the HK costs alike
    from lagrangian_ot._entropic import sparse_plan
    from lagrangian_ot.hk._costs import _Costs
    from lagrangian_ot.kernels.softmin import DenseKernel, PointKernel

    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(7, 2, generator=g, dtype=D), torch.rand(9, 2, generator=g, dtype=D)
    f, h = torch.rand(7, generator=g, dtype=D) * 0.1, torch.rand(9, generator=g, dtype=D) * 0.1
    log_a, log_b = torch.full((7,), -math.log(7), dtype=D), torch.full((9,), -math.log(9), dtype=D)
    eps, k = 0.05, 4
    squared = torch.cdist(x, y) ** 2
    kernels = [(squared, DenseKernel(squared)), (squared, PointKernel(x, y))]
    # pi kappa beyond every pair: all finite
    kernels.append((cost_matrix(x, y, 0.6), _Costs(x, y, 0.6)))
    for cost, kernel in kernels:
        dense = (log_a[:, None] + log_b + (f[:, None] + h - cost) / eps).exp()  # (7, 9)
        src, dst, mass, dropped, value, entropy = sparse_plan(
            kernel, f, h, log_a, log_b, eps, 0.0, row_cap=k
        )
        assert (
            src.tolist() == sorted(src.tolist())
            and torch.bincount(src, minlength=7).tolist() == [k] * 7
        )
        for i in range(7):
            row = dst[src == i]
            assert row.tolist() == sorted(row.tolist())
            assert set(row.tolist()) == set(torch.topk(dense[i], k).indices.tolist())
        torch.testing.assert_close(mass, dense[src, dst])
        assert dropped == pytest.approx(float(dense.sum() - mass.sum()), rel=1e-9)
        assert value is None and entropy is None  # the capped plan's callers have their own values
