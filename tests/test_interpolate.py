"""Tests for lagrangian_ot.mccann: McCann (displacement) interpolation of a plan."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from lagrangian_ot import InputError, match, mccann


def _clouds(n=9, m=None, d=2, dtype=torch.float64, seed=0, batch=()):
    gen = torch.Generator().manual_seed(seed)
    m = n if m is None else m
    x = torch.rand(*batch, n, d, generator=gen, dtype=torch.float64).to(dtype)
    y = (torch.rand(*batch, m, d, generator=gen, dtype=torch.float64) * 0.8 + 0.5).to(dtype)
    return x, y


@pytest.fixture(scope="module")
def plan64():
    x, y = _clouds(n=9, dtype=torch.float64, seed=1)
    return match(x, y, method="exact")


@pytest.fixture(scope="module")
def plan_split():
    # unequal sizes: mass splits along pairs, K > n
    x, y = _clouds(n=5, m=7, dtype=torch.float64, seed=2)
    p = match(x, y, method="exact")
    assert p.src.shape[0] > 5
    return p


def _ref(plan, t):
    """float64 reference (1 - t) x[src] + t y[dst] for a non-batched plan."""
    x0 = plan.x.double()[plan.src]
    x1 = plan.y.double()[plan.dst]
    return (1 - t) * x0 + t * x1


def test_float_t_shape(plan64):
    z = mccann(plan64, 0.3)
    K, d = plan64.src.shape[0], plan64.x.shape[-1]
    assert z.shape == (K, d)


def test_int_t_is_accepted(plan64):
    torch.testing.assert_close(mccann(plan64, 1), plan64.y[plan64.dst], rtol=0, atol=0)
    torch.testing.assert_close(mccann(plan64, 0), plan64.x[plan64.src], rtol=0, atol=0)


def test_tensor_t_shape(plan64):
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    z = mccann(plan64, t)
    assert z.shape == (5, plan64.src.shape[0], 2)


@pytest.mark.parametrize("fixture", ["plan64", "plan_split"])
def test_endpoints_float_t(fixture, request):
    plan = request.getfixturevalue(fixture)
    torch.testing.assert_close(mccann(plan, 0.0), plan.x[plan.src], rtol=0, atol=0)
    torch.testing.assert_close(mccann(plan, 1.0), plan.y[plan.dst], rtol=0, atol=0)


@pytest.mark.parametrize("fixture", ["plan64", "plan_split"])
def test_endpoints_tensor_t(fixture, request):
    plan = request.getfixturevalue(fixture)
    z = mccann(plan, torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(z[0], plan.x[plan.src], rtol=0, atol=0)
    torch.testing.assert_close(z[1], plan.y[plan.dst], rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("fixture", ["plan64", "plan_split"])
def test_rows_are_linear_interpolation(fixture, request):
    plan = request.getfixturevalue(fixture)
    ts = [-0.25, 0.1, 0.5, 0.73, 1.2]  # extrapolation is allowed when asked for
    z = mccann(plan, torch.tensor(ts, dtype=torch.float64), extrapolate=True)
    for i, t in enumerate(ts):
        torch.testing.assert_close(z[i], _ref(plan, t), rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(
            mccann(plan, t, extrapolate=True), _ref(plan, t), rtol=1e-14, atol=1e-14
        )


@pytest.mark.parametrize(
    "t", [1.5, -0.1, torch.tensor(1.0001, dtype=torch.float64), torch.tensor([0.0, 0.5, 2.0])]
)
def test_times_outside_0_1_are_refused_unless_extrapolating(plan64, t):
    with pytest.raises(InputError, match=r"\[0, 1\].*extrapolate=True"):
        mccann(plan64, t)
    assert mccann(plan64, t, extrapolate=True).shape[-2:] == mccann(plan64, 0.5).shape


def test_constant_velocity(plan64):
    # Z_t - Z_s = (t - s) * velocity
    z = mccann(plan64, torch.tensor([0.2, 0.7], dtype=torch.float64))
    torch.testing.assert_close(z[1] - z[0], 0.5 * plan64.velocity, rtol=1e-13, atol=1e-14)


def test_midpoint_of_simple_plan():
    plan = match(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), method="exact")
    assert mccann(plan, torch.tensor([0.0, 0.5, 1.0]))[:, 0, 0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_keeps_dtype_and_device(dtype):
    x, y = _clouds(n=6, dtype=dtype, seed=3)
    plan = match(x, y, method="exact")
    assert plan.x.dtype == dtype
    z_float = mccann(plan, 0.4)
    z_tensor = mccann(plan, torch.tensor([0.0, 0.4, 1.0], dtype=torch.float64))  # t dtype differs
    for z in (z_float, z_tensor):
        assert z.dtype == dtype
        assert z.device == x.device
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(z_float.double(), _ref(plan, 0.4), rtol=tol, atol=tol)
    torch.testing.assert_close(z_tensor[1], z_float, rtol=tol, atol=tol)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_keeps_cuda_device(dtype):
    x, y = _clouds(n=6, dtype=dtype, seed=4)
    plan = match(x, y, method="exact")
    dev = torch.device("cuda")
    gplan = dataclasses.replace(
        plan,
        x=plan.x.to(dev),
        y=plan.y.to(dev),
        src=plan.src.to(dev),
        dst=plan.dst.to(dev),
        mass=plan.mass.to(dev),
    )
    for t in (0.4, torch.tensor([0.0, 0.4, 1.0])):
        z = mccann(gplan, t)
        assert z.device.type == "cuda"
        assert z.dtype == dtype
        torch.testing.assert_close(z.cpu(), mccann(plan, t), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n, m", [(6, 6), (4, 6)])
def test_batched_plan(n, m):
    B = 3
    x, y = _clouds(n=n, m=m, seed=5, batch=(B,))
    plan = match(x, y, method="exact")
    K = plan.src.shape[-1]
    t = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64)
    z = mccann(plan, t)
    assert z.shape == (3, B, K, 2)
    zf = mccann(plan, 0.3)
    assert zf.shape == (B, K, 2)
    for b in range(B):
        xs = x[b][plan.src[b]]
        yd = y[b][plan.dst[b]]
        torch.testing.assert_close(z[0, b], xs, rtol=0, atol=0)
        torch.testing.assert_close(z[2, b], yd, rtol=1e-15, atol=1e-15)
        torch.testing.assert_close(z[1, b], 0.7 * xs + 0.3 * yd, rtol=1e-14, atol=1e-14)
        torch.testing.assert_close(zf[b], z[1, b], rtol=1e-14, atol=1e-14)
        # real (positive-mass) entries agree with the plan of that batch element alone
        single = match(x[b], y[b], method="exact")
        keep = plan.mass[b] > 0
        zs = mccann(single, 0.3)
        ref = {(int(s), int(d)): zs[k] for k, (s, d) in enumerate(zip(single.src, single.dst))}
        for k in torch.nonzero(keep).flatten().tolist():
            key = (int(plan.src[b, k]), int(plan.dst[b, k]))
            torch.testing.assert_close(z[1, b, k], ref[key], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(
    "t",
    [
        torch.zeros(2, 3),  # 2-D tensor
        torch.tensor([0.0, float("nan")]),  # NaN
        torch.tensor([float("inf")]),  # infinite
    ],
    ids=["2d", "nan", "inf"],
)
def test_bad_tensor_t_raises(plan64, t):
    with pytest.raises(InputError):
        mccann(plan64, t)


@pytest.mark.parametrize("t", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_bad_float_t_raises(plan64, t):
    # a non-finite float time must be rejected like a non-finite tensor time
    with pytest.raises(InputError):
        mccann(plan64, t)
