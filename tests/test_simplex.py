"""The network simplex kernel against POT's dense network simplex (an independent solver)."""

import numpy as np
import pytest
import torch

from lagrangian_ot.kernels.native import InfeasibleGraph, network_simplex

ot = pytest.importorskip("ot")


def _balanced(rng, n, m, integral):
    if integral:
        a = rng.integers(1, 6, n).astype(float)
        b = rng.integers(1, 6, m).astype(float)
        d = a.sum() - b.sum()
        if d > 0:
            b[0] += d
        else:
            a[0] -= d
        return a, b
    a, b = rng.random(n) + 0.01, rng.random(m) + 0.01
    return a, b * a.sum() / b.sum()


def _check(n, m, src, dst, C, a, b, flow, u, v, basis, ref):
    """Optimal cost, feasible plan on a forest, duals feasible and tight on the plan."""
    cost = C[src, dst]
    F = np.zeros((n, m))
    F[src, dst] = flow.numpy()
    E = len(src)
    assert (F * C).sum() == pytest.approx(ref, rel=1e-10, abs=1e-12)
    assert np.allclose(F.sum(1), a) and np.allclose(F.sum(0), b) and (F >= 0).all()
    red = cost - u.numpy()[src] - v.numpy()[dst]
    assert red.min() > -1e-9 * max(1.0, np.abs(C).max())
    assert np.abs(red[basis[:E].numpy()]).max(initial=0.0) < 1e-9 * max(1.0, np.abs(C).max())
    assert int(basis[:E].sum()) <= n + m - 1 and not (flow[~basis[:E]] > 0).any()


@pytest.mark.parametrize("integral", [True, False])
def test_complete_graphs_match_pot(integral):
    rng = np.random.default_rng(1 + integral)
    for trial in range(60):
        n, m = (int(k) for k in rng.integers(1, 25, 2))
        a, b = _balanced(rng, n, m, integral)
        x, y = rng.random((n, 2)), rng.random((m, 2))
        if trial % 3 == 0:  # repeated points: zero costs and ties
            y = x[rng.integers(0, n, m)]
        C = ((x[:, None] - y[None]) ** 2).sum(-1)
        if trial % 4 == 0:  # costs on a coarse lattice: massive degeneracy
            C = np.round(C * 4) / 4
        src, dst = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
        warm = trial % 2  # any warm potentials give the same optimum
        u0, v0 = rng.normal(size=n) * warm, rng.normal(size=m) * warm
        tol = 0.5 if integral else 1e-12
        flow, u, v, basis, info = network_simplex(n, m, src, dst, C[src, dst], a, b, u0, v0, tol)
        assert info["converged"]
        _check(n, m, src, dst, C, a, b, flow, u, v, basis, ot.emd2(a, b, C))
        # restarted from its own basis and duals: nothing left to do
        again = network_simplex(n, m, src, dst, C[src, dst], a, b, u, v, tol, basis=basis)
        assert again[4]["pivots"] == 0 and torch.allclose(again[0], flow)


def test_sparse_graph_then_restart_on_a_superset():
    rng = np.random.default_rng(3)
    for _ in range(30):
        n, m = (int(k) for k in rng.integers(5, 50, 2))
        a, b = _balanced(rng, n, m, True)
        x, y = rng.random((n, 2)), rng.random((m, 2))
        C = ((x[:, None] - y[None]) ** 2).sum(-1)
        mask = rng.random((n, m)) < 0.3
        i = j = 0  # the north-west corner plan keeps the graph feasible
        ra, rb = a.copy(), b.copy()
        while i < n and j < m:
            mask[i, j] = True
            t = min(ra[i], rb[j])
            ra[i] -= t
            rb[j] -= t
            i, j = (i + 1, j) if ra[i] == 0 else (i, j + 1)
        src, dst = np.nonzero(mask)
        flow, u, v, basis, _ = network_simplex(
            n, m, src, dst, C[src, dst], a, b, np.zeros(n), np.zeros(m), 0.5
        )
        _check(n, m, src, dst, C, a, b, flow, u, v, basis, ot.emd2(a, b, np.where(mask, C, 1e6)))
        # all pairs, warm from that basis (edges sorted by source, as np.nonzero gives them)
        S, D = np.repeat(np.arange(n), m), np.tile(np.arange(m), n)
        start = torch.zeros(n * m + n + m, dtype=torch.bool)
        start[torch.from_numpy(src * m + dst)[basis[: len(src)]]] = True
        start[n * m :] = basis[len(src) :]
        out = network_simplex(n, m, S, D, C[S, D], a, b, u, v, 0.5, basis=start)
        assert out[4]["phase1_pivots"] == 0
        _check(n, m, S, D, C, a, b, *out[:4], ot.emd2(a, b, C))


def test_infeasible_graph_and_pivot_limit():
    one = np.ones(2)
    with pytest.raises(InfeasibleGraph, match="cannot route"):  # sink 1 has no arc
        network_simplex(2, 2, [0, 1], [0, 0], [1.0, 1.0], one, one, np.zeros(2), np.zeros(2), 0.5)
    rng = np.random.default_rng(4)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    src, dst = np.repeat(np.arange(30), 30), np.tile(np.arange(30), 30)
    w = np.ones(30)
    *_, info = network_simplex(30, 30, src, dst, C[src, dst], w, w, 0 * w, 0 * w, 0.5, max_pivots=3)
    assert info["pivots"] == 3 and not info["converged"]


def test_bad_input_is_refused():
    one, z = np.ones(2), np.zeros(2)
    src, dst, cost = [0, 1], [0, 1], [1.0, 1.0]
    with pytest.raises(ValueError, match="basis"):
        network_simplex(2, 2, src, dst, cost, one, one, z, z, 0.5, basis=np.ones(3, bool))
    with pytest.raises(ValueError, match="sinks"):
        network_simplex(2, 2, src, [0, 2], cost, one, one, z, z, 0.5)
    # any arcs (here a cycle): the start is a spanning forest of them
    S, D = np.repeat(np.arange(2), 2), np.tile(np.arange(2), 2)
    flow, *_ = network_simplex(2, 2, S, D, [0.0, 1, 1, 0], one, one, z, z, 0.5,
                               basis=np.ones(8, bool))  # fmt: skip
    assert flow.tolist() == [1.0, 0.0, 0.0, 1.0]
