"""Binning + FFT Gaussian sums: accuracy against exact sums, and its convergence."""

import math

import pytest
import torch

from lagrangian_ot import Grid, InputError, density, density_and_momentum
from lagrangian_ot.kernels import gaussian
from lagrangian_ot.kernels.fft import gaussian_sum_fft

F64 = torch.float64


def cloud(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=F64), torch.rand(n, generator=g, dtype=F64) + 0.5


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize(
    "d,shape,sigma",
    [(1, (300,), 0.02), (2, (120, 90), 0.03), (2, (64, 64), (0.05, 0.02)), (3, (24, 20, 22), 0.08)],
)
def test_fft_backend_is_within_1e_3_of_the_exact_sum(d, shape, sigma):
    z, m = cloud(800, d)
    grid = Grid((-0.2,) * d, (1.2,) * d, shape)
    exact = density(z, m, grid, sigma, backend="torch")
    fft = density(z, m, grid, sigma, backend="fft")
    assert fft.shape == exact.shape
    assert rel_err(fft, exact) < 1e-3


@pytest.mark.parametrize("order,expected", [(1, 2.0), (3, 4.0)])
def test_fft_error_falls_with_the_bin_size(order, expected):
    """Error against the exact sum as the bins shrink: order + 1 for a B-spline deposit of that
    order."""
    z, m = cloud(500, 1, seed=3)
    sigma = 0.05
    axes = [torch.arange(-0.2, 1.2, sigma, dtype=F64)]  # output cells of one sigma
    w = m[:, None]
    exact = gaussian.gaussian_sum_grid(axes, z, w, sigma, backend="torch")
    bins, errors = [], []
    for ratio in (1.0, 2.0, 4.0):  # refinement factors 1, 3, 5 (odd, so centres stay nodes)
        from lagrangian_ot.kernels.fft import _refinement

        bins.append(sigma / _refinement(sigma, sigma, ratio))
        errors.append(rel_err(gaussian_sum_fft(axes, z, w, sigma, ratio=ratio, order=order), exact))
    assert errors[0] > errors[1] > errors[2]
    slope = math.log(errors[0] / errors[2]) / math.log(bins[0] / bins[2])
    assert slope > 0.8 * expected


def test_default_fft_is_far_inside_the_tolerance():
    z, m = cloud(2000, 2, seed=5)
    grid = Grid((-0.2, -0.2), (1.2, 1.2), (100, 100))
    exact = density(z, m, grid, 0.02, backend="torch")
    assert rel_err(density(z, m, grid, 0.02, backend="fft"), exact) < 1e-4


def test_auto_switches_to_fft_for_large_sums_and_stays_accurate(monkeypatch):
    z, m = cloud(3000, 2, seed=1)
    v = torch.randn(3000, 2, generator=torch.Generator().manual_seed(2), dtype=F64)
    grid = Grid((-0.1, -0.1), (1.1, 1.1), (100, 100))
    calls = []
    real = gaussian_sum_fft

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr("lagrangian_ot.kernels.fft.gaussian_sum_fft", spy)
    monkeypatch.setattr(gaussian, "FFT_WORK", 1e6)
    rho, mom = density_and_momentum(z, m, v, grid, 0.02)
    assert calls, "auto did not take the FFT path"
    rho_ref, mom_ref = density_and_momentum(z, m, v, grid, 0.02, backend="torch")
    assert rel_err(rho, rho_ref) < 1e-3 and rel_err(mom, mom_ref) < 1e-3


def test_fft_keeps_batches_mass_and_dtype():
    z, m = cloud(400, 2)
    zt = torch.stack([z, z + 0.1, z - 0.1]).float()  # (3, K, 2)
    grid = Grid((-0.5, -0.5), (1.5, 1.5), (80, 80))
    out = density(zt, m.float(), grid, 0.05, backend="fft")
    assert out.shape == (3, 80, 80) and out.dtype == torch.float32
    total = out.double().sum(dim=(1, 2)) * grid.cell_volume
    torch.testing.assert_close(
        total, torch.full((3,), float(m.sum()), dtype=F64), rtol=1e-4, atol=0
    )


def test_fft_refuses_a_huge_binning_grid_before_allocating():
    z, m = cloud(10, 2)
    grid = Grid((0, 0), (1, 1), (512, 512))
    with pytest.raises(InputError, match="GiB"):
        density(z, m, grid, 1e-5, backend="fft")
    assert density(z, m, grid, 1e-5).shape == (512, 512)  # auto stays exact there
