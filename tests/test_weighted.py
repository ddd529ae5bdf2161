"""Exact plans for weighted clouds: costs against POT's network simplex, certificates at every scale."""

import numpy as np
import ot
import pytest
import torch

import lagrangian_ot as lot

F64 = torch.float64


def emd_cost(x, y, a, b):
    a = a.numpy().astype(np.float64)
    b = b.numpy().astype(np.float64)
    b = b * a.sum() / b.sum()
    return float(ot.emd2(a, b, ot.dist(x.numpy(), y.numpy()), numItermax=10**8))


def check(plan, x, y, a, b, rel=1e-9):
    ref = emd_cost(x, y, a, b)
    assert plan.method == "exact"
    assert abs(float(plan.cost) - ref) <= rel * ref + 1e-15
    assert plan.gap is not None and 0.0 <= plan.gap <= 1e-9 * ref + 1e-14
    n, m = x.shape[0], y.shape[0]
    assert plan.src.shape[0] <= n + m - 1
    rows = torch.zeros(n, dtype=F64).index_add_(0, plan.src, plan.mass.double())
    cols = torch.zeros(m, dtype=F64).index_add_(0, plan.dst, plan.mass.double())
    assert torch.allclose(rows, a.double(), atol=1e-12 * float(a.sum()))
    assert torch.allclose(cols, b.double() * a.sum() / b.sum(), atol=1e-12 * float(a.sum()))


# -- point 2: costs near zero are certified at every coordinate scale ---------------------------


def test_two_points_far_apart_against_themselves():
    x = torch.tensor([[16.0], [0.0]], dtype=F64)
    plan = lot.match(x, x)
    assert float(plan.cost) == 0.0 and plan.permutation.tolist() == [0, 1]
    assert float(lot.w2_loss(x, x + 1e-7)) == pytest.approx(1e-14, rel=1e-6)


@pytest.mark.parametrize("scale", [1e-9, 1e-5, 1.0, 1e2, 1e4, 1e6])
def test_near_zero_costs_at_every_scale(scale, gen):
    x = torch.randn(50, 2, generator=gen, dtype=F64) * scale
    for y, expect in ((x, 0.0), (x.flip(0), 0.0), (x + 1e-7 * scale, 2e-14 * scale**2)):
        plan = lot.match(x, y)
        assert float(plan.cost) == pytest.approx(expect, rel=1e-6, abs=1e-300)
        assert plan.gap <= 1e-10 * scale**2
    loss = lot.w2_loss(x, x + 1e-7 * scale)
    assert float(loss) == pytest.approx(2e-14 * scale**2, rel=1e-3)


@pytest.mark.parametrize("scale", [1e-9, 1.0, 1e6])
def test_near_zero_weighted_and_large_clouds(scale, gen):
    x = torch.randn(3000, 2, generator=gen, dtype=F64) * scale
    a = torch.rand(3000, generator=gen, dtype=F64) + 0.1
    plan = lot.match(x, x.flip(0), a, a.flip(0))
    assert float(plan.cost) <= 1e-12 * scale**2
    assert plan.gap <= 1e-10 * scale**2
