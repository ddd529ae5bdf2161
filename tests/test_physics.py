"""The continuity equation and the kinetic action of smoothed McCann fields."""

import pytest
import torch

from lagrangian_ot import Grid, InputError, match
from lagrangian_ot.physics import continuity_residual, kinetic_action, weak_continuity

F64 = torch.float64


@pytest.fixture(scope="module")
def plan():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(150, 2, generator=g, dtype=F64)
    y = 0.6 * torch.rand(150, 2, generator=g, dtype=F64) + torch.tensor([1.2, 0.2], dtype=F64)
    return match(x, y)


def test_weak_form_vanishes_for_mccann_particles(plan):
    def phi(t, z):  # smooth, not vanishing at t = 0, 1: the boundary terms count
        return torch.sin(3 * z[..., 0] + t) * z[..., 1] ** 2 + t**3 * z[..., 0]

    assert abs(weak_continuity(plan, phi)) < 1e-12


def test_weak_form_balances_large_terms(plan):
    """The residual is a difference of two terms of order 1 that cancel."""

    def phi(t, z):
        return z[..., 0] * t  # boundary term: sum_k m_k y_k,0 (about 1.5)

    boundary = float((plan.mass * plan.y[plan.dst, 0]).sum())
    assert boundary > 1.0
    assert abs(weak_continuity(plan, phi)) < 1e-12 * boundary


def test_continuity_residual_converges_at_second_order(plan):
    sigma = 0.08
    errors = []
    for cells, dt in ((60, 4e-2), (120, 2e-2), (240, 1e-2)):
        grid = Grid((-0.4, -0.3), (2.2, 1.1), (cells, int(cells * 1.4 / 2.6)))
        res, scale = continuity_residual(plan, grid, [0.3, 0.7], sigma, dt=dt, backend="torch")
        errors.append(float(res.abs().max()) / scale)
    assert errors[0] / errors[1] > 3 and errors[1] / errors[2] > 3  # ~4 per halving
    assert errors[-1] < 1e-2


def test_kinetic_action_tends_to_the_plan_cost(plan):
    cost = float(plan.cost)
    values = []
    for sigma in (0.15, 0.08, 0.04):
        grid = Grid((-0.6, -0.6), (2.4, 1.4), (int(3 / (sigma / 4)), int(2 / (sigma / 4))))
        values.append(kinetic_action(plan, grid, sigma, backend="torch"))
    assert all(v <= cost * (1 + 1e-6) for v in values)  # Jensen: the Eulerian action is smaller
    assert values[0] < values[1] < values[2]
    assert abs(values[-1] - cost) / cost < 1e-2


def test_physics_bad_input(plan):
    grid = Grid((0, 0), (1, 1), (10, 10))
    with pytest.raises(InputError):
        continuity_residual(plan, grid, [], 0.1)
    with pytest.raises(InputError):
        continuity_residual(plan, grid, [0.5], 0.1, dt=0)
    with pytest.raises(InputError):
        kinetic_action(plan, grid, 0.1, n_times=0)
    with pytest.raises(InputError):
        kinetic_action(plan, grid, -1.0)
