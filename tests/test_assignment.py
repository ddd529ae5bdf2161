"""The dense assignment kernel and the batched permutations built on it."""

import numpy as np
import ot
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lagrangian_ot import InputError, ot_pairs
from lagrangian_ot._assignment import batch_permutations, solve_batch_assignment
from lagrangian_ot.kernels.native import NonFiniteCost, assign_costs


def cost_matrices():
    rng = np.random.default_rng(0)
    out = {}
    for n in (1, 2, 3, 7, 8, 9, 33, 100, 257):
        out[f"uniform-{n}"] = rng.random((n, n))
    for d in (2, 64):
        x, y = rng.normal(size=(150, d)), rng.normal(size=(150, d)) * 0.5 + 1.0
        out[f"points-d{d}"] = ((x[:, None] - y[None]) ** 2).sum(-1)
    # 512 rows and more: single-precision bids
    x, y = rng.normal(size=(600, 2)), rng.normal(size=(600, 2)) * 2.0 + 1.0
    out["points-d2-600"] = ((x[:, None] - y[None]) ** 2).sum(-1)
    grid = rng.integers(0, 3, size=(2, 120, 2)).astype(float)  # repeated points: many ties
    out["ties"] = ((grid[0][:, None] - grid[1][None]) ** 2).sum(-1)
    grid = rng.integers(0, 5, size=(2, 520, 2)).astype(float)
    out["ties-520"] = ((grid[0][:, None] - grid[1][None]) ** 2).sum(-1)
    out["zeros"] = np.zeros((64, 64))
    out["offset"] = 1e6 - 3 * rng.random((50, 50))  # large, negative after the kernel's prices
    out["negative"] = -rng.random((40, 40)) * 1e-3
    out["huge-600"] = rng.random((600, 600)) * 1e200  # beyond single precision: double bids
    # every permutation is optimal
    out["separable"] = rng.random(300)[:, None] + rng.random(300)[None, :]
    out["equal-rows"] = np.tile(rng.random(300), (300, 1))
    return out


MATRICES = cost_matrices()


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_kernel_is_optimal_and_certified(name):
    C = MATRICES[name]
    n = C.shape[0]
    perm, u, v, bad = assign_costs(C[None])
    perm, u, v = perm[0].numpy(), u[0].numpy(), v[0].numpy()  # the kernel returns CPU tensors
    assert sorted(perm.tolist()) == list(range(n))
    rows, cols = linear_sum_assignment(C)
    best = C[rows, cols].sum()
    assert C[np.arange(n), perm].sum() == pytest.approx(best, rel=1e-12, abs=1e-12)
    scale = np.abs(C).max() + 1e-300
    assert bad[0] <= 1e-12 * scale
    # dual feasible on all pairs
    assert (u[:, None] + v[None, :] - C).max() <= bad[0] + 1e-15 * scale
    # tight
    np.testing.assert_allclose(u + v[perm], C[np.arange(n), perm], rtol=0, atol=1e-12 * scale)


def test_plain_loops_give_the_same_results(monkeypatch):
    stack = np.stack(
        [MATRICES[k][:101, :101] for k in ("points-d2", "points-d64", "ties", "uniform-257")]
    )
    large = MATRICES["points-d2-600"][None]
    vector = assign_costs(stack), assign_costs(large)
    monkeypatch.setenv("LAGOT_NATIVE_SIMD", "0")
    plain = assign_costs(stack), assign_costs(large)
    for one, other in zip(vector, plain):
        for a, b in zip(one, other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e307])
def test_kernel_rejects_costs_it_cannot_price(bad):
    C = np.zeros((2, 5, 5))
    C[1, 2, 3] = bad
    with pytest.raises(NonFiniteCost, match="non-finite"):
        assign_costs(C)


def test_kernel_shapes():
    with pytest.raises(ValueError, match="square"):
        assign_costs(np.zeros((1, 4, 3)))
    perm, u, v, bad = assign_costs(np.zeros((2, 0, 0)))
    assert perm.shape == (2, 0) and bad.shape == (2,)
    assert batch_permutations(torch.zeros(3, 0, 2), torch.zeros(3, 0, 2)).shape == (3, 0)
    with pytest.raises(InputError, match="same shape"):
        batch_permutations(torch.zeros(1, 3, 2), torch.zeros(1, 4, 2))


def test_batches_match_problem_by_problem():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 60, 3, generator=g), torch.randn(5, 60, 3, generator=g) * 2
    perm = batch_permutations(x, y)
    for b in range(5):
        C = torch.cdist(x[b].double(), y[b].double()).pow(2).numpy()
        rows, cols = linear_sum_assignment(C)
        assert C[np.arange(60), perm[b].numpy()].sum() == pytest.approx(
            C[rows, cols].sum(), rel=1e-12
        )


@pytest.mark.slow
def test_duals_certify_the_permutation():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 80, 40, generator=g) + 5.0  # far from the origin: the centring matters
    y = torch.randn(2, 80, 40, generator=g)
    perm, f, g_, gaps = solve_batch_assignment(x, y)
    C = ((x.double()[:, :, None] - y.double()[:, None]) ** 2).sum(-1)
    assert float((f[:, :, None] + g_[:, None, :] - C).max()) <= 0.0
    primal = torch.take_along_dim(C, perm[:, :, None], dim=2)[..., 0].mean(1)
    torch.testing.assert_close(primal, f.mean(1) + g_.mean(1) + gaps, rtol=1e-12, atol=0)
    assert float(gaps.max()) <= 1e-9 * float(primal.max())


def test_float32_products_for_wide_samples_match_pot():
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(120, 3, 16, 16, generator=g)  # flattened images: 768 features
    x1 = torch.rand(120, 3, 16, 16, generator=g) ** 2
    a, b = ot_pairs(x0, x1)
    X0, X1 = x0.reshape(120, -1).double().numpy(), x1.reshape(120, -1).double().numpy()
    ref = ot.emd2(np.full(120, 1 / 120), np.full(120, 1 / 120), ot.dist(X0, X1))
    assert float(((a - b) ** 2).reshape(120, -1).sum(1).double().mean()) == pytest.approx(
        ref, rel=1e-6
    )


def test_float32_products_of_far_offset_samples_stay_optimal():
    g = torch.Generator().manual_seed(4)
    x0 = torch.randn(128, 256, generator=g)
    x1 = torch.rand(128, 256, generator=g) * 0.5 + 50.0  # offset: 350 times the coordinates' spread
    a, b = ot_pairs(x0, x1)
    C = torch.cdist(x0.double(), x1.double()).pow(2).numpy()
    rows, cols = linear_sum_assignment(C)
    ours = float(((a.double() - b.double()) ** 2).sum(1).sum())
    assert ours == pytest.approx(C[rows, cols].sum(), rel=1e-12)


def test_overflowing_distances_are_an_input_error():
    x = torch.randn(4, 40, generator=torch.Generator().manual_seed(3)) * 1e20
    with pytest.raises(InputError, match="too large"):
        ot_pairs(x, -x)  # float32 products overflow
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 1e160
    with pytest.raises(InputError, match="too large"):
        ot_pairs(x, -x)  # float64 products beyond what the kernel prices safely
