"""Plan's fields: cost and gap are both tensors, and old float usage of the gap keeps working."""

import pytest
import torch

from lagrangian_ot import Plan, match


def clouds(n=200, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 2, generator=g, dtype=dtype), torch.rand(
        n, 2, generator=g, dtype=dtype
    ) + 0.5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cost_and_gap_are_alike(dtype):
    x, y = clouds(dtype=dtype)
    plan = match(x, y, method="exact")
    for value in (plan.cost, plan.gap):
        assert isinstance(value, torch.Tensor) and value.dim() == 0
        assert value.dtype == dtype and value.device == x.device
    # what worked with a float still works
    assert plan.gap <= 1e-6 * plan.cost and float(plan.gap) >= 0.0
    assert f"{plan.gap:.1e}".endswith(tuple("0123456789"))


def test_a_float_gap_is_converted_and_stays_a_bound():
    x, y = clouds(3, torch.float32)
    idx = torch.arange(3)
    plan = Plan(
        x,
        y,
        idx,
        idx,
        torch.full((3,), 1 / 3),
        cost=torch.tensor(1.0),
        method="exact",
        gap=1e-9 + 1e-17,
    )
    assert isinstance(plan.gap, torch.Tensor) and plan.gap.dtype == torch.float32
    assert float(plan.gap) >= 1e-9 + 1e-17  # rounded up, never down
    assert (
        Plan(x, y, idx, idx, torch.ones(3), cost=torch.tensor(1.0), method="sinkhorn").gap is None
    )


def test_batched_plans_have_one_gap_for_all_problems():
    g = torch.Generator().manual_seed(2)
    x, y = (
        torch.rand(4, 30, 2, generator=g, dtype=torch.float64),
        torch.rand(4, 30, 2, generator=g, dtype=torch.float64),
    )
    plan = match(x, y)
    assert plan.cost.shape == (4,) and plan.gap.dim() == 0
    one = plan[1]
    assert one.gap.dim() == 0 and float(one.gap) == float(plan.gap)
    ref = match(x[1], y[1], method="exact")
    assert float(one.cost) == pytest.approx(float(ref.cost), rel=1e-12)


@pytest.mark.gpu
def test_gap_lives_on_the_plans_device():
    x, y = clouds(300)
    plan = match(x.cuda(), y.cuda(), method="exact")
    assert plan.cost.device.type == "cuda" and plan.gap.device.type == "cuda"
    assert float(plan.gap) <= 1e-9 * float(plan.cost)
