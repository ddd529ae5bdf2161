"""Plans: exact against POT's network simplex, Sinkhorn against its own conventions."""

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lagrangian_ot import InputError, _exact, load_silhouette, match

F64 = torch.float64


def emd_cost(x, y, a=None, b=None):
    n, m = x.shape[0], y.shape[0]
    a = np.full(n, 1.0 / n) if a is None else a.numpy().astype(np.float64)
    b = np.full(m, 1.0 / m) if b is None else b.numpy().astype(np.float64)
    b = b * a.sum() / b.sum()
    C = ot.dist(x.numpy().astype(np.float64), y.numpy().astype(np.float64))  # squared Euclidean
    return float(ot.emd2(a, b, C, numItermax=10**7))


def assert_exact(plan, x, y, a=None, b=None, rel=1e-9):
    ref = emd_cost(x, y, a, b)
    assert plan.method == "exact"
    assert abs(float(plan.cost) - ref) <= rel * max(ref, 1e-300) + 1e-13
    assert plan.gap is not None and plan.gap <= 1e-9 * max(ref, 1e-12) + 1e-12


def rand(n, d, gen, scale=1.0, shift=0.0):
    return torch.rand(n, d, generator=gen, dtype=F64) * scale + shift


@pytest.mark.parametrize("n", [1, 2, 17, 60, 300, 700])
def test_exact_uniform_random_is_optimal_permutation(n, gen):
    x, y = rand(n, 2, gen), rand(n, 2, gen, 0.5, 2.0)
    plan = match(x, y, method="exact")
    assert_exact(plan, x, y)
    assert plan.is_permutation
    assert sorted(plan.permutation.tolist()) == list(range(n))


def test_exact_takes_the_multiscale_path_and_stays_exact(gen):
    n = 900  # n * m above the complete-graph threshold
    assert n * n > _exact.DENSE_EDGES
    x, y = rand(n, 2, gen, 3.0, -1.0), rand(n, 2, gen)
    plan = match(x, y, method="exact")
    assert "coarse" in plan.info
    assert_exact(plan, x, y)


@pytest.mark.parametrize("n,m", [(120, 80), (37, 101), (640, 500)])
def test_exact_unequal_sizes(n, m, gen):
    x, y = rand(n, 2, gen), rand(m, 2, gen, 2.0, 0.5)
    plan = match(x, y, method="exact")
    assert_exact(plan, x, y)
    a, b = plan.marginals()
    torch.testing.assert_close(a, torch.full((n,), 1.0 / n, dtype=F64), atol=1e-12, rtol=0)
    torch.testing.assert_close(b, torch.full((m,), 1.0 / m, dtype=F64), atol=1e-12, rtol=0)
    assert not plan.is_permutation


@pytest.mark.parametrize("n,m", [(50, 70), (600, 450)])
def test_exact_general_weights(n, m, gen):
    x, y = rand(n, 3, gen), rand(m, 3, gen, 1.0, 0.3)
    a = torch.rand(n, generator=gen, dtype=F64) + 0.05
    b = torch.rand(m, generator=gen, dtype=F64)
    b[::7] = 0.0  # some empty targets
    b = b * a.sum() / b.sum()
    plan = match(x, y, a, b, method="exact")
    assert_exact(plan, x, y, a, b)
    pa, pb = plan.marginals()
    torch.testing.assert_close(pa, a, atol=1e-9, rtol=0)
    torch.testing.assert_close(pb, b, atol=1e-9, rtol=0)
    assert plan.src.shape[0] <= n + m - 1  # a basic solution


def test_exact_silhouettes():
    x = load_silhouette("cat", 500, dtype=F64) - torch.tensor([1.5, 0.0], dtype=F64)
    y = load_silhouette("disks", 500, dtype=F64) + torch.tensor([1.5, 0.0], dtype=F64)
    plan = match(x, y, method="exact")
    assert_exact(plan, x, y)
    assert plan.is_permutation


def test_exact_shift_and_scale_invariance(gen):
    x, y = rand(200, 2, gen), rand(200, 2, gen)
    base = match(x, y, method="exact")
    shifted = match(x + 5.0, y + 5.0, method="exact")
    scaled = match(3.0 * x, 3.0 * y, method="exact")
    assert float(shifted.cost) == pytest.approx(float(base.cost), rel=1e-9)
    assert float(scaled.cost) == pytest.approx(9.0 * float(base.cost), rel=1e-9)


def test_exact_identical_clouds_cost_zero(gen):
    x = rand(300, 2, gen)
    plan = match(x, x.clone(), method="exact")
    assert float(plan.cost) <= 1e-14
    assert plan.permutation.tolist() == list(range(300))


def test_exact_duplicates_collinear_and_ties(gen):
    base = rand(40, 2, gen)
    x = torch.cat([base, base, base])  # duplicate points
    y = rand(120, 2, gen)
    assert_exact(match(x, y, method="exact"), x, y)
    t = torch.linspace(0, 1, 90, dtype=F64)
    line = torch.stack([t, 2 * t], 1)  # collinear
    assert_exact(match(line, line.flip(0) + 0.1, method="exact"), line, line.flip(0) + 0.1)
    g = (
        torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij"), -1)
        .reshape(-1, 2)
        .double()
    )
    assert_exact(match(g, g + 0.5, method="exact"), g, g + 0.5)  # many equal costs


@pytest.mark.parametrize("n", [10, 333, 1500])
def test_exact_1d_is_sorted_matching(n, gen):
    x, y = rand(n, 1, gen), rand(n, 1, gen, 2.0, -0.5)
    plan = match(x, y, method="exact")
    ref = ((x[:, 0].sort().values - y[:, 0].sort().values) ** 2).mean()
    assert float(plan.cost) == pytest.approx(float(ref), rel=1e-9)


def test_exact_certificate_is_dual_feasible(gen):
    x, y = rand(800, 2, gen), rand(700, 2, gen, 1.0, 0.7)
    plan = match(x, y, method="exact")
    f, g = plan.potentials
    C = torch.cdist(x, y) ** 2
    assert float((f[:, None] + g[None, :] - C).max()) <= 1e-12
    dual = float(f.mean() + g.mean())
    assert float(plan.cost) - dual == pytest.approx(float(plan.gap), abs=1e-12)
    assert plan.gap <= 1e-11


def test_exact_float32_input_keeps_dtype(gen):
    x, y = rand(100, 2, gen).float(), rand(100, 2, gen).float()
    plan = match(x, y)
    assert plan.mass.dtype == torch.float32 and plan.cost.dtype == torch.float32
    assert plan.method == "exact"
    assert float(plan.cost) == pytest.approx(emd_cost(x.double(), y.double()), rel=1e-6)


def test_batched_exact_matches_one_by_one(gen):
    x, y = rand(4 * 30, 2, gen).reshape(4, 30, 2), rand(4 * 30, 2, gen).reshape(4, 30, 2)
    plan = match(x, y)
    assert plan.src.shape == (4, 30) and plan.cost.shape == (4,)
    for i in range(4):
        assert float(plan.cost[i]) == pytest.approx(float(match(x[i], y[i]).cost), rel=1e-12)
    assert plan.velocity.shape == (4, 30, 2)
    assert plan.dense().shape == (4, 30, 30)


def test_plan_helpers(gen):
    x, y = rand(20, 2, gen), rand(20, 2, gen)
    plan = match(x, y)
    P = plan.dense()
    torch.testing.assert_close(P.sum(1), torch.full((20,), 0.05, dtype=F64))
    torch.testing.assert_close(plan.velocity, y[plan.dst] - x[plan.src])
    torch.testing.assert_close(plan.barycentric_map(), y[plan.permutation])
    assert float(plan.cost) == pytest.approx(float((P * torch.cdist(x, y) ** 2).sum()), rel=1e-12)


# --- Sinkhorn -----------------------------------------------------------------------------


@pytest.mark.slow
def test_sinkhorn_tends_to_exact_as_blur_shrinks(gen):
    x, y = rand(150, 2, gen), rand(150, 2, gen, 1.0, 0.5)
    exact = float(match(x, y, method="exact").cost)
    errors = []
    for blur in (0.1, 0.05, 0.02):
        plan = match(x, y, method="sinkhorn", blur=blur)
        assert plan.method == "sinkhorn" and plan.info["epsilon"] == pytest.approx(2 * blur**2)
        errors.append(abs(float(plan.cost) - exact) / exact)
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 5e-3
    assert plan.info["marginal_error"] < 1e-2


def test_sinkhorn_plan_marginals_and_potentials(gen):
    x, y = rand(200, 2, gen), rand(150, 2, gen, 1.0, 0.3)
    plan = match(x, y, method="sinkhorn", blur=0.05)
    a, b = plan.marginals()
    assert plan.info["dropped_mass"] >= 0
    assert float((a - 1 / 200).abs().max()) < 1e-12  # rounded onto the marginals
    assert float((b - 1 / 150).abs().max()) < 1e-12
    f, g = plan.potentials
    # the plan is a_i b_j exp((f_i + g_j - C_ij) / eps), up to the mass the rounding moved
    eps = plan.info["epsilon"]
    C = torch.cdist(x, y) ** 2
    full = torch.exp((f[:, None] + g[None, :] - C) / eps) / (200 * 150)
    moved = plan.info["rounded_mass"] + plan.info["dropped_mass"]
    assert float((plan.dense() - full).abs().sum()) <= 2 * moved + 1e-4
    assert moved <= 2e-4
    assert plan.barycentric_map().shape == (200, 2)


@pytest.mark.slow
def test_sinkhorn_unbalanced_reach(gen):
    x = rand(100, 2, gen)
    y = torch.cat([rand(100, 2, gen), rand(20, 2, gen, 0.2, 6.0)])  # an outlier cluster
    balanced = match(x, y, method="sinkhorn", blur=0.05)
    unbalanced = match(x, y, method="sinkhorn", blur=0.05, reach=0.3)
    assert unbalanced.info["reach"] == 0.3
    _, b_u = unbalanced.marginals()
    _, b_b = balanced.marginals()
    assert float(b_u[100:].sum()) < 0.2 * float(b_b[100:].sum())  # the outliers are mostly ignored


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(method="simplex"), "unknown method"),
        (dict(reach=0.1, method="exact"), "reach"),
        (dict(blur=-1.0), "blur"),
        (dict(a=-torch.ones(5, dtype=F64) / 5), "negative"),
        (dict(a=torch.ones(4, dtype=F64)), "shape"),
        (dict(b=torch.ones(5, dtype=F64)), "totals"),
    ],
)
def test_match_rejects_bad_arguments(kwargs, message, gen):
    x, y = rand(5, 2, gen), rand(5, 2, gen)
    with pytest.raises(InputError, match=message):
        match(x, y, **kwargs)


def test_match_rejects_bad_clouds(gen):
    x = rand(5, 2, gen)
    with pytest.raises(InputError, match="NaN"):
        match(x, torch.full((5, 2), float("nan"), dtype=F64))
    with pytest.raises(InputError, match="share"):
        match(x, rand(5, 3, gen))
    with pytest.raises(InputError, match="empty"):
        match(x, torch.zeros(0, 2, dtype=F64))
    with pytest.raises(InputError, match="floating"):
        match(x, torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(InputError, match="shape"):
        match(x[0], x)


# --- properties ---------------------------------------------------------------------------

clouds = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=2 * n, max_size=2 * n),
        st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=2 * n, max_size=2 * n),
    )
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(clouds)
def test_property_permutation_has_no_improving_swap(data):
    x = torch.tensor(data[0], dtype=F64).reshape(-1, 2)
    y = torch.tensor(data[1], dtype=F64).reshape(-1, 2)
    plan = match(x, y, method="exact")
    assert plan.is_permutation
    p = plan.permutation
    C = torch.cdist(x, y) ** 2
    own = C[torch.arange(len(p)), p]  # (n,)
    swapped = C[:, p]  # C[i, p[j]]
    gain = own[:, None] + own[None, :] - swapped - swapped.T  # cost saved by swapping i and j
    assert float(gain.max()) <= 1e-9 * (1 + float(own.max()))


@settings(max_examples=30, deadline=None)
@given(clouds, st.integers(0, 2**31 - 1))
def test_property_marginals_and_symmetry(data, seed):
    x = torch.tensor(data[0], dtype=F64).reshape(-1, 2)
    y = torch.tensor(data[1], dtype=F64).reshape(-1, 2)[: max(1, len(data[1]) // 4)]
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(x.shape[0], generator=g, dtype=F64) + 0.01
    b = torch.rand(y.shape[0], generator=g, dtype=F64) + 0.01
    b = b * a.sum() / b.sum()
    plan = match(x, y, a, b, method="exact")
    pa, pb = plan.marginals()
    torch.testing.assert_close(pa, a, atol=1e-9, rtol=0)
    torch.testing.assert_close(pb, b, atol=1e-9, rtol=0)
    back = match(y, x, b, a, method="exact")
    assert float(back.cost) == pytest.approx(float(plan.cost), rel=1e-9, abs=1e-12)
    assert plan.src.shape[0] <= x.shape[0] + y.shape[0] - 1  # a basic solution


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "native"])
def test_exact_backends_agree(backend, gen):
    x, y = rand(1500, 2, gen), rand(1400, 2, gen, 1.0, 0.8)
    plan = match(x, y, method="exact", backend=backend)
    assert_exact(plan, x, y)


def test_exact_point_far_from_the_rest(gen):
    x, y = rand(400, 2, gen), rand(400, 2, gen)
    x[0] = y[0] = 1e4  # a far pair: costs span many orders of magnitude
    plan = match(x, y, method="exact")
    ref = emd_cost(x[1:], y[1:]) * 399 / 400  # the far pair matches itself
    assert float(plan.cost) == pytest.approx(ref, rel=1e-9)
    assert plan.gap <= 1e-6 * float(plan.cost)


@pytest.mark.gpu
def test_exact_on_cuda_matches_cpu(gen):
    x, y = rand(3000, 2, gen), rand(3000, 2, gen, 1.0, 0.5)
    cpu = match(x, y, method="exact")
    gpu = match(x.cuda(), y.cuda(), method="exact")
    assert gpu.src.is_cuda and gpu.cost.is_cuda
    assert float(gpu.cost) == pytest.approx(float(cpu.cost), rel=1e-9)
    assert gpu.gap <= 1e-9 * float(gpu.cost)


@pytest.mark.gpu
def test_batched_exact_on_cuda(gen):
    x, y = rand(64 * 128, 2, gen).reshape(64, 128, 2), rand(64 * 128, 2, gen).reshape(64, 128, 2)
    gpu = match(x.cuda(), y.cuda())
    assert gpu.dst.is_cuda
    torch.testing.assert_close(gpu.cost.cpu(), match(x, y).cost, rtol=1e-12, atol=0)


def test_match_accepts_tensors_that_require_grad(gen):
    x = rand(30, 2, gen).requires_grad_(True)
    a = torch.full((30,), 1 / 30, dtype=F64, requires_grad=True)
    plan = match(x, rand(30, 2, gen), a=a)
    assert plan.is_permutation


def test_batched_plans_index_and_empty_batches(gen):
    x, y = rand(3 * 20, 2, gen).reshape(3, 20, 2), rand(3 * 20, 2, gen).reshape(3, 20, 2)
    plan = match(x, y)
    assert len(plan) == 3
    one = plan[1]
    assert one.src.dim() == 1 and float(one.cost) == pytest.approx(
        float(match(x[1], y[1]).cost), rel=1e-12
    )
    with pytest.raises(InputError, match="empty"):
        match(torch.zeros(0, 5, 2, dtype=F64), torch.zeros(0, 5, 2, dtype=F64))


@pytest.mark.slow
def test_sinkhorn_warns_when_it_does_not_converge(gen):
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(50, 2, generator=g, dtype=F64),
        torch.randn(50, 2, generator=g, dtype=F64) + 1,
    )
    with pytest.warns(RuntimeWarning, match="did not converge"):
        plan = match(x, y, method="sinkhorn", blur=0.5, max_iter=2, tol=1e-12)
    assert plan.info["marginal_error"] > 1e-12 and not plan.converged


@pytest.mark.gpu
def test_sinkhorn_on_cuda_matches_cpu(gen):
    x, y = rand(2000, 2, gen), rand(1500, 2, gen, 1.0, 0.5)
    cpu = match(x, y, method="sinkhorn", blur=0.05)
    gpu = match(x.cuda(), y.cuda(), method="sinkhorn", blur=0.05)
    assert gpu.src.is_cuda and gpu.barycentric_map().is_cuda
    assert float(gpu.cost) == pytest.approx(float(cpu.cost), rel=1e-4)


@pytest.mark.gpu
def test_exact_on_cuda_float32_large(gen):
    x, y = rand(20000, 2, gen).float(), rand(20000, 2, gen, 2.0, 0.7).float()
    gpu = match(x.cuda(), y.cuda(), method="exact")
    cpu = match(x, y, method="exact")
    assert gpu.permutation.is_cuda
    assert float(gpu.cost) == pytest.approx(float(cpu.cost), rel=1e-9)
    assert gpu.gap <= 1e-9 * float(gpu.cost)


@pytest.mark.slow
def test_sinkhorn_agrees_with_geomloss_at_convergence(gen):
    """GeomLoss' dense potentials (scaling close to 1: many annealing steps) give the same
    entropic problem: their potentials are half of ours (cost |x - y|^2 / 2)."""
    from geomloss import SamplesLoss

    x, y = rand(300, 2, gen), rand(200, 2, gen, 0.5, 1.0)
    plan = match(x, y, method="sinkhorn", blur=0.3, tol=1e-10)
    F, G = SamplesLoss("sinkhorn", p=2, blur=0.3, scaling=0.999, debias=False, potentials=True,
                       backend="tensorized")(x, y)  # fmt: skip
    F, G = F.reshape(-1), G.reshape(-1)
    f, g = plan.potentials
    shift = float((2 * F - f).mean())  # potentials are defined up to a constant
    torch.testing.assert_close(2 * F - shift, f, rtol=0, atol=1e-4)
    torch.testing.assert_close(2 * G + shift, g, rtol=0, atol=1e-4)
