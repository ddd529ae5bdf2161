"""Sinkhorn plans: converged, feasible, right, on every kernel, against POT and the exact solver."""

import math
import warnings

import numpy as np
import pytest
import torch

from lagrangian_ot import _entropic, _sinkhorn, match
from lagrangian_ot._geometry import diameter
from lagrangian_ot.kernels.softmin import (
    BlockSparseKernel,
    DenseKernel,
    GridKernel,
    PointKernel,
    SparseKernel,
)

ot = pytest.importorskip("ot")
F64 = torch.float64


def cloud(n, d, g, shift=0.0, scale=1.0):
    return torch.randn(n, d, generator=g, dtype=F64) * scale + shift


def weights(n, g):
    w = torch.rand(n, generator=g, dtype=F64) + 0.2
    return w / w.sum()


def pot_plan(x, y, a, b, blur):
    C = (torch.cdist(x, y) ** 2).numpy()
    P = ot.sinkhorn(
        a.numpy(),
        b.numpy(),
        C,
        2 * blur**2,
        method="sinkhorn_log",
        stopThr=1e-14,
        numItermax=200_000,
    )
    return torch.from_numpy(P), torch.from_numpy(C)


def marginal_errors(plan, a, b):
    ra, rb = plan.marginals()
    return float((ra - a).abs().sum()), float((rb - b).abs().sum())


# --- the loop on every kernel -------------------------------------------------------------


@pytest.mark.parametrize("kernel", ["dense", "points", "multiscale"])
def test_kernels_agree_with_pot_log_sinkhorn(gen, kernel):
    """Potentials to 1e-6 of POT's log-domain Sinkhorn, marginals of the plan to round-off."""
    x, y = cloud(120, 2, gen), cloud(90, 2, gen, 1.0, 0.6)
    a, b = weights(120, gen), weights(90, gen)
    blur = 0.3
    src, dst, mass, f, g, _, info = _entropic.entropic_plan(
        x, y, a, b, blur=blur, reach=None, tol=1e-10, max_iter=20_000, kernel=kernel
    )
    assert info["converged"] and info["marginal_error"] <= 1e-10
    P, C = pot_plan(x, y, a, b, blur)
    eps = 2 * blur**2
    full = (
        a[:, None]
        * b[None, :]
        * torch.exp((f[:, None] + g[None, :] - torch.from_numpy(C.numpy())) / eps)
    )
    assert float((full - P).abs().sum()) < 1e-6
    assert info["entropic_cost"] == pytest.approx(float((P * C).sum()), rel=1e-6)
    kl = float((P * (P / (a[:, None] * b[None, :])).log()).sum())  # P sums to one
    assert info["entropic_value"] == pytest.approx(float((P * C).sum()) + eps * kl, rel=1e-6)
    ra = torch.zeros(120, dtype=F64).index_add_(0, src, mass)
    rb = torch.zeros(90, dtype=F64).index_add_(0, dst, mass)
    assert float((ra - a).abs().sum()) < 1e-12 and float((rb - b).abs().sum()) < 1e-12


def test_multiscale_matches_dense_in_3d(gen):
    x, y = cloud(700, 3, gen), cloud(600, 3, gen, 2.0, 0.5)
    a, b = torch.full((700,), 1 / 700, dtype=F64), torch.full((600,), 1 / 600, dtype=F64)
    out = {}
    for kernel in ("dense", "multiscale"):
        *_, info = _entropic.entropic_plan(
            x, y, a, b, blur=0.1, reach=None, tol=1e-8, max_iter=10_000, kernel=kernel
        )
        out[kernel] = info
    assert out["multiscale"]["pairs"] < 700 * 600
    assert out["multiscale"]["entropic_cost"] == pytest.approx(
        out["dense"]["entropic_cost"], rel=1e-7
    )


def test_block_sparse_torch_path_matches_native(gen):
    """The gathered-entries path (used off CPU) and the native one agree, barycentres too."""
    x, y = cloud(200, 2, gen), cloud(150, 2, gen)
    xoff = torch.tensor([0, 60, 130, 200])
    yoff = torch.tensor([0, 50, 150])
    pattern = torch.tensor([[0, 0], [0, 1], [1, 1], [2, 0]])
    k = BlockSparseKernel(x, y, xoff, yoff, pattern)
    h_y, h_x = (
        torch.randn(150, generator=gen, dtype=F64),
        torch.randn(200, generator=gen, dtype=F64),
    )
    native = (k.rows(h_y, 0.3, barycentres=True), k.cols(h_x, 0.3, barycentres=True))
    k._native = None
    gathered = (k.rows(h_y, 0.3, barycentres=True), k.cols(h_x, 0.3, barycentres=True))
    for (v1, b1), (v2, b2) in zip(native, gathered):
        torch.testing.assert_close(v1, v2, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(b1, b2, rtol=1e-12, atol=1e-12)
    # against the dense soft-minimum restricted to the pattern
    C = torch.cdist(x, y) ** 2
    mask = torch.zeros(200, 150, dtype=torch.bool)
    for bi, bj in pattern.tolist():
        mask[xoff[bi] : xoff[bi + 1], yoff[bj] : yoff[bj + 1]] = True
    ref = DenseKernel(C.masked_fill(~mask, math.inf)).rows(h_y, 0.3)
    torch.testing.assert_close(native[0][0], ref, rtol=1e-12, atol=1e-12)


def test_sparse_kernel_native_and_torch_match_dense(gen):
    """Stored pairs: native and segment-reduction paths against the dense soft-minimum with
    ``+inf`` off the pairs; an empty row and an empty column give ``+inf``."""
    n, m = 70, 50
    x, y = cloud(n, 2, gen), cloud(m, 2, gen)
    C = torch.cdist(x, y) ** 2
    keep = torch.rand(n, m, generator=gen) < 0.3
    keep[5] = False  # an empty row
    keep[:, 7] = False  # an empty column
    i, j = torch.nonzero(keep, as_tuple=True)
    perm = torch.randperm(i.shape[0], generator=gen)  # any order
    k = SparseKernel(n, m, i[perm], j[perm], C[i, j][perm])
    ref = DenseKernel(C.masked_fill(~keep, math.inf))
    h_y = 30.0 * torch.randn(m, generator=gen, dtype=F64)  # results spread over many eps
    h_y[3] = -math.inf  # a zero weight
    h_x = 30.0 * torch.randn(n, generator=gen, dtype=F64)
    native = (k.rows(h_y, 0.05), k.cols(h_x, 0.05))
    torch.testing.assert_close(native[0], ref.rows(h_y, 0.05), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(native[1], ref.cols(h_x, 0.05), rtol=1e-12, atol=1e-12)
    assert math.isinf(float(native[0][5])) and math.isinf(float(native[1][7]))
    k32 = SparseKernel(n, m, i, j, C[i, j].float())  # not float64: the torch path
    torch.testing.assert_close(
        k32.rows(h_y.float(), 0.05).double(), native[0], rtol=1e-4, atol=1e-4
    )
    assert bool(k.contains(i, j).all()) and not bool(
        k.contains(torch.tensor([5]), torch.tensor([0])).any()
    )


def test_fused_soft_minimum_with_rows_far_apart(gen):
    """The native pass shifts each row by the previous row's result: rows whose results
    differ by thousands of eps (or are +inf) must still agree with the two-pass reference."""
    x = torch.cat([cloud(40, 3, gen), cloud(40, 3, gen, 40.0)])  # two far groups, interleaved below
    x = x[torch.randperm(80, generator=gen)]
    y = cloud(300, 3, gen, 5.0)
    h = torch.randn(300, generator=gen, dtype=F64)
    for eps in (0.01, 1.0, 100.0):
        ref = DenseKernel(torch.cdist(x, y) ** 2).rows(h, eps)
        torch.testing.assert_close(PointKernel(x, y).rows(h, eps), ref, rtol=1e-12, atol=1e-9)
    # a row whose shifted terms are each below e^700 but whose sum overflows, then normal rows
    y = 1e-3 * torch.randn(50_000, 2, generator=gen, dtype=F64)
    x = torch.tensor([[800.0**0.5, 0.0], [89.8**0.5, 0.0], [0.5, 0.0], [1.0, 0.0]], dtype=F64)
    h = torch.zeros(50_000, dtype=F64)
    ref = DenseKernel(torch.cdist(x, y) ** 2).rows(h, 1.0)
    torch.testing.assert_close(PointKernel(x, y).rows(h, 1.0), ref, rtol=1e-12, atol=1e-9)
    h[7] = math.nan  # a NaN term gives NaN, as the reference does, and leaves the other rows alone
    assert bool(PointKernel(x, y).rows(h, 1.0).isnan().all())


def test_truncated_point_kernel_matches_dense(gen):
    """Large problems in d > 3 iterate on the pairs within reach of the potentials: same
    potentials as the full kernel, on a fraction of the pairs."""
    x, y = cloud(300, 6, gen), cloud(250, 6, gen, 0.5, 0.8)
    a, b = weights(300, gen), weights(250, gen)
    out = {}
    for kernel in ("dense", "points"):
        *_, info = _entropic.entropic_plan(
            x, y, a, b, blur=0.2, reach=None, tol=1e-8, max_iter=20_000, kernel=kernel
        )
        out[kernel] = info
    assert out["points"]["pairs"] < 0.25 * 300 * 250 and out["points"]["converged"]
    assert out["points"]["entropic_cost"] == pytest.approx(out["dense"]["entropic_cost"], rel=1e-6)


def test_one_dimensional_and_repeated_points_at_the_default_blur(gen):
    """1-D clouds (the truncated point kernel) and a cloud of repeated points (the default
    blur counts distinct neighbours) converge at the default blur."""
    x, y = cloud(2200, 1, gen), 3 * torch.rand(2100, 1, generator=gen, dtype=F64)
    plan = match(x, y, method="sinkhorn")
    assert plan.converged and plan.info["kernel"] == "points"
    ra, rb = plan.marginals()
    assert float((ra - 1 / 2200).abs().sum() + (rb - 1 / 2100).abs().sum()) < 1e-12
    x = torch.rand(5000, 2, generator=gen, dtype=F64)
    assert _entropic._spacing(torch.cat([x, x])) == pytest.approx(_entropic._spacing(x), rel=0.3)


def test_point_and_grid_kernels_match_dense(gen):
    x, y = cloud(50, 5, gen), cloud(40, 5, gen)
    h = torch.randn(40, generator=gen, dtype=F64)
    dense = DenseKernel(torch.cdist(x, y) ** 2)
    torch.testing.assert_close(
        PointKernel(x, y).rows(h, 0.7), dense.rows(h, 0.7), rtol=1e-11, atol=1e-11
    )
    torch.testing.assert_close(
        PointKernel(x, y).cols(torch.randn(50, dtype=F64) * 0, 0.7),
        dense.cols(torch.zeros(50, dtype=F64), 0.7),
    )
    ax = [torch.linspace(0, 1, 7, dtype=F64), torch.linspace(0, 2, 5, dtype=F64)]
    pts = torch.cartesian_prod(*ax)
    grid = GridKernel([(t[:, None] - t[None, :]) ** 2 for t in ax], (7, 5))
    hg = torch.randn(35, generator=gen, dtype=F64)
    torch.testing.assert_close(
        grid.rows(hg, 0.2), DenseKernel(torch.cdist(pts, pts) ** 2).rows(hg, 0.2)
    )


# --- match(method="sinkhorn"): feasible, converged, right ---------------------------------


@pytest.mark.parametrize("rel_blur", [0.1, 0.01, 0.001])
def test_converged_and_feasible_across_blurs(gen, rel_blur):
    """Blurs from 10% to 0.1% of the diameter: marginals within tol, cost above the optimum."""
    x, y = cloud(400, 2, gen), cloud(300, 2, gen, 1.5, 0.7)
    a, b = weights(400, gen), weights(300, gen)
    blur = rel_blur * diameter(x, y)
    plan = match(x, y, a, b, method="sinkhorn", blur=blur)
    assert plan.converged and plan.info["marginal_error"] <= 1e-4
    ea, eb = marginal_errors(plan, a, b)
    assert ea <= 1e-4 and eb <= 1e-4
    exact = float(match(x, y, a, b, method="exact").cost)
    assert float(plan.cost) >= exact * (1 - 1e-12)
    assert plan.info["entropic_cost"] >= exact * (1 - 1e-3)  # near-feasible: columns within tol


def test_cost_tends_to_the_exact_optimum(gen):
    x, y = cloud(300, 2, gen), cloud(300, 2, gen, 1.0, 0.5)
    exact = float(match(x, y, method="exact").cost)
    gaps = [
        float(match(x, y, method="sinkhorn", blur=blur).cost) - exact for blur in (0.2, 0.05, 0.01)
    ]
    assert all(gap >= -1e-12 for gap in gaps)
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-3 * exact


def test_unbalanced_matches_pot(gen):
    x, y = cloud(80, 2, gen), cloud(60, 2, gen, 0.5)
    a, b = weights(80, gen), 1.5 * weights(60, gen)
    blur, reach = 0.4, 0.8
    plan = match(x, y, a, b, method="sinkhorn", blur=blur, reach=reach, tol=1e-10)
    assert plan.converged
    eps, rho = 2 * blur**2, 2 * reach**2
    C = (torch.cdist(x, y) ** 2).numpy()
    P = ot.unbalanced.sinkhorn_unbalanced(
        a.numpy(),
        b.numpy(),
        C,
        eps,
        rho,
        method="sinkhorn_stabilized",
        reg_type="kl",
        stopThr=1e-14,
        numItermax=100_000,
    )
    ra, rb = plan.marginals()
    np.testing.assert_allclose(ra.numpy(), P.sum(1), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(rb.numpy(), P.sum(0), rtol=1e-6, atol=1e-12)
    assert plan.info["entropic_cost"] == pytest.approx(float((P * C).sum()), rel=1e-6)


def test_pot_test_problem_keeps_its_mass(gen):
    """POT's own test: 100 normal points matched to themselves at eps = 1; and n = 500, blur 1."""
    for n, blur in ((100, 0.5**0.5), (500, 1.0)):
        x = cloud(n, 2, gen)
        u = torch.full((n,), 1 / n, dtype=F64)
        plan = match(x, x, method="sinkhorn", blur=blur)
        ea, eb = marginal_errors(plan, u, u)
        assert ea <= 1e-4 and eb <= 1e-4
        assert plan.info["dropped_mass"] <= 1e-5
        P, C = pot_plan(x, x, u, u, blur)
        assert plan.info["entropic_cost"] == pytest.approx(float((P * C).sum()), rel=1e-4)
        assert float(plan.cost) == pytest.approx(float((P * C).sum()), rel=1e-3)  # the rounded plan


def test_degenerate_inputs():
    plan = match(torch.zeros(5, 2), torch.zeros(4, 2), method="sinkhorn")
    assert float(plan.cost) == 0.0 and plan.converged
    torch.testing.assert_close(plan.dense(), torch.full((5, 4), 0.05))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = match(torch.tensor([[0.0]]), torch.tensor([[1.7e-164]]), method="sinkhorn", blur=1)
    assert plan.converged and math.isfinite(plan.info["marginal_error"])
    torch.testing.assert_close(plan.dense(), torch.ones(1, 1))


def test_unit_spread_small_blur_meets_tol(gen):
    x, y = cloud(300, 2, gen), cloud(300, 2, gen)
    plan = match(x, y, method="sinkhorn", blur=0.05)
    u = torch.full((300,), 1 / 300, dtype=F64)
    assert max(marginal_errors(plan, u, u)) <= 1e-4 and plan.converged


def test_stopping_short_warns_and_says_so(gen):
    x, y = cloud(100, 2, gen), cloud(100, 2, gen, 1.0)
    with pytest.warns(RuntimeWarning, match="did not converge.*max_iter"):
        plan = match(x, y, method="sinkhorn", blur=0.05, max_iter=3)
    assert not plan.converged and plan.info["marginal_error"] > 1e-4
    u = torch.full((100,), 0.01, dtype=F64)
    assert max(marginal_errors(plan, u, u)) < 1e-12  # rounded onto the marginals all the same
    # far from convergence at a tiny blur: still a finite, feasible plan (its entries do not
    # overflow)
    x, y = (
        torch.rand(300, 2, generator=gen, dtype=F64),
        torch.rand(300, 2, generator=gen, dtype=F64),
    )
    with pytest.warns(RuntimeWarning, match="did not converge"):
        plan = match(x, y, method="sinkhorn", blur=1e-6, max_iter=50)
    assert math.isfinite(float(plan.cost)) and float(plan.cost) >= float(match(x, y).cost) * (
        1 - 1e-12
    )
    u = torch.full((300,), 1 / 300, dtype=F64)
    assert max(marginal_errors(plan, u, u)) < 1e-12


def test_tol_is_respected_and_checked(gen):
    x, y = cloud(200, 2, gen), cloud(150, 2, gen, 1.0)
    loose = match(x, y, method="sinkhorn", blur=0.1, tol=1e-2)
    tight = match(x, y, method="sinkhorn", blur=0.1, tol=1e-9)
    assert loose.info["marginal_error"] <= 1e-2 and tight.info["marginal_error"] <= 1e-9
    assert loose.info["iterations"] < tight.info["iterations"]
    from lagrangian_ot import InputError

    with pytest.raises(InputError, match="tol"):
        match(x, y, method="sinkhorn", tol=0)
    with pytest.raises(InputError, match="max_iter"):
        match(x, y, method="sinkhorn", max_iter=0)


def test_loop_translation_step_is_dual_ascent(gen):
    f, g = torch.randn(5, generator=gen, dtype=F64), torch.randn(4, generator=gen, dtype=F64)
    log_a, log_b = torch.rand(5, dtype=F64).log(), torch.rand(4, dtype=F64).log()
    rho = 0.7

    def dual(f, g):
        return float(
            -(rho * log_a.exp() * torch.expm1(-f / rho)).sum()
            - (rho * log_b.exp() * torch.expm1(-g / rho)).sum()
        )

    f2, g2 = _sinkhorn.translate(f, g, log_a, log_b, rho)
    assert dual(f2, g2) >= dual(f, g)
    for lam in (-0.1, 0.1):
        assert dual(f2 + lam, g2 - lam) <= dual(f2, g2) + 1e-15


@pytest.mark.gpu
def test_multiscale_on_cuda_matches_cpu(gen):
    x, y = cloud(3000, 2, gen), cloud(2500, 2, gen, 1.0, 0.5)
    cpu = match(x, y, method="sinkhorn", blur=0.05)
    gpu = match(x.cuda(), y.cuda(), method="sinkhorn", blur=0.05)
    assert gpu.src.is_cuda and gpu.converged
    assert float(gpu.cost) == pytest.approx(float(cpu.cost), rel=1e-5)


def test_entropic_value_and_debiased_divergence(gen):
    """Against GeomLoss (cost |x - y|^2 / 2: half our values) and POT's dense plan."""
    from geomloss import SamplesLoss

    from lagrangian_ot import entropic_value

    x, y = cloud(150, 2, gen), cloud(120, 2, gen, 0.7, 0.8)
    blur = 0.3
    plain = entropic_value(x, y, blur=blur)
    u, v = torch.full((150,), 1 / 150, dtype=F64), torch.full((120,), 1 / 120, dtype=F64)
    P, C = pot_plan(x, y, u, v, blur)
    kl = float((P * (P / (u[:, None] * v[None, :])).log()).sum())
    assert float(plain) == pytest.approx(float((P * C).sum()) + 2 * blur**2 * kl, rel=1e-6)
    assert float(plain) == pytest.approx(
        match(x, y, method="sinkhorn", blur=blur, tol=1e-8).info["entropic_value"], rel=1e-6
    )
    div = entropic_value(x, y, blur=blur, debias=True)
    ref = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=0.99, debias=True, backend="tensorized")(
        x, y
    )
    assert float(div) == pytest.approx(2 * float(ref), rel=1e-4)
    assert abs(float(entropic_value(x, x, blur=blur, debias=True))) < 1e-9
    assert plain.dtype == x.dtype and plain.dim() == 0


def test_warnings_point_at_the_callers_line(gen):
    x, y = cloud(60, 2, gen), cloud(60, 2, gen, 1.0)
    with pytest.warns(RuntimeWarning) as record:
        match(x, y, method="sinkhorn", blur=0.5, max_iter=1, tol=1e-12)
    assert record[0].filename == __file__


def test_native_and_gathered_plans_agree(gen):
    """The plan's entries, left-out mass, cost and entropy: native extraction against the
    gathered-entries path that runs off CPU."""
    x, y = cloud(900, 2, gen), cloud(800, 2, gen, 1.0, 0.6)
    x, y = x[torch.argsort(x[:, 0])], y[torch.argsort(y[:, 0])]
    log_a, log_b = weights(900, gen).log(), weights(800, gen).log()
    xoff, yoff = torch.arange(0, 901, 30), torch.arange(0, 801, 40)
    bi, bj = torch.meshgrid(torch.arange(30), torch.arange(20), indexing="ij")
    keep = (bi * 20 - bj * 30).abs() < 200  # blocks near the diagonal of the sorted clouds
    k = BlockSparseKernel(x, y, xoff, yoff, torch.stack([bi[keep], bj[keep]], 1))
    g = torch.randn(800, generator=gen, dtype=F64) * 0.01
    f = k.rows(g + 0.05 * log_b, 0.05)  # rows exact, as after the loop
    labels = (torch.randperm(900, generator=gen), torch.randperm(800, generator=gen))
    native = _entropic.sparse_plan(k, f, g, log_a, log_b, 0.05, 1e-5)
    relabelled = _entropic.sparse_plan(k, f, g, log_a, log_b, 0.05, 1e-5, labels)
    k._native = None
    gathered = _entropic.sparse_plan(k, f, g, log_a, log_b, 0.05, 1e-5)
    for plan in (native, gathered, relabelled):  # sorted by src, then dst, no pair twice
        key = plan[0] * 800 + plan[1]
        assert bool((key[1:] > key[:-1]).all())
    assert torch.equal(native[0], gathered[0]) and torch.equal(native[1], gathered[1])
    torch.testing.assert_close(native[2], gathered[2], rtol=1e-12, atol=0)
    for u, v in zip(native[3:], gathered[3:]):
        assert u == pytest.approx(v, rel=1e-9, abs=1e-15)
    # by labels: the same entries, renamed and sorted again
    key = labels[0][native[0]] * 800 + labels[1][native[1]]
    order = torch.argsort(key)
    assert torch.equal(relabelled[0] * 800 + relabelled[1], key[order])
    torch.testing.assert_close(relabelled[2], native[2][order], rtol=0, atol=0)


def _blocks(x, y, cell):
    """A block kernel on the cells of side ``cell`` (all block pairs within 2 cells)."""

    def binned(p):
        key = torch.floor(p / cell).long()
        key = key[:, 0] * 100_000 + key[:, 1]
        order = torch.argsort(key, stable=True)
        uniq, counts = torch.unique_consecutive(key[order], return_counts=True)
        off = torch.zeros(uniq.shape[0] + 1, dtype=torch.int64)
        off[1:] = counts.cumsum(0)
        centre = torch.stack([torch.div(uniq, 100_000, rounding_mode="floor"), uniq % 100_000], 1)
        return p[order], off, centre

    xs, xoff, cx = binned(x)
    ys, yoff, cy = binned(y)
    near = (cx[:, None, :] - cy[None, :, :]).abs().amax(-1) <= 2
    return BlockSparseKernel(xs, ys, xoff, yoff, near.nonzero())


def test_single_precision_blocks_match_the_double_ones(gen):
    """The single-precision soft-minima and barycentres against the double ones (about
    1e-5 of eps), with zero-weight columns, a NaN and rows with no admissible column."""
    x, y = cloud(700, 2, gen), cloud(600, 2, gen, 0.3, 0.8)
    k = _blocks(x, y, 0.25)
    single = k.single()
    if single is None:
        pytest.skip("no single-precision path on this processor")
    eps = 0.02
    h = torch.randn(600, generator=gen, dtype=F64) * 0.05 + 3.0  # far from 0: the shifts matter
    h[::7] = -math.inf  # zero weights

    def close(u, v, bu, bv):
        ok = torch.isfinite(u)  # rows without a near block are +inf on both paths
        assert torch.equal(ok, torch.isfinite(v)) and float(ok.double().mean()) > 0.5
        assert float(((u - v)[ok] / eps).abs().max()) < 1e-4
        assert float((bu - bv)[ok].abs().max()) < 1e-4

    f64, t64 = k.rows(h, eps, barycentres=True)
    f32, t32 = single.rows(h, eps, barycentres=True)
    assert not bool(torch.isfinite(f64).all())  # some rows meet no block
    close(f64, f32, t64, t32)
    f = torch.where(torch.isfinite(f64), f64, -math.inf)
    g64, s64 = k.cols(f, eps, barycentres=True)
    g32, s32 = single.cols(f, eps, barycentres=True)
    close(g64, g32, s64, s32)
    h[:] = -math.inf  # no admissible column: +inf, as the double path
    assert bool(torch.isposinf(single.rows(h, eps)).all()) and bool(
        torch.isposinf(k.rows(h, eps)).all()
    )
    h[:] = 0.0
    h[5] = math.nan  # a NaN reaches the rows that meet it
    assert bool(torch.isnan(single.rows(h, eps)).any()) and bool(torch.isnan(k.rows(h, eps)).any())


def test_single_precision_points_match_the_double_ones(gen):
    """PointKernel.single (single-precision products and exponentials) against the exact kernel,
    row lengths that exercise every tail of the native loop."""
    for n, m in ((1, 1), (7, 23), (130, 1023), (64, 1000)):
        x, y = cloud(n, 5, gen), cloud(m, 5, gen, 0.5)
        k = PointKernel(x, y)
        single = k.single()
        if single is None:
            pytest.skip("no single-precision path on this processor")
        h, u = torch.randn(m, generator=gen, dtype=F64), torch.randn(n, generator=gen, dtype=F64)
        eps = 2.0
        assert float(((k.rows(h, eps) - single.rows(h, eps)) / eps).abs().max()) < 1e-4
        assert float(((k.cols(u, eps) - single.cols(u, eps)) / eps).abs().max()) < 1e-4


class _Biased:
    """A kernel whose single-precision view is off by a fixed fraction of eps."""

    def __init__(self, kernel, bias):
        self.kernel, self.bias = kernel, bias
        self.n, self.m = kernel.n, kernel.m

    def rows(self, h, eps):
        return self.kernel.rows(h, eps)

    def cols(self, h, eps):
        return self.kernel.cols(h, eps)

    def single(self):
        outer = self

        class View:
            floor = 1e-6

            def rows(self, h, eps):
                return outer.kernel.rows(h, eps) + outer.bias * eps

            def cols(self, h, eps):
                return outer.kernel.cols(h, eps) - outer.bias * eps

        return View()


@pytest.mark.parametrize("bias", [0.0, 1e-3, 0.3])
def test_stopping_is_decided_by_exact_iterations(gen, bias):
    """However wrong the single-precision view, the loop stops on the exact marginal error."""
    x, y = cloud(300, 2, gen), cloud(250, 2, gen, 1.0)
    a, b = weights(300, gen), weights(250, gen)
    K = _Biased(DenseKernel(torch.cdist(x, y) ** 2), bias)
    eps, tol = 0.05, 1e-6
    f, g = torch.zeros(300, dtype=F64), torch.zeros(250, dtype=F64)
    res = _sinkhorn.converge(K, a.log(), b.log(), f, g, eps, None, tol, 5000)
    assert res.converged
    exact = _sinkhorn.column_error(res.g, K.cols(res.f + eps * a.log(), eps), b, eps, None, 1.0)
    assert exact <= tol and res.error == pytest.approx(exact, rel=1e-9, abs=1e-15)
    # stopped during the single-precision phase
    short = _sinkhorn.converge(K, a.log(), b.log(), f, g, eps, None, 1e-12, 3)
    exact = _sinkhorn.column_error(short.g, K.cols(short.f + eps * a.log(), eps), b, eps, None, 1.0)
    assert not short.converged and short.error == pytest.approx(exact, rel=1e-9)


def test_merged_entries_and_their_cost(gen):
    """Merging two sorted entry lists (native, in place where the first has room, and torch off
    the CPU's float64 path) against a dense sum; the entries' cost against a direct sum."""
    from lagrangian_ot.kernels.entries import entries_cost, merge_entries

    n, m = 40, 30
    for _ in range(30):
        parts = []
        for size in (
            int(torch.randint(0, 600, (1,), generator=gen)),
            int(torch.randint(0, 50, (1,), generator=gen)),
        ):
            key = torch.unique(torch.randint(0, n * m, (size,), generator=gen))
            parts.append((key // m, key % m, torch.rand(key.shape[0], generator=gen, dtype=F64)))
        dense = torch.zeros(n * m, dtype=F64)
        for s, t, w in parts:
            dense.index_add_(0, s * m + t, w)
        for dtype, room in ((F64, 0), (F64, parts[1][0].shape[0] + 2), (torch.float32, 0)):
            first, second = ((s, t, w.to(dtype)) for s, t, w in parts)
            if room:  # slices of longer arrays, as the native extraction leaves them: in place
                first = [torch.cat([v, v.new_zeros(room)])[: v.shape[0]] for v in first]
            s, t, w = merge_entries(first, second, m)
            if room and first[0].numel():
                assert s.data_ptr() == first[0].data_ptr() and w.data_ptr() == first[2].data_ptr()
            key = s * m + t
            assert bool((key[1:] > key[:-1]).all())
            assert torch.equal(key, dense.nonzero()[:, 0])
            torch.testing.assert_close(w.double(), dense[key], rtol=1e-6, atol=0)
    x, y = cloud(n, 3, gen), cloud(m, 3, gen)
    s, t, w = parts[0]
    direct = float((w * ((x[s] - y[t]) ** 2).sum(1)).sum())
    assert entries_cost(s, t, w, x, y) == pytest.approx(direct, rel=1e-12)
    assert entries_cost(s, t, w.float(), x.float(), y.float()) == pytest.approx(direct, rel=1e-5)


def test_long_solvers_draw_progress_on_request(gen, capsys, monkeypatch):
    """``progress=True`` draws on stderr; the default stays quiet where stderr is not a terminal."""
    from lagrangian_ot import Grid, _progress, hk_plan
    from lagrangian_ot.unbalanced import barycenter_path, gaussian_mixture

    monkeypatch.setattr(_progress, "DELAY", 0.0)
    x, y = cloud(80, 2, gen), cloud(70, 2, gen, 1.0)
    grid = Grid((-3.0,), (3.0,), (64,))
    alpha = gaussian_mixture(grid.axes[0], [(1.0, -1.0, 0.3)])
    beta = gaussian_mixture(grid.axes[0], [(1.0, 1.0, 0.3)])
    calls = [
        lambda p: match(x, y, method="sinkhorn", blur=0.3, progress=p),
        lambda p: match(x, y, method="exact", progress=p),
        lambda p: hk_plan(x, y, None, None, 0.5, progress=p),
        lambda p: barycenter_path(alpha, beta, grid, (0.5,), blur=0.3, progress=p),
    ]
    for call in calls:
        call(True)
        assert capsys.readouterr().err.strip(), "a progress bar on stderr"
        call(None)
        assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kernel", ["dense", "multiscale"])
def test_zero_weights_give_finite_values(gen, kernel):
    x, y = cloud(300, 2, gen), cloud(307, 2, gen, 0.5)
    a, b = weights(300, gen), weights(307, gen)
    a[0] = 0.0
    a = a / a.sum()
    *_, info = _entropic.entropic_plan(
        x, y, a, b, blur=0.05, reach=None, tol=1e-6, max_iter=5000, kernel=kernel
    )
    assert (
        info["converged"]
        and math.isfinite(info["entropic_value"])
        and math.isfinite(info["entropic_cost"])
    )
