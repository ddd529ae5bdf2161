"""Exact plans for weighted clouds: costs against POT's network simplex, certificates at every
scale."""

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


# -- point 4: weighted inputs of our own, against POT --------------------------------------------


def field(kind: str, side: int, gen) -> torch.Tensor:
    """A nonnegative histogram ``(side, side)`` of the given character."""
    noise = torch.randn(side, side, generator=gen, dtype=F64)
    if kind in ("smooth", "rough"):  # Gaussian random field: white noise filtered in Fourier space
        k = torch.fft.fftfreq(side, dtype=F64)
        k2 = k[:, None] ** 2 + k[None, :] ** 2
        power = torch.exp(-k2 * 400) if kind == "smooth" else (k2 + 1e-3) ** -0.6
        f = torch.fft.ifft2(torch.fft.fft2(noise) * power).real
        return (f - f.min()) + 1e-3 * float(f.std())
    if kind == "white":
        return torch.rand(side, side, generator=gen, dtype=F64)
    if kind == "heavy":  # Cauchy-tailed values over five orders of magnitude
        return (
            torch.tan(torch.pi * (torch.rand(side, side, generator=gen, dtype=F64) - 0.5)).abs()
            + 1e-5
        )
    if kind == "shape":  # a ring: most cells empty
        ax = torch.linspace(-1, 1, side, dtype=F64)
        r = (ax[:, None] ** 2 + ax[None, :] ** 2).sqrt()
        return ((r > 0.5) & (r < 0.8)).to(F64) * (
            1 + torch.rand(side, side, generator=gen, dtype=F64)
        )
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["smooth", "rough", "white", "heavy", "shape"])
def test_fields_on_grids_against_pot(kind, gen):
    side = 24
    g = lot.Grid((0.0, 0.0), (1.0, 1.0), (side, side))
    pts = g.points()
    a = field(kind, side, gen).reshape(-1)
    b = field(kind, side, gen).reshape(-1)
    x, y = pts[a > 0], pts[b > 0]
    a, b = a[a > 0] / a.sum(), b[b > 0] / b.sum()
    check(lot.match(x, y, a, b, method="exact"), x, y, a, b)


def test_scattered_weighted_clouds_of_different_sizes(gen):
    x = torch.randn(1500, 2, generator=gen, dtype=F64)
    y = torch.rand(1100, 2, generator=gen, dtype=F64) * 3 + 1
    a = torch.rand(1500, generator=gen, dtype=F64) ** 4  # weights over several orders of magnitude
    b = torch.rand(1100, generator=gen, dtype=F64) + 0.01
    check(lot.match(x, y, a / a.sum(), b / b.sum(), method="exact"), x, y, a / a.sum(), b / b.sum())


def test_zero_weights_are_left_out_with_feasible_duals(gen):
    x = torch.rand(400, 2, generator=gen, dtype=F64)
    y = torch.rand(300, 2, generator=gen, dtype=F64) + 0.5
    a = torch.rand(400, generator=gen, dtype=F64)
    b = torch.rand(300, generator=gen, dtype=F64)
    a[::3], b[1::4] = 0, 0
    a, b = a / a.sum(), b / b.sum()
    plan = lot.match(x, y, a, b, method="exact")
    check(plan, x, y, a, b)
    assert not bool((a[plan.src] == 0).any()) and not bool((b[plan.dst] == 0).any())
    assert plan.info["dropped"] == (134, 75)
    f, g = plan.potentials
    assert bool((f[:, None] + g[None, :] <= torch.cdist(x, y) ** 2 + 1e-13).all())
