"""Operators of the staggered space-time grid against dense linear algebra."""

from __future__ import annotations

import pytest
import torch

from lagrangian_ot.dynamic import _staggered as stg
from lagrangian_ot.dynamic._staggered import SpaceTime


def dense_average(n: int) -> torch.Tensor:
    """The averaging of ``n + 1`` nodes to ``n`` midpoints, written out entry by entry."""
    a = torch.zeros(n, n + 1, dtype=torch.float64)
    for k in range(n):
        a[k, k] = a[k, k + 1] = 0.5
    return a


@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_average_its_adjoint_and_the_tridiagonal_solve(n):
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(4, n + 1, 3, dtype=torch.float64, generator=gen)
    v = torch.randn(4, n, 3, dtype=torch.float64, generator=gen)
    a = dense_average(n)
    assert torch.allclose(stg._average(x, 1), torch.einsum("kj,ijl->ikl", a, x), atol=1e-14)
    assert torch.allclose(stg._average_adjoint(v, 1), torch.einsum("kj,ikl->ijl", a, v), atol=1e-14)
    solve = torch.linalg.inv(torch.eye(n + 1, dtype=torch.float64) + a.T @ a)
    expected = torch.einsum("kj,ijl->ikl", solve, x)
    before = x.clone()
    assert torch.allclose(stg._graph_solve(x, 1, stg._graph_factors(n)), expected, atol=1e-13)
    assert torch.equal(x, before)  # the input is left alone
    assert torch.allclose(
        stg._along(x, 1, stg._graph_matrix(n, torch.float64, "cpu")), expected, atol=1e-13
    )


@pytest.mark.parametrize("source, steps", [(None, 4), (9.0, 4), (9.0, 9)])
def test_graph_projection_is_the_same_by_recursion_and_by_matrices(monkeypatch, source, steps):
    # with a source and 9 steps, the steps near the ends have copies and the others not
    st = SpaceTime(
        (6, 5), (1 / 6, 1 / 6), steps, source_weight=source, dtype=torch.float64, device="cpu"
    )
    gen = torch.Generator().manual_seed(1)
    u = [torch.randn(z.shape, dtype=torch.float64, generator=gen) for z in st.staggered_zeros()]
    v = [torch.randn(z.shape, dtype=torch.float64, generator=gen) for z in st.interp(u)]
    monkeypatch.setattr(stg, "THOMAS_MIN_CELLS", 1 << 40)
    dense_u, dense_v = st.project_graph(u, v)
    monkeypatch.setattr(stg, "THOMAS_MIN_CELLS", 1)
    rec_u, rec_v = st.project_graph(u, v)
    for a, b in zip(dense_u + dense_v, rec_u + rec_v):
        assert torch.allclose(a, b, atol=1e-13)
    # a projection: the residual is orthogonal to the graph {(U, I(U))} in the splitting's
    # metric (Euclidean, but for the source's part of V near the ends)
    du = [a - b for a, b in zip(u, dense_u)]
    dv = [a - b for a, b in zip(v, dense_v)]
    dv = [c * x for c, x in zip(st.centred_weights(), dv)]
    w = [torch.randn(z.shape, dtype=torch.float64, generator=gen) for z in u]
    inner = sum(float((a * b).sum()) for a, b in zip(du + dv, w + st.interp(w)))
    assert abs(inner) < 1e-10
    # and it is one: projecting again changes nothing
    again_u, again_v = st.project_graph(dense_u, dense_v)
    for a, b in zip(again_u + again_v, dense_u + dense_v):
        assert torch.allclose(a, b, atol=1e-12)


def test_prolonged_copies_are_the_fine_grids_copies():
    """For a path linear in time and space, prolonging the coarse centred variables (the
    source's copies of the densities near the ends included) gives the fine ones."""
    from lagrangian_ot.dynamic import _multilevel as ml

    coarse = SpaceTime((16,), (1 / 16,), 8, source_weight=4.0, dtype=torch.float64, device="cpu")
    fine = SpaceTime((32,), (1 / 32,), 16, source_weight=4.0, dtype=torch.float64, device="cpu")
    x = torch.linspace(0, 1, 16, dtype=torch.float64)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)[:, None]
    u = coarse.staggered_zeros()
    u[0] = 1 + t * x + 2 * t
    fu, fv = ml.prolong(u, coarse.interp(u), 1, True, coarse.n_centred)
    expected = fine.interp(fu)
    for got, want in zip(fv[-2:], expected[-2:]):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-14)
