"""The grid solvers' kernels: DCT against SciPy, the Neumann solve against a dense matrix,
the per-cell proxes against direct minimisation."""

import numpy as np
import pytest
import scipy.fft
import torch
from scipy.optimize import minimize

from lagrangian_ot.dynamic._prox import prox_mobility, prox_wp
from lagrangian_ot.kernels import dct
from lagrangian_ot.kernels.prox import prox_w2, prox_w2_torch


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
