"""Tests for the kernel-smoothed Eulerian fields: density, momentum, velocity.

Every field is checked against an independent float64 reference written here with
plain torch broadcasting:

    rho(q) = sum_k mass_k prod_a exp(-(q_a - z_ka)^2 / (2 sigma_a^2)) / (sqrt(2 pi) sigma_a)
    m(q)   = sum_k mass_k V_k (same kernel)

The default backend is used throughout (never "keops": it compiles C++).
"""

from __future__ import annotations

import math

import pytest
import torch

from lagrangian_ot import (
    Grid,
    InputError,
    density,
    density_and_momentum,
    match,
    mccann,
    momentum,
    velocity,
)

F64 = torch.float64


# ----------------------------------------------------------------------------- reference


def _kernel_ref(q, z, sigma):
    """``q (Q, d)``, ``z (..., K, d)`` -> Gaussian weights ``(..., Q, K)`` in float64."""
    q = q.to(F64)
    z = z.to(F64)
    d = z.shape[-1]
    s = torch.as_tensor(sigma, dtype=F64).reshape(-1).expand(d)
    diff = q[:, None, :] - z[..., None, :, :]  # (..., Q, K, d)
    g = torch.exp(-(diff**2) / (2 * s**2)) / (math.sqrt(2 * math.pi) * s)
    return g.prod(-1)


def ref_fields(z, mass, vel, q, sigma):
    """float64 ``(rho (..., Q), m (..., Q, d))`` at queries ``q``."""
    g = _kernel_ref(q, z, sigma)  # (..., Q, K)
    mass = torch.as_tensor(mass, dtype=F64).expand(z.shape[:-1])  # (..., K)
    rho = (g * mass[..., None, :]).sum(-1)
    m = None
    if vel is not None:
        w = mass[..., None] * torch.as_tensor(vel, dtype=F64).expand(z.shape)  # (..., K, d)
        m = g @ w
    return rho, m


def ref_fields_grid(z, mass, vel, grid, sigma):
    """float64 reference on a grid: ``(..., *shape)`` and ``(..., *shape, d)``."""
    rho, m = ref_fields(z, mass, vel, grid.points(), sigma)
    rho = rho.reshape(*rho.shape[:-1], *grid.shape)
    if m is not None:
        m = m.reshape(*m.shape[:-2], *grid.shape, m.shape[-1])
    return rho, m


def ref_velocity(rho, m, nspatial, floor):
    """``m / rho`` where ``rho > floor * max(rho)`` (max per leading batch), else 0."""
    dims = tuple(range(-nspatial, 0))
    peak = rho.abs().amax(dim=dims, keepdim=True)
    ok = rho > floor * peak
    v = torch.where(
        ok[..., None],
        m / torch.where(ok, rho, torch.ones_like(rho))[..., None],
        torch.zeros_like(m),
    )
    # cells too close to the threshold to decide reliably
    ambiguous = (rho - floor * peak).abs() <= 1e-9 * peak
    return v, ok, ambiguous


def _close(actual, expected, rel=1e-11):
    """Agreement relative to the largest magnitude of the reference."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = float(expected.abs().max())
    assert scale > 0
    err = float((actual.to(F64) - expected).abs().max())
    assert err <= rel * scale, f"max error {err:.3e} > {rel:.1e} * {scale:.3e}"


# ----------------------------------------------------------------------------- data

GRIDS = {
    1: Grid((-1.0,), (2.0,), (23,)),
    2: Grid((-1.0, -0.5), (2.0, 1.8), (13, 9)),
    3: Grid((-1.0, -0.5, 0.0), (2.0, 1.8, 1.5), (7, 5, 6)),
}
SIGMAS = {1: [0.3], 2: [0.3, 0.15], 3: [0.3, 0.15, 0.45]}


def _particles(K, d, seed, batch=(), dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    z = torch.rand(*batch, K, d, generator=gen, dtype=F64).to(dtype)
    mass = (torch.rand(K, generator=gen, dtype=F64) + 0.5).to(dtype)
    vel = (torch.randn(*batch, K, d, generator=gen, dtype=F64)).to(dtype)
    return z, mass, vel


def _queries(Q, d, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(Q, d, generator=gen, dtype=F64) * 2.4 - 0.7


# ----------------------------------------------------------------------------- values on grids


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("per_axis", [False, True], ids=["scalar_sigma", "per_axis_sigma"])
def test_grid_fields_match_reference(d, per_axis):
    z, mass, vel = _particles(K=11, d=d, seed=d, dtype=F64)
    grid = GRIDS[d]
    sigma = SIGMAS[d] if per_axis else 0.25
    rho_ref, m_ref = ref_fields_grid(z, mass, vel, grid, sigma)

    rho = density(z, mass, grid, sigma)
    assert rho.shape == grid.shape and rho.dtype == F64
    _close(rho, rho_ref)

    m = momentum(z, mass, vel, grid, sigma)
    assert m.shape == (*grid.shape, d) and m.dtype == F64
    _close(m, m_ref)

    rho2, m2 = density_and_momentum(z, mass, vel, grid, sigma)
    _close(rho2, rho_ref)
    _close(m2, m_ref)


@pytest.mark.slow
def test_per_axis_sigma_is_applied_to_the_right_axis():
    # one particle at the origin, very different widths: the profile along each axis
    # must have the width given for that axis
    z = torch.zeros(1, 2, dtype=F64)
    grid = Grid((-1.0, -1.0), (1.0, 1.0), (21, 21))  # centre cell at 0 on both axes
    rho = density(z, torch.ones(1, dtype=F64), grid, [0.1, 0.4])
    ax0, ax1 = grid.axes
    prof0 = rho[:, 10] / rho[10, 10]
    prof1 = rho[10, :] / rho[10, 10]
    torch.testing.assert_close(prof0, torch.exp(-(ax0**2) / (2 * 0.1**2)), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(prof1, torch.exp(-(ax1**2) / (2 * 0.4**2)), rtol=1e-12, atol=1e-14)
    assert float(rho[10, 10]) == pytest.approx(1 / (2 * math.pi * 0.1 * 0.4), rel=1e-12)


def test_single_particle_peak_value_3d():
    z = torch.tensor([[0.0, 0.0, 0.0]], dtype=F64)
    grid = Grid((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), (5, 5, 5))  # centre cell at 0
    rho = density(z, torch.tensor([2.0], dtype=F64), grid, 0.5)
    assert float(rho[2, 2, 2]) == pytest.approx(2.0 / (2 * math.pi * 0.25) ** 1.5, rel=1e-12)
    assert float(rho.max()) == float(rho[2, 2, 2])


@pytest.mark.parametrize("d", [1, 2, 3])
def test_grid_fields_batched_particles(d):
    T = 3
    z, mass, vel = _particles(K=7, d=d, seed=20 + d, batch=(T,))
    grid = GRIDS[d]
    sigma = SIGMAS[d]
    rho_ref, m_ref = ref_fields_grid(z, mass, vel, grid, sigma)
    rho = density(z, mass, grid, sigma)
    assert rho.shape == (T, *grid.shape)
    _close(rho, rho_ref)
    m = momentum(z, mass, vel, grid, sigma)
    assert m.shape == (T, *grid.shape, d)
    _close(m, m_ref)
    # each time slice equals the unbatched computation
    for i in range(T):
        torch.testing.assert_close(rho[i], density(z[i], mass, grid, sigma), rtol=1e-12, atol=1e-14)
    # and velocity is batched the same way
    v = velocity(z, mass, vel, grid, sigma)
    assert v.shape == (T, *grid.shape, d)
    for i in range(T):
        torch.testing.assert_close(
            v[i], velocity(z[i], mass, vel[i], grid, sigma), rtol=1e-12, atol=1e-14
        )


def test_scalar_and_broadcast_mass_and_velocity():
    z, _, _ = _particles(K=6, d=2, seed=30)
    grid = GRIDS[2]
    rho_ref, m_ref = ref_fields_grid(
        z, torch.full((6,), 0.5, dtype=F64), torch.tensor([1.0, -2.0]), grid, 0.2
    )
    _close(density(z, 0.5, grid, 0.2), rho_ref)
    _close(momentum(z, 0.5, torch.tensor([1.0, -2.0], dtype=F64), grid, 0.2), m_ref)


# ----------------------------------------------------------------------------- values at queries


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("per_axis", [False, True], ids=["scalar_sigma", "per_axis_sigma"])
def test_query_fields_match_reference(d, per_axis):
    z, mass, vel = _particles(K=13, d=d, seed=40 + d)
    q = _queries(31, d, seed=50 + d)
    sigma = SIGMAS[d] if per_axis else 0.25
    rho_ref, m_ref = ref_fields(z, mass, vel, q, sigma)
    rho = density(z, mass, q, sigma)
    assert rho.shape == (31,) and rho.dtype == F64
    _close(rho, rho_ref)
    m = momentum(z, mass, vel, q, sigma)
    assert m.shape == (31, d)
    _close(m, m_ref)
    rho2, m2 = density_and_momentum(z, mass, vel, q, sigma)
    _close(rho2, rho_ref)
    _close(m2, m_ref)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_query_fields_batched_particles(d):
    T = 4
    z, mass, vel = _particles(K=9, d=d, seed=60 + d, batch=(T,))
    q = _queries(17, d, seed=70 + d)
    sigma = SIGMAS[d]
    rho_ref, m_ref = ref_fields(z, mass, vel, q, sigma)
    rho = density(z, mass, q, sigma)
    assert rho.shape == (T, 17)
    _close(rho, rho_ref)
    m = momentum(z, mass, vel, q, sigma)
    assert m.shape == (T, 17, d)
    _close(m, m_ref)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_queries_at_grid_points_equal_grid_values(d):
    z, mass, vel = _particles(K=8, d=d, seed=80 + d)
    grid = GRIDS[d]
    sigma = SIGMAS[d]
    on_grid = density(z, mass, grid, sigma)
    at_points = density(z, mass, grid.points(), sigma)
    _close(on_grid.reshape(-1), at_points.to(F64), rel=1e-11)
    m_grid = momentum(z, mass, vel, grid, sigma)
    m_pts = momentum(z, mass, vel, grid.points(), sigma)
    _close(m_grid.reshape(-1, d), m_pts.to(F64), rel=1e-11)


# ----------------------------------------------------------------------------- mass conservation


@pytest.mark.parametrize(
    "d, sigma, shape",
    [(1, 0.2, (60,)), (2, 0.2, (40, 40)), (2, [0.15, 0.3], (48, 40)), (3, 0.3, (22, 22, 22))],
)
def test_mass_conservation(d, sigma, shape):
    z, mass, vel = _particles(K=10, d=d, seed=90 + d, batch=(2,))
    smax = max(torch.as_tensor(sigma).reshape(-1).tolist())
    lo = tuple([-8 * smax] * d)
    hi = tuple([1 + 8 * smax] * d)
    grid = Grid(lo, hi, shape)
    assert max(grid.spacing) < smax  # resolved kernels
    rho, m = density_and_momentum(z, mass, vel, grid, sigma)
    spatial = tuple(range(1, d + 1))
    total = rho.sum(dim=spatial) * grid.cell_volume  # one per time slice
    torch.testing.assert_close(
        total, torch.full((2,), float(mass.sum()), dtype=F64), rtol=0, atol=1e-6
    )
    # the momentum integrates to sum_k mass_k V_k
    mom = m.sum(dim=spatial) * grid.cell_volume  # (2, d)
    torch.testing.assert_close(mom, (mass[:, None] * vel).sum(-2), rtol=0, atol=1e-6)


def test_mass_is_lost_when_grid_does_not_cover():
    # sanity check that the conservation test can fail: half the particles off the grid
    z = torch.tensor([[0.5, 0.5], [5.0, 5.0]], dtype=F64)
    grid = Grid((-2.0, -2.0), (3.0, 3.0), (50, 50))
    total = float(density(z, torch.ones(2, dtype=F64), grid, 0.2).sum()) * grid.cell_volume
    assert total == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------- continuity equation


@pytest.fixture(scope="module")
def mccann_plan():
    gen = torch.Generator().manual_seed(7)
    x = torch.rand(10, 2, generator=gen, dtype=F64)
    y = torch.rand(10, 2, generator=gen, dtype=F64) + torch.tensor([0.6, 0.2], dtype=F64)
    return match(x, y, method="exact")


@pytest.mark.parametrize("t", [0.0, 0.35, 0.8])
def test_continuity_equation_at_queries(mccann_plan, t):
    plan = mccann_plan
    h, sigma = 1e-3, 0.25
    gen = torch.Generator().manual_seed(11)
    q = torch.rand(40, 2, generator=gen, dtype=F64) * 2.0 - 0.3
    rho_p = density(mccann(plan, t + h, extrapolate=True), plan.mass, q, sigma)
    rho_m = density(mccann(plan, t - h, extrapolate=True), plan.mass, q, sigma)
    dt_rho = (rho_p - rho_m) / (2 * h)
    z = mccann(plan, t)
    div = torch.zeros_like(dt_rho)
    for a in range(2):
        e = torch.zeros(2, dtype=F64)
        e[a] = h
        mp = momentum(z, plan.mass, plan.velocity, q + e, sigma)[:, a]
        mm = momentum(z, plan.mass, plan.velocity, q - e, sigma)[:, a]
        div += (mp - mm) / (2 * h)
    scale = float(dt_rho.abs().max())
    assert scale > 0.1  # the density really moves at these queries
    assert float((dt_rho + div).abs().max()) <= 1e-5 * scale
    # and the check discriminates: the wrong sign is far off
    assert float((dt_rho - div).abs().max()) > 0.5 * scale


def test_continuity_equation_on_grid(mccann_plan):
    plan = mccann_plan
    h, sigma, t = 1e-3, 0.25, 0.5
    lo, hi, shape = (-0.5, -0.5), (2.0, 1.7), (20, 18)
    grid = Grid(lo, hi, shape)
    z_t = mccann(plan, torch.tensor([t - h, t + h], dtype=F64), extrapolate=True)  # (2, K, d)
    rho = density(z_t, plan.mass, grid, sigma)
    dt_rho = (rho[1] - rho[0]) / (2 * h)
    z = mccann(plan, t)
    div = torch.zeros_like(dt_rho)
    for a in range(2):
        shift = [0.0, 0.0]
        shift[a] = h
        gp = Grid(
            tuple(low + s for low, s in zip(lo, shift)),
            tuple(u + s for u, s in zip(hi, shift)),
            shape,
        )
        gm = Grid(
            tuple(low - s for low, s in zip(lo, shift)),
            tuple(u - s for u, s in zip(hi, shift)),
            shape,
        )
        div += (momentum(z, plan.mass, plan.velocity, gp, sigma)[..., a]
                - momentum(z, plan.mass, plan.velocity, gm, sigma)[..., a]) / (2 * h)  # fmt: skip
    scale = float(dt_rho.abs().max())
    assert scale > 0.1
    assert float((dt_rho + div).abs().max()) <= 1e-5 * scale


# ----------------------------------------------------------------------------- velocity


@pytest.mark.parametrize("floor", [1e-3, 0.2, 0.0])
def test_velocity_on_grid_with_empty_region(floor):
    z, mass, vel = _particles(K=9, d=2, seed=100)
    # particles in [0, 1]^2; the grid reaches 10 units away where rho underflows to 0
    grid = Grid((-1.0, -1.0), (11.0, 2.0), (48, 12))
    sigma = 0.1
    rho_ref, m_ref = ref_fields_grid(z, mass, vel, grid, sigma)
    assert bool((rho_ref == 0).any())  # a region with no mass at all
    v_ref, ok, ambiguous = ref_velocity(rho_ref, m_ref, 2, floor)
    v = velocity(z, mass, vel, grid, sigma, floor=floor)
    assert v.shape == (*grid.shape, 2)
    assert not bool(torch.isnan(v).any())
    assert bool(torch.isfinite(v).all())
    # zero where the density is below the floor (and exactly zero where it vanishes)
    below = ~ok & ~ambiguous
    if floor > 0:
        assert bool(below.any())
    assert bool((v[below] == 0).all())
    # m / rho elsewhere
    above = ok & ~ambiguous
    assert bool(above.any())
    vmax = float(vel.abs().max())
    err = (v[above] - v_ref[above]).abs().max()
    assert float(err) <= 1e-9 * vmax
    # far from all particles: zero
    far = grid.axes[0] > 5.0
    assert bool((v[far] == 0).all())


def test_velocity_floor_is_relative_to_each_time_slice():
    # two time slices with very different peaks: the floor uses each slice's own maximum
    z = torch.stack(
        [torch.tensor([[0.5, 0.5], [0.6, 0.5]]), torch.tensor([[0.2, 0.2], [0.9, 0.9]])]
    ).to(F64)
    mass = torch.tensor([1.0, 1.0], dtype=F64)
    vel = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    grid = Grid((-0.5, -0.5), (1.5, 1.5), (16, 16))
    sigma = 0.1
    floor = 0.05
    rho_ref, m_ref = ref_fields_grid(z, mass, vel, grid, sigma)
    v_ref, ok, ambiguous = ref_velocity(rho_ref, m_ref, 2, floor)
    v = velocity(z, mass, vel, grid, sigma, floor=floor)
    keep = ~ambiguous
    torch.testing.assert_close(v[keep], v_ref[keep], rtol=1e-9, atol=1e-12)


def test_velocity_at_queries_far_and_near():
    z, mass, vel = _particles(K=9, d=2, seed=101)
    q = torch.cat(
        [_queries(20, 2, seed=102), torch.tensor([[50.0, 50.0], [-40.0, 3.0]], dtype=F64)]
    )
    sigma = [0.2, 0.1]
    rho_ref, m_ref = ref_fields(z, mass, vel, q, sigma)
    v_ref, ok, ambiguous = ref_velocity(rho_ref, m_ref, 1, 1e-3)
    for floor in (1e-3, 0.0):
        v = velocity(z, mass, vel, q, sigma, floor=floor)
        assert v.shape == (22, 2)
        assert bool(torch.isfinite(v).all())
        assert bool((v[-2:] == 0).all())
    v = velocity(z, mass, vel, q, sigma)  # default floor 1e-3
    keep = ~ambiguous
    torch.testing.assert_close(v[keep], v_ref[keep], rtol=1e-9, atol=1e-12)


def test_velocity_never_nan_when_everything_underflows():
    z = torch.zeros(3, 2, dtype=F64)
    grid = Grid((100.0, 100.0), (101.0, 101.0), (4, 4))  # rho == 0 on the whole grid
    v = velocity(z, torch.ones(3, dtype=F64), torch.ones(3, 2, dtype=F64), grid, 0.1, floor=0.0)
    assert bool((v == 0).all())


@pytest.mark.parametrize("t", [0.0, 0.5, 1.0])
def test_velocity_of_translation_is_constant(t):
    gen = torch.Generator().manual_seed(200)
    x = torch.rand(12, 2, generator=gen, dtype=F64)
    c = torch.tensor([0.7, -0.4], dtype=F64)
    y = x + c
    plan = match(x, y, method="exact")
    assert plan.is_permutation
    torch.testing.assert_close(plan.velocity, c.expand(12, 2), rtol=0, atol=1e-14)
    z = mccann(plan, t)
    grid = Grid((-1.0, -1.5), (2.5, 1.5), (30, 24))
    sigma = 0.15
    v = velocity(z, plan.mass, plan.velocity, grid, sigma)
    rho = density(z, plan.mass, grid, sigma)
    keep = rho > 1e-3 * rho.max()
    assert int(keep.sum()) > 50
    torch.testing.assert_close(v[keep], c.expand(int(keep.sum()), 2), rtol=0, atol=1e-12)
    assert bool((v[~keep] == 0).all())


# ----------------------------------------------------------------------------- dtype and device


@pytest.mark.parametrize("d", [1, 2, 3])
def test_float32_in_float32_out(d):
    z, mass, vel = _particles(K=10, d=d, seed=300 + d, batch=(2,), dtype=torch.float32)
    grid = GRIDS[d]
    q = _queries(15, d, seed=310 + d).float()
    sigma = SIGMAS[d]
    for where, _nsp in ((grid, d), (q, 1)):
        rho = density(z, mass, where, sigma)
        m = momentum(z, mass, vel, where, sigma)
        rho2, m2 = density_and_momentum(z, mass, vel, where, sigma)
        v = velocity(z, mass, vel, where, sigma)
        for out in (rho, m, rho2, m2, v):
            assert out.dtype == torch.float32
            assert out.device == z.device
        pts = grid.points() if isinstance(where, Grid) else q
        rho_ref, m_ref = ref_fields(z, mass, vel, pts, sigma)
        _close(rho.reshape(2, -1), rho_ref, rel=1e-5)
        _close(m.reshape(2, -1, d), m_ref, rel=1e-5)


def test_float64_queries_with_float32_points_follow_points_dtype():
    z, mass, _ = _particles(K=5, d=2, seed=320, dtype=torch.float32)
    q = _queries(6, 2, seed=321)  # float64 queries
    rho = density(z, mass, q, 0.3)
    assert rho.dtype == torch.float32


def test_float32_queries_off_origin_are_as_accurate_as_grid():
    # particles around (10, 10) with sigma 0.1: float32 queries should be about as accurate
    # as the float32 grid evaluation at the same points (both against a float64 reference)
    gen = torch.Generator().manual_seed(330)
    z = torch.rand(20, 2, generator=gen, dtype=F64) + 10.0
    mass = torch.full((20,), 0.05, dtype=F64)
    grid = Grid((10.0, 10.0), (11.0, 11.0), (16, 16))
    sigma = 0.1
    rho_ref, _ = ref_fields(z.float(), mass.float(), None, grid.points().float(), sigma)
    on_grid = density(z.float(), mass.float(), grid, sigma).reshape(-1)
    at_points = density(z.float(), mass.float(), grid.points().float(), sigma)
    _close(on_grid, rho_ref, rel=1e-4)
    _close(at_points, rho_ref, rel=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_density_on_cuda_matches_cpu(dtype):
    z, mass, vel = _particles(K=50, d=2, seed=400, batch=(3,), dtype=dtype)
    grid = GRIDS[2]
    sigma = SIGMAS[2][1]
    dev = torch.device("cuda")
    cpu = density(z, mass, grid, sigma)
    gpu = density(z.to(dev), mass.to(dev), grid, sigma)  # grid: separable torch sum by default
    assert gpu.device.type == "cuda"
    assert gpu.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    _close(gpu.cpu().to(F64), cpu.to(F64), rel=tol)
    # queries: the default on CUDA may be KeOps, which compiles; use the torch sum
    q = _queries(40, 2, seed=401).to(dtype)
    gq = density(z.to(dev), mass.to(dev), q.to(dev), sigma, backend="torch")
    assert gq.device.type == "cuda"
    _close(gq.cpu().to(F64), density(z, mass, q, sigma).to(F64), rel=tol)
    v = velocity(z.to(dev), mass.to(dev), vel.to(dev), grid, sigma)
    assert v.device.type == "cuda" and bool(torch.isfinite(v).all())


# ----------------------------------------------------------------------------- bad input

_Z, _MASS, _VEL = _particles(K=5, d=2, seed=500)
_G2 = GRIDS[2]


def _call(fn, z=_Z, mass=_MASS, vel=_VEL, where=_G2, sigma=0.2, **kw):
    if fn is density:
        return density(z, mass, where, sigma, **kw)
    return fn(z, mass, vel, where, sigma, **kw)


ALL = [density, momentum, velocity, density_and_momentum]
WITH_VEL = [momentum, velocity, density_and_momentum]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "kw",
    [
        {"sigma": 0.0},
        {"sigma": -0.1},
        {"sigma": float("nan")},
        {"sigma": float("inf")},
        {"sigma": [0.2, 0.0]},  # one axis not positive
        {"sigma": [0.2, float("nan")]},
        {"sigma": [0.1, 0.2, 0.3]},  # wrong number of per-axis sigmas
        {
            "z": torch.zeros(0, 2, dtype=F64),
            "mass": torch.zeros(0, dtype=F64),
            "vel": torch.zeros(0, 2, dtype=F64),
        },
        {
            "z": torch.tensor([[0.0, 0.1], [float("nan"), 0.2]], dtype=F64),
            "mass": torch.ones(2, dtype=F64),
            "vel": torch.zeros(2, 2, dtype=F64),
        },
        {
            "z": torch.tensor([[0.0, float("inf")]], dtype=F64),
            "mass": torch.ones(1, dtype=F64),
            "vel": torch.zeros(1, 2, dtype=F64),
        },
        {"z": torch.zeros(5, dtype=F64)},  # points must be (..., K, d)
        {"z": torch.zeros(5, 2, dtype=torch.long)},  # integer points
        {"mass": torch.ones(6, dtype=F64)},  # mass shape mismatch
        {"mass": torch.ones(5, 2, dtype=F64)},
        {"mass": torch.tensor([1.0, float("nan"), 1.0, 1.0, 1.0], dtype=F64)},
        {"where": GRIDS[3]},  # grid dimension != point dimension
        {"where": GRIDS[1]},
        {"where": torch.zeros(4, 3, dtype=F64)},  # queries with wrong last dimension
        {"where": torch.zeros(4, dtype=F64)},  # queries not (Q, d)
        {"where": [[0.0, 0.0]]},  # neither a Grid nor a tensor
        {"backend": "numpy"},
    ],
    ids=lambda kw: ",".join(
        f"{k}={v if not isinstance(v, torch.Tensor) else tuple(v.shape)}" for k, v in kw.items()
    ),
)
def test_bad_input_raises(fn, kw):
    with pytest.raises(InputError):
        _call(fn, **kw)


@pytest.mark.parametrize("fn", WITH_VEL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "vel",
    [
        torch.zeros(5, 3, dtype=F64),
        torch.zeros(6, 2, dtype=F64),
        torch.zeros(3, dtype=F64),
        torch.tensor([[float("nan"), 0.0]] * 5, dtype=F64),
    ],
    ids=["d+1", "K+1", "wrong_d_vector", "nan"],
)
def test_bad_velocity_raises(fn, vel):
    with pytest.raises(InputError):
        _call(fn, vel=vel)


def test_batched_mass_mismatch_raises():
    z, mass, vel = _particles(K=5, d=2, seed=501, batch=(3,))
    with pytest.raises(InputError):
        density(z, torch.ones(2, 5, dtype=F64), _G2, 0.2)  # (2, K) cannot broadcast to (3, K)


@pytest.mark.parametrize("floor", [-0.1, 1.0, 2.0, float("nan")])
def test_bad_floor_raises(floor):
    with pytest.raises(InputError):
        velocity(_Z, _MASS, _VEL, _G2, 0.2, floor=floor)


def test_input_error_is_value_error():
    with pytest.raises(ValueError):
        density(_Z, _MASS, _G2, -1.0)


@pytest.mark.gpu
@pytest.mark.keops
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_keops_on_cuda_matches_exact_sums():
    z, mass, _ = _particles(K=400, d=2, seed=402, dtype=torch.float32)
    dev = torch.device("cuda")
    sigma = SIGMAS[2][1]
    q = _queries(300, 2, seed=403).float()
    ref = density(z.double(), mass.double(), q.double(), sigma, backend="torch")
    keops = density(z.to(dev), mass.to(dev), q.to(dev), sigma, backend="keops")
    assert keops.device.type == "cuda"
    _close(keops.cpu().double(), ref, rel=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fft_on_cuda_matches_exact_sums():
    z, mass, _ = _particles(K=400, d=2, seed=402, dtype=torch.float32)
    grid = Grid((-1.0, -0.5), (2.0, 1.8), (96, 80))
    exact = density(z.double(), mass.double(), grid, SIGMAS[2][1], backend="torch")
    fft = density(z.cuda(), mass.cuda(), grid, SIGMAS[2][1], backend="fft")
    assert fft.device.type == "cuda"
    _close(fft.cpu().double(), exact, rel=1e-4)
