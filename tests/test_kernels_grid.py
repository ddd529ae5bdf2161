"""The grid solvers' kernels: DCT against SciPy, the Neumann solve against a dense matrix,
the per-cell proxes against direct minimisation."""

import math

import numpy as np
import pytest
import scipy.fft
import torch
from scipy.optimize import minimize

from lagrangian_ot.dynamic._prox import prox_mobility, prox_wp
from lagrangian_ot.kernels import dct
from lagrangian_ot.kernels.prox import prox_fr, prox_fr_torch, prox_w2, prox_w2_torch


@pytest.mark.parametrize("n", [1, 2, 5, 8, 300])  # 300 > MATMUL_MAX: the FFT path in dctn
def test_dct_matches_scipy(n):
    x = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    ref = scipy.fft.dct(x.numpy(), type=2, axis=-1) / 2
    np.testing.assert_allclose(dct.dct2(x).numpy(), ref, atol=1e-12 * n)
    np.testing.assert_allclose(dct.dctn(x, [1]).numpy(), ref, atol=1e-12 * n)
    torch.testing.assert_close(dct.idctn(dct.dctn(x, [0, 1]), [0, 1]), x)


def test_neumann_solve_matches_a_dense_laplacian():
    shape, spacing = (5, 7), (0.3, 0.2)
    lam = dct.laplace_eigenvalues(shape, spacing)

    def lap1(n, h):
        a = 2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1)
        a[0, 0] = a[-1, -1] = 1
        return a / h**2

    dense = np.kron(lap1(5, 0.3), np.eye(7)) + np.kron(np.eye(5), lap1(7, 0.2))
    f = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    u = dct.neumann_solve(f, lam, shift=2.5)
    np.testing.assert_allclose(
        (dense + 2.5 * np.eye(35)) @ u.reshape(-1).numpy(), f.reshape(-1).numpy(), atol=1e-10
    )
    g = f - f.mean()  # zero mean: solvable without a shift
    np.testing.assert_allclose(
        dense @ dct.neumann_solve(g, lam).reshape(-1).numpy(), g.reshape(-1).numpy(), atol=1e-10
    )


def _direct(f, gamma, r, m):
    best = None
    for x0 in (0.05, 1.0, 3.0):

        def obj(z):
            return (
                gamma * f(z[0], z[1:]) + 0.5 * ((z[0] - r) ** 2 + ((z[1:] - m) ** 2).sum())
                if z[0] > 0
                else 1e9
            )

        res = minimize(obj, np.r_[x0, 0.5 * m], method="Nelder-Mead",
                       options={"xatol": 1e-11, "fatol": 1e-15, "maxiter": 40000})  # fmt: skip
        best = res if best is None or res.fun < best.fun else best
    return best.x


@pytest.mark.parametrize(
    "name, prox, f",
    [
        ("w2", lambda r, m, g: prox_w2(r, m, g), lambda a, b: (b**2).sum() / a),
        ("w2 torch", lambda r, m, g: prox_w2_torch(r, m, g), lambda a, b: (b**2).sum() / a),
        ("w3", lambda r, m, g: prox_wp(r, m, g, 3.0), lambda a, b: np.linalg.norm(b) ** 3 / a**2),
        (
            "beta 1/2",
            lambda r, m, g: prox_mobility(r, m, g, 0.5),
            lambda a, b: (b**2).sum() / a**0.5,
        ),
    ],
)
def test_prox_against_direct_minimisation(name, prox, f):
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(6, dtype=torch.float64, generator=gen)
    m = torch.randn(2, 6, dtype=torch.float64, generator=gen)
    rho, mom = prox(r, m, 0.3)
    for i in range(6):
        z = _direct(f, 0.3, r[i].item(), m[:, i].numpy())
        if rho[i] > 1e-6:
            np.testing.assert_allclose([rho[i].item(), *mom[:, i].tolist()], z, atol=1e-6)
        else:  # at the boundary rho = 0: the direct search can only approach it
            assert z[0] < 1e-3


def test_native_and_torch_prox_agree_with_a_warm_start():
    gen = torch.Generator().manual_seed(2)
    for dtype in (torch.float64, torch.float32):
        r = torch.randn(4000, dtype=torch.float64, generator=gen).to(dtype)
        m = torch.randn(3, 4000, dtype=torch.float64, generator=gen).to(dtype)
        m[:, :100] = 0  # where m~ = 0 the answer is max(r, 0), whatever the start
        start = 2 * torch.rand(4000, dtype=torch.float64, generator=gen).to(dtype)
        a, b = prox_w2(r, m, 0.3, start), prox_w2_torch(r, m, 0.3, start)
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(a[0], b[0], atol=tol, rtol=tol)
        torch.testing.assert_close(a[1], b[1], atol=tol, rtol=tol)
        torch.testing.assert_close(a[0][:100], r[:100].clamp(min=0))


def test_prox_keeps_nan_visible():
    r = torch.tensor([float("nan"), 1.0], dtype=torch.float64)
    m = torch.ones(1, 2, dtype=torch.float64)
    assert torch.isnan(prox_w2(r, m, 0.1)[0][0]) and torch.isnan(prox_w2_torch(r, m, 0.1)[0][0])


# -- the prox of the source's action on the mean of sqrt (WFR, near the ends) ------------


def _fr_objective(gamma, a0, b0, s0, fixed_a=None, fixed_b=None):
    """The prox's objective of one cell for scipy (fixed ends drop their distance term)."""

    def f(v):
        a = fixed_a if fixed_a is not None else v[0]
        b = fixed_b if fixed_b is not None else v[1]
        if a < 0 or b < 0:
            return 1e9 + 1e6 * (min(a, 0.0) ** 2 + min(b, 0.0) ** 2)
        mean = (0.5 * (math.sqrt(a) + math.sqrt(b))) ** 2
        action = 0.0 if v[2] == 0 else (v[2] ** 2 / mean if mean > 0 else 1e12)
        out = gamma * action + 0.5 * (v[2] - s0) ** 2
        out += 0.0 if fixed_a is not None else 0.5 * (a - a0) ** 2
        return out + (0.0 if fixed_b is not None else 0.5 * (b - b0) ** 2)

    return f


@pytest.mark.parametrize("with_ends", [False, True])
def test_prox_fr_is_the_minimiser(with_ends):
    gen = torch.Generator().manual_seed(3)
    shape = (4, 9)
    a = 2 * torch.randn(shape, dtype=torch.float64, generator=gen)
    b = 2 * torch.randn(shape, dtype=torch.float64, generator=gen)
    s = 3 * torch.randn(shape, dtype=torch.float64, generator=gen)
    s[1, :3] = 0.0  # no source: the densities are max(a~, 0), max(b~, 0)
    a[2, :4], b[2, :4], s[2, :4] = -1.5, -0.8, 0.2  # small source on negative ends: the origin
    ends = None
    if with_ends:
        ends = tuple(torch.rand(9, dtype=torch.float64, generator=gen) for _ in range(2))
        ends[0][:4] = 0.0  # empty ends: the mean's slope is infinite there, the prox must cope
        ends[1][5:] = 0.0
    gamma = 0.3
    ra, rb, rs = prox_fr(a, b, s[None], gamma, ends)
    rs = rs[0]
    assert (ra >= 0).all() and (rb >= 0).all()
    # the optimality conditions where both densities are free and positive:
    # x (x^2 - a~) = y (y^2 - b~) = q S / (2 (S^2 + 2 gamma)^2), x = sqrt a, y = sqrt b
    x, y = ra.sqrt(), rb.sqrt()
    half = 0.5 * (x + y)
    c = gamma * s * s * half / (2 * (half * half + 2 * gamma) ** 2)
    free = (ra > 0) & (rb > 0) & (s != 0)
    if with_ends:
        free[0], free[-1] = False, False
    assert int(free.sum()) >= 8
    for root, given in ((x, a), (y, b)):
        assert torch.allclose((root * (root * root - given))[free], c[free], atol=1e-10)
    assert torch.equal(rs[1, :3], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(ra[2, :4], torch.zeros(4, dtype=torch.float64))
    for i in range(shape[0]):
        for j in range(shape[1]):
            fa = float(ends[0][j]) if with_ends and i == 0 else None
            fb = float(ends[1][j]) if with_ends and i == shape[0] - 1 else None
            if fa is not None:
                assert float(ra[i, j]) == pytest.approx(fa, abs=1e-15)
            if fb is not None:
                assert float(rb[i, j]) == pytest.approx(fb, abs=1e-15)
            f = _fr_objective(gamma, float(a[i, j]), float(b[i, j]), float(s[i, j]), fa, fb)
            ours = [float(ra[i, j]), float(rb[i, j]), float(rs[i, j])]
            ref = minimize(f, [max(ours[0], 1e-3), max(ours[1], 1e-3), 0.9 * ours[2] + 0.01],
                           method="Nelder-Mead",
                           options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 20000})  # fmt: skip
            assert f(ours) <= ref.fun + 1e-9


def test_prox_fr_backends_and_warm_start_agree():
    gen = torch.Generator().manual_seed(4)
    shape = (6, 40)
    a, b, s = (torch.randn(shape, dtype=torch.float64, generator=gen) for _ in range(3))
    ends = (torch.rand(40, dtype=torch.float64, generator=gen), torch.zeros(40).double())
    s = torch.stack([s, 0.5 * s.flip(0)])  # two components, as momentum and source
    native = prox_fr(a, b, s, 0.2, ends)
    whole = prox_fr_torch(a, b, s, 0.2, ends, 1e-12)
    noise = 1 + 0.3 * torch.rand(shape, dtype=torch.float64, generator=gen)
    warm = prox_fr(a, b, s, 0.2, ends, (native[0] * noise, native[1] * 1.2))
    for x, y, z in zip(native, whole, warm):
        assert torch.allclose(x, y, atol=1e-12) and torch.allclose(x, z, atol=1e-9)
    assert torch.equal(native[0][0], ends[0]) and torch.equal(native[1][-1], ends[1])
    single = prox_fr(a.float(), b.float(), s.float(), 0.2, tuple(e.float() for e in ends))
    for x, y in zip(native, single):
        assert y.dtype == torch.float32 and torch.allclose(x, y.double(), atol=1e-5)
    # NaN in, NaN out (the splitting checks finiteness)
    a[2, 5] = float("nan")
    for t in prox_fr(a, b, s, 0.2, ends) + prox_fr_torch(a, b, s, 0.2, ends, 1e-12):
        assert bool(t[..., 2, 5].isnan().all())
