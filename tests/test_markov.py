"""The transport distance of reversible Markov chains, against the two-point closed form and
against an independent NumPy evaluation of the discrete action."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from lagrangian_ot import InputError
from lagrangian_ot.markov import (
    FLOOR,
    MarkovGeodesic,
    _newton,
    log_mean,
    markov_distance,
)
from lagrangian_ot.markov._action import _Action

F64 = torch.float64
TWO_PI = torch.tensor([0.5, 0.5], dtype=F64)
TWO_RATES = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=F64)


def _two(r: float) -> torch.Tensor:
    return torch.tensor([r, 1.0 - r], dtype=F64)


def _theta(a: float, b: float) -> float:
    """The logarithmic mean, written out independently of the module."""
    if a == b:
        return a
    if a == 0.0 or b == 0.0:
        return 0.0
    return (a - b) / (math.log(a) - math.log(b))


def _two_point(r: float, s: float) -> float:
    """``|int_s^r du / sqrt(theta(u, 1 - u))|`` by adaptive quadrature."""
    quad = pytest.importorskip("scipy.integrate").quad
    value, error = quad(lambda u: 1.0 / math.sqrt(_theta(u, 1.0 - u)), min(r, s), max(r, s),
                        epsabs=1e-12, epsrel=1e-12, limit=200)  # fmt: skip
    assert error < 1e-9
    return value


def _chain(n: int, seed: int, complete: bool):
    """A random reversible chain: random positive ``pi``, random symmetric edge weights ``w`` on the
    complete graph or the ``n``-cycle, and ``K(x, y) = w_xy / pi_x``."""
    rng = np.random.default_rng(seed)
    pi = rng.uniform(0.2, 1.0, n)
    pi /= pi.sum()
    w = rng.uniform(0.2, 1.0, (n, n))
    w = np.triu(w, 1)
    if not complete:
        w *= np.eye(n, k=1) + np.eye(n, k=1 - n)
    w = w + w.T
    return torch.tensor(pi), torch.tensor(w / pi[:, None])


def _random_probability(n: int, seed: int) -> torch.Tensor:
    p = np.random.default_rng(seed).uniform(0.05, 1.0, n)
    return torch.tensor(p / p.sum())


def _reduced_action(path: np.ndarray, w: np.ndarray, pi: np.ndarray) -> float:
    """``sum_k delta_k^T L_k^+ delta_k / dt`` with pseudo-inverses: the discrete action of a path,
    minimised over the fluxes (the mobility from the time-averaged densities)."""
    steps = path.shape[0] - 1
    total = 0.0
    for k in range(steps):
        r = 0.5 * (path[k] + path[k + 1]) / pi
        c = np.array([[w[x, y] * _theta(r[x], r[y]) if w[x, y] > 0 else 0.0 for y in range(len(r))]
                      for x in range(len(r))])  # fmt: skip
        lap = np.diag(c.sum(1)) - c
        delta = path[k + 1] - path[k]
        total += steps * delta @ np.linalg.pinv(lap) @ delta
    return total


def _flux_action(path: np.ndarray, flux: np.ndarray, w: np.ndarray, pi: np.ndarray) -> float:
    """``sum_k dt sum_{x < y, w_xy > 0} J_xy^2 / (w_xy theta(rbar_x, rbar_y))``."""
    steps, n = flux.shape[0], path.shape[1]
    total = 0.0
    for k in range(steps):
        r = 0.5 * (path[k] + path[k + 1]) / pi
        for x in range(n):
            for y in range(x + 1, n):
                if w[x, y] > 0:
                    total += flux[k, x, y] ** 2 / (w[x, y] * _theta(r[x], r[y])) / steps
    return total


# ---------------------------------------------------------------------------------------------
# the two-point chain


@pytest.mark.parametrize("r, s", [(0.8, 0.3), (0.5, 0.1), (0.95, 0.02), (0.3, 0.99)])
def test_two_point_closed_form(r, s):
    # The scheme is second order in dt for these smooth geodesics: the measured relative errors
    # at T = 64 are 5e-6 to 8e-5 (below the exact value: the mobility of averaged densities is
    # at least the average mobility), so 1e-3 leaves room without hiding an O(1) mistake.
    exact = _two_point(r, s)
    geo = markov_distance(_two(r), _two(s), TWO_RATES, TWO_PI, n_times=64)
    assert isinstance(geo, MarkovGeodesic)
    assert geo.distance == pytest.approx(exact, rel=1e-3)
    assert float(geo.value) == pytest.approx(geo.distance**2, rel=1e-12)
    assert geo.residual <= 1e-10


@pytest.mark.parametrize("r, s", [(0.8, 0.3), (0.95, 0.02)])
def test_two_point_converges_at_second_order(r, s):
    exact = _two_point(r, s)
    distances = [markov_distance(_two(r), _two(s), TWO_RATES, TWO_PI, n_times=t).distance
                 for t in (8, 16, 32)]  # fmt: skip
    errors = [abs(d - exact) / exact for d in distances]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] / errors[1] > 3.0 and errors[1] / errors[2] > 3.0  # about 4 each: O(dt^2)
    assert errors[2] < 5e-4


def test_two_point_dirac_endpoints():
    # From a Dirac the geodesic leaves the vertex where theta(u, 1 - u) ~ 1 / log(1 / (1 - u))
    # vanishes, which slows the convergence to about first order; 2e-3 at T = 64 (measured 1e-3).
    exact = _two_point(1.0, 0.0)
    errors = []
    for t in (16, 64):
        geo = markov_distance(_two(1.0), _two(0.0), TWO_RATES, TWO_PI, n_times=t)
        errors.append(abs(geo.distance - exact) / exact)
        assert float(geo.path.min()) > 0
    assert errors[1] < 2e-3
    assert errors[1] < errors[0] / 2
    # the floor moved the endpoints by FLOOR at most
    assert torch.allclose(geo.path[0], _two(1.0), atol=FLOOR, rtol=0)


# ---------------------------------------------------------------------------------------------
# metric properties on small random chains


@pytest.mark.parametrize("complete", [True, False])
def test_symmetric_and_zero_on_the_diagonal(complete):
    pi, rates = _chain(5, seed=1, complete=complete)
    p, q = _random_probability(5, 2), _random_probability(5, 3)
    forward = markov_distance(p, q, rates, pi, n_times=16)
    backward = markov_distance(q, p, rates, pi, n_times=16)
    assert forward.distance > 0.05
    assert backward.distance == pytest.approx(forward.distance, rel=1e-8)
    assert torch.allclose(backward.path, forward.path.flip(0), atol=1e-8)
    same = markov_distance(p, p, rates, pi, n_times=16)
    assert same.distance == 0.0 and float(same.value) == 0.0
    assert torch.allclose(same.path, p.expand(17, 5), atol=1e-15, rtol=0) and not bool(
        same.flux.any()
    )


def test_triangle_inequality():
    pi, rates = _chain(4, seed=4, complete=True)
    a, b, c = (_random_probability(4, s) for s in (5, 6, 7))
    d = {}
    for name, (x, y) in {"ab": (a, b), "bc": (b, c), "ac": (a, c)}.items():
        for t in (8, 16):
            d[name, t] = float(markov_distance(x, y, rates, pi, n_times=t).value)
    # exactly for the discrete problem: gluing the geodesic a -> b with m intervals to b -> c
    # with T - m intervals is a path with T intervals, so W_T^2 / T <= W_m^2 / m + W_{T - m}^2 / (T
    # - m)
    assert d["ac", 16] / 16 <= d["ab", 8] / 8 + d["bc", 8] / 8 + 1e-10 * d["ac", 16]
    # and the triangle inequality itself, up to the discretisation error
    assert math.sqrt(d["ac", 16]) <= math.sqrt(d["ab", 16]) + math.sqrt(d["bc", 16])
    # c is not on a geodesic from a to b: the inequality is strict
    assert math.sqrt(d["ac", 16]) < 0.99 * (math.sqrt(d["ab", 16]) + math.sqrt(d["bc", 16]))


def test_minimal_against_an_independent_action():
    """The returned path minimises the action evaluated with NumPy pseudo-inverses: its value is
    that action, and moving the interior nodes in mass-preserving directions increases it."""
    pi, rates = _chain(4, seed=8, complete=False)
    p, q = _random_probability(4, 9), torch.tensor([0.7, 0.0, 0.1, 0.2], dtype=F64)
    geo = markov_distance(p, q, rates, pi, n_times=6)
    w = (pi[:, None] * rates).numpy()
    path = geo.path.numpy()
    base = _reduced_action(path, w, pi.numpy())
    assert base == pytest.approx(float(geo.value), rel=1e-9)
    assert _flux_action(path, geo.flux.numpy(), w, pi.numpy()) == pytest.approx(
        float(geo.value), rel=1e-9
    )
    rng = np.random.default_rng(10)
    for _ in range(4):
        move = rng.normal(size=(5, 4))
        move -= move.mean(1, keepdims=True)
        for h in (1e-3, -1e-3):
            moved = path.copy()
            moved[1:-1] += h * move * path[1:-1].min()
            assert _reduced_action(moved, w, pi.numpy()) > base


def test_disconnected_graph_with_matching_masses():
    # two separate two-state chains: the distance is the l2 sum of the two transports, each a
    # two-point problem scaled by the mass m of its component (W^2 = m W_1^2 for rescaled chains)
    w = torch.zeros(4, 4, dtype=F64)
    w[0, 1] = w[1, 0] = w[2, 3] = w[3, 2] = 0.25
    pi = torch.full((4,), 0.25, dtype=F64)
    rates = w / pi[:, None]
    p = torch.tensor([0.4, 0.1, 0.25, 0.25], dtype=F64)
    q = torch.tensor([0.1, 0.4, 0.3, 0.2], dtype=F64)
    geo = markov_distance(p, q, rates, pi, n_times=32)
    first = float(markov_distance(_two(0.8), _two(0.2), TWO_RATES, TWO_PI, n_times=32).value)
    second = float(markov_distance(_two(0.5), _two(0.6), TWO_RATES, TWO_PI, n_times=32).value)
    assert float(geo.value) == pytest.approx(0.5 * first + 0.5 * second, rel=1e-8)
    assert torch.allclose(geo.path[:, :2].sum(1), torch.full((33,), 0.5, dtype=F64), atol=1e-14)


# ---------------------------------------------------------------------------------------------
# the returned path and flux


def test_block_solver_matches_dense(monkeypatch):
    pi, rates = _chain(5, seed=23, complete=False)
    p, q = _random_probability(5, 24), torch.tensor([0.0, 0.1, 0.0, 0.6, 0.3], dtype=F64)
    dense = markov_distance(p, q, rates, pi, n_times=12)
    monkeypatch.setattr(_newton, "_DENSE_LIMIT", 0)  # Newton systems by block Cholesky
    block = markov_distance(p, q, rates, pi, n_times=12)
    assert float(block.value) == pytest.approx(float(dense.value), rel=1e-10)
    assert torch.allclose(block.path, dense.path, atol=1e-9)


def test_path_endpoints_and_continuity():
    pi, rates = _chain(5, seed=11, complete=False)
    p, q = _random_probability(5, 12), _random_probability(5, 13)
    steps = 12
    geo = markov_distance(p, q, rates, pi, n_times=steps)
    assert geo.path.shape == (steps + 1, 5) and geo.flux.shape == (steps, 5, 5)
    assert torch.allclose(geo.path[0], p, atol=1e-15) and torch.allclose(
        geo.path[-1], q, atol=1e-15
    )
    assert torch.allclose(geo.path.sum(1), torch.ones(steps + 1, dtype=F64), atol=1e-14)
    assert bool((geo.path > 0).all())
    assert torch.allclose(geo.flux, -geo.flux.transpose(1, 2), atol=0)
    assert not bool(geo.flux[:, rates == 0].any())  # no flux off the edges (nor on the diagonal)
    residual = (geo.path[1:] - geo.path[:-1]) * steps + geo.flux.sum(2)
    assert float(residual.abs().max()) < 1e-12 * float(geo.flux.abs().max())


def test_float32_in_float32_out():
    pi, rates = _chain(4, seed=14, complete=True)
    p, q = _random_probability(4, 15), _random_probability(4, 16)
    ref = markov_distance(p, q, rates, pi, n_times=8)
    geo = markov_distance(p.float(), q.float(), rates.float(), pi.float(), n_times=8)
    assert geo.path.dtype == torch.float32 and geo.flux.dtype == torch.float32
    assert geo.value.dtype == torch.float32 and geo.value.dim() == 0
    assert ref.value.dtype == torch.float64 and float(ref.value) == pytest.approx(
        ref.distance**2, rel=1e-12
    )
    assert geo.distance == pytest.approx(ref.distance, rel=1e-5)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    pi, rates = _chain(4, seed=17, complete=False)
    p, q = _random_probability(4, 18), _random_probability(4, 19)
    ref = markov_distance(p, q, rates, pi, n_times=8)
    geo = markov_distance(p.cuda(), q.cuda(), rates.cuda(), pi.cuda(), n_times=8)
    assert geo.path.device.type == "cuda" and geo.flux.device.type == "cuda"
    assert geo.value.device.type == "cuda"
    assert geo.distance == pytest.approx(ref.distance, rel=1e-9)


@pytest.mark.parametrize("spread", [0.02, 0.6])
def test_newton_derivatives_match_autograd(spread):
    """The hand-written gradient and block-tridiagonal Hessian of the reduced action against
    autograd of a direct implementation (pseudo-inverse Laplacians); ``spread`` 0.02 keeps
    neighbouring densities within the Taylor-series branch of the logarithmic mean."""
    n, steps = 4, 4
    pi, rates = _chain(n, seed=21, complete=True)
    w = pi[:, None] * rates
    rng = np.random.default_rng(22)
    path = pi * torch.tensor(1.0 + spread * rng.uniform(-1.0, 1.0, (steps + 1, n)))
    path = path / path.sum(1, keepdim=True)

    def action(inner):
        p = torch.cat([path[:1], inner.reshape(steps - 1, n), path[-1:]])
        r = 0.5 * (p[:-1] + p[1:]) / pi
        a, b = r[:, :, None], r[:, None, :]
        same = (a - b).abs() < 1e-300
        theta = torch.where(same, a, (a - b) / torch.where(same, 1.0, a.log() - b.log()))
        c = w * theta
        lap = torch.diag_embed(c.sum(2)) - c
        delta = p[1:] - p[:-1]
        return steps * torch.einsum("ki,kij,kj->", delta, torch.linalg.pinv(lap), delta)

    proj = torch.full((n, n), 1.0 / n, dtype=F64)
    gradient, diag, sub = _Action(w, pi, proj, 1.0 / steps).derivatives(path)
    inner = path[1:-1].reshape(-1)
    g_ref = torch.autograd.functional.jacobian(action, inner).reshape(steps - 1, n)
    h_ref = torch.autograd.functional.hessian(action, inner).reshape(steps - 1, n, steps - 1, n)
    q = torch.eye(n, dtype=F64) - proj  # compare on mass-preserving moves only
    scale = float(h_ref.abs().max())
    assert torch.allclose(
        gradient @ q, g_ref @ q, rtol=0, atol=1e-9 * float(g_ref.abs().max()) + 1e-12
    )
    for k in range(steps - 1):
        assert torch.allclose(q @ diag[k] @ q, q @ h_ref[k, :, k] @ q, rtol=0, atol=1e-8 * scale)
    for k in range(steps - 2):
        assert torch.allclose(q @ sub[k] @ q, q @ h_ref[k + 1, :, k] @ q, rtol=0, atol=1e-8 * scale)


def test_log_mean():
    a = torch.tensor([1.0, 2.0, 1e-3, 1.0 + 1e-9, 5.0], dtype=F64)
    b = torch.tensor([1.0, 0.5, 7.0, 1.0, 5.0 * (1 + 0.04)], dtype=F64)
    expected = [1.0, 1.5 / math.log(4.0), _theta(1e-3, 7.0), 1.0 + 5e-10, _theta(5.0, 5.2)]
    assert torch.allclose(log_mean(a, b), torch.tensor(expected, dtype=F64), rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------------------------
# bad input


def _bad(match: str, *args, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        markov_distance(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_masses():
    p = _two(0.3)
    _bad("rho1 has negative entries", p, torch.tensor([1.2, -0.2], dtype=F64), TWO_RATES, TWO_PI)
    _bad("rho0 contains NaN", torch.tensor([math.nan, 0.5], dtype=F64), p, TWO_RATES, TWO_PI)
    _bad(re.escape("rho1 sums to 0.93, not 1; divide by its sum"), p,
         torch.tensor([0.5, 0.43], dtype=F64), TWO_RATES, TWO_PI)  # fmt: skip
    _bad(re.escape("rho1 has length 3, but rho0 has length 2"), p,
         torch.full((3,), 1 / 3, dtype=F64), TWO_RATES, TWO_PI)  # fmt: skip
    _bad(r"rho0 must have shape \(n,\)", p[None], p, TWO_RATES, TWO_PI)
    _bad("rho0 must be a torch.Tensor", [0.3, 0.7], p, TWO_RATES, TWO_PI)
    _bad("rho0 must be a floating tensor", torch.tensor([0, 1]), p, TWO_RATES, TWO_PI)


def test_bad_chain():
    p, q = _two(0.3), _two(0.6)
    _bad("pi must be positive", p, q, TWO_RATES, torch.tensor([1.0, 0.0], dtype=F64))
    _bad(re.escape("pi sums to 2, not 1"), p, q, TWO_RATES, torch.ones(2, dtype=F64))
    _bad(re.escape("rates must have shape (2, 2)"), p, q, torch.ones(3, 3, dtype=F64), TWO_PI)
    _bad("rates has negative off-diagonal", p, q, -TWO_RATES, TWO_PI)
    _bad("rates contains NaN", p, q, torch.tensor([[0.0, math.nan], [1.0, 0.0]], dtype=F64), TWO_PI)
    skew = torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=F64)
    _bad(
        r"not reversible with respect to pi: pi_x K\(x, y\) = 0\.5 but pi_y K\(y, x\) = 1",
        p,
        q,
        skew,
        TWO_PI,
    )
    # a generator matrix (negative diagonal) is fine: the diagonal is ignored
    generator = TWO_RATES - torch.eye(2, dtype=F64)
    assert markov_distance(p, q, generator, TWO_PI, n_times=4).distance > 0


def test_endpoints_in_different_components():
    w = torch.zeros(3, 3, dtype=F64)
    w[0, 1] = w[1, 0] = 0.2
    pi = torch.tensor([0.4, 0.4, 0.2], dtype=F64)
    rates = w / pi[:, None]
    p = torch.tensor([0.5, 0.5, 0.0], dtype=F64)
    q = torch.tensor([0.5, 0.0, 0.5], dtype=F64)
    _bad(re.escape("different masses (1 vs 0.5) on the states [0, 1]"), p, q, rates, pi)


def test_bad_options():
    p, q = _two(0.3), _two(0.6)
    _bad("n_times must be an integer >= 1", p, q, TWO_RATES, TWO_PI, n_times=0)
    _bad("n_times must be an integer >= 1", p, q, TWO_RATES, TWO_PI, n_times=2.5)
    _bad("tol must be a finite number >= 0", p, q, TWO_RATES, TWO_PI, tol=math.nan)
    _bad("max_iter must be an integer >= 0", p, q, TWO_RATES, TWO_PI, max_iter=-1)


def test_warns_when_out_of_iterations():
    pi, rates = _chain(4, seed=20, complete=False)
    p = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=F64)
    with pytest.warns(RuntimeWarning, match="stopped after 2 Newton steps"):
        geo = markov_distance(p, p.roll(2), rates, pi, n_times=8, max_iter=2)
    assert geo.iterations == 2 and geo.residual > 1e-10


def test_old_module_path_warns_and_keeps_working():
    import importlib
    import sys

    sys.modules.pop("lagrangian_ot.dynamic.markov", None)
    with pytest.warns(DeprecationWarning, match="lagrangian_ot.markov"):
        old = importlib.import_module("lagrangian_ot.dynamic.markov")
    assert old.markov_distance is markov_distance and old.MarkovGeodesic is MarkovGeodesic
    from lagrangian_ot.dynamic import markov_distance as via_dynamic

    assert via_dynamic is markov_distance
