"""Exact discrete optimal transport, certified, without storing the n x m cost.

The solver (cost ``|x - y|^2``, weights ``a``, ``b`` of equal totals):

1. Warm start: cluster each cloud around a subsample, solve the coarse problem
   exactly (recursively), and extend its dual potential to the fine cloud by a
   c-transform.
2. Candidate graph: for every point, the ``k`` best partners in reduced cost
   (``|x_i - y_j|^2 - g_j`` per row, ``|x_i - y_j|^2 - f_i`` per column).
3. Solve the transportation problem on that sparse graph exactly: network
   simplex (:func:`lagrangian_ot.kernels.network_simplex`), its first prices
   the warm potentials' reduced costs, or for an assignment problem (unit
   amounts) successive shortest paths (:func:`lagrangian_ot.kernels.ssp_transport`),
   faster there. Later rounds restart the network simplex from the last plan.
4. Certify over all pairs: ``f = min_j (C_ij - g_j)`` makes ``(f, g)`` dual
   feasible, and ``gap = cost - (a.f + b.g)`` bounds ``cost - optimum``.
   Rows where the graph missed a better partner get their best partners added,
   and the solve repeats. A plan is returned only once certified.

All certification arithmetic is float64. The all-pairs passes run in native
code on CPU, skipping blocks of points that exact lower bounds rule out, in
row blocks with torch on other devices, or KeOps when asked for
(:class:`kernels.reductions.Reductions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._geometry import diameter
from .kernels import network_simplex, ssp_transport
from .kernels.native import InfeasibleGraph
from .kernels.reductions import Reductions

DENSE_EDGES = 1 << 12  # solve on the complete graph below this many pairs
COARSE_RATIO = 3  # fine points per coarse point in the warm start
NEIGHBOURS = 16  # candidate partners per point
# reduced costs above -SLACK * (|u_i| + mean pair cost + squared diameter) count as nonnegative
SLACK = 1e-12
# accepted gap: 1e-6 of the cost plus CERTIFY * squared diameter * mass (rounding of the duals)
CERTIFY = 1e-11
MAX_ROUNDS = 30


@dataclass
class ExactSolution:
    src: torch.Tensor  # (K,) long
    dst: torch.Tensor  # (K,) long
    mass: torch.Tensor  # (K,) float64
    f: torch.Tensor  # (n,) float64, f_i + g_j <= C_ij on all pairs
    g: torch.Tensor  # (m,) float64
    cost: float
    gap: float
    info: dict


def _counts(w: torch.Tensor) -> torch.Tensor | None:
    """``w`` as integer multiples of its smallest positive entry (float64), or None if it is not."""
    q = w / w[w > 0].min()
    r = torch.round(q)
    if float((q - r).abs().max()) > 1e-9 or float(r.sum()) > 2**40:
        return None
    return r


def _amounts(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Supplies and demands for the flow solver: integers when the weights allow it.

    Integral amounts keep every flow integral (a permutation for uniform equal
    sizes) and free of rounding. Returns ``supply, demand`` (float64, on the device of the
    weights), ``unit, tol`` with ``mass = flow * unit``.
    """
    n = a.shape[0]
    total = float(a.sum())
    qa, qb = _counts(a), _counts(b)
    if qa is not None and qb is not None:
        sa, sb = int(qa.sum()), int(qb.sum())
        g = math.gcd(sa, sb)
        if (sa // g) * sb < 2**52:
            supply = qa * (sb // g)
            demand = qb * (sa // g)
            return supply, demand, total / float(supply.sum()), 0.5
    supply = a / a.sum() * n
    demand = b / b.sum() * n
    demand *= supply.sum() / demand.sum()
    smallest = min(float(supply[supply > 0].min()), float(demand[demand > 0].min()))
    return supply, demand, total / n, max(min(1e-10, 1e-6 * smallest), 1e-14 * n)


def _edge_costs(
    x: torch.Tensor, y: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
) -> torch.Tensor:
    return ((x[src] - y[dst]) ** 2).sum(-1)  # (E,)


def _solve_on_edges(x, y, src, dst, supply, demand, f, g, tol, basis):
    """Optimal flow on the edges, duals, and the basis to restart from (edges, then roots)."""
    n, m = x.shape[0], y.shape[0]
    cost = _edge_costs(x, y, src, dst)
    if basis is None and n == m and bool((supply == 1).all()) and bool((demand == 1).all()):
        flow, u, v, info = ssp_transport(n, m, src, dst, cost, supply, demand, g, tol)
        basis = torch.cat([flow > tol, torch.zeros(n + m, dtype=torch.bool)])  # a matching
        info = {"augmentations": info["augmentations"]}
    else:
        flow, u, v, basis, info = network_simplex(
            n, m, src, dst, cost, supply, demand, f, g, tol, basis=basis
        )  # on the host: (E,), (n,), (m,), (E + n + m,)
    dev = x.device
    return flow.to(dev), u.to(dev), v.to(dev), basis.to(dev), cost, info


def _unique_edges(src, dst, m):
    key = torch.unique(src * m + dst)
    return key // m, key % m


def _candidates(rows: Reductions, cols: Reductions, f, g, k):
    """Edges (src, dst) of the k best partners per row and per column, deduplicated."""
    n, m = rows.x.shape[0], rows.y.shape[0]
    _, best_y = rows.topk(g, k)  # (n, k)
    _, best_x = cols.topk(f, k)  # (m, k)
    src = torch.cat(
        [
            torch.arange(n, device=rows.x.device).repeat_interleave(best_y.shape[1]),
            best_x.reshape(-1),
        ]
    )
    dst = torch.cat(
        [
            best_y.reshape(-1),
            torch.arange(m, device=rows.x.device).repeat_interleave(best_x.shape[1]),
        ]
    )
    keep = (src >= 0) & (dst >= 0)
    return _unique_edges(src[keep], dst[keep], m)


def _monotone_edges(x, y, supply, demand):
    """Support of the monotone coupling of the clouds projected on their main axis.

    A feasible plan for any weights (the "north-west corner" rule on the sorted
    projections): added to every candidate graph, it guarantees a feasible flow,
    and it is a fair plan in its own right. At most ``n + m - 1`` edges.
    """
    pts = torch.cat([x, y])
    centred = pts - pts.mean(0)
    axis = torch.linalg.svd(centred[:: max(1, pts.shape[0] // 4096)], full_matrices=False).Vh[0]
    ox = torch.argsort(x @ axis)
    oy = torch.argsort(y @ axis)
    ca = torch.cumsum(supply[ox], 0)
    cb = torch.cumsum(demand[oy], 0)
    cb *= ca[-1] / cb[-1]
    cuts = torch.unique(torch.cat([ca.new_zeros(1), ca, cb]))  # sorted
    mids = 0.5 * (cuts[1:] + cuts[:-1])
    i = torch.searchsorted(ca, mids).clamp_max(len(ox) - 1)
    j = torch.searchsorted(cb, mids).clamp_max(len(oy) - 1)
    return ox[i], oy[j]


def _carry(old_src, old_dst, basis, src, dst, m):
    """A basis of the old edge list (edges, then roots) laid on the new one (a superset)."""
    E = old_src.shape[0]
    out = torch.zeros(src.shape[0] + basis.shape[0] - E, dtype=basis.dtype, device=basis.device)
    out[torch.searchsorted(src * m + dst, old_src * m + old_dst)] = basis[:E]
    out[src.shape[0] :] = basis[E:]
    return out


def _coarse_potential(x, y, a, b, backend, depth):
    """Sink potential from an exact solve between clustered copies of the clouds."""
    gen = torch.Generator(device="cpu").manual_seed(depth)

    def cluster(p, w):
        k = min(p.shape[0], max(32, p.shape[0] // COARSE_RATIO))
        reps = p[torch.randperm(p.shape[0], generator=gen)[:k].to(p.device)]  # (k, d)
        _, label = Reductions(p, reps, backend).min(None)  # nearest representative, (n,)
        mass = torch.zeros(k, dtype=w.dtype, device=w.device).index_add_(0, label, w)
        keep = mass > 0
        return reps[keep], mass[keep]

    xc, ac = cluster(x, a)
    yc, bc = cluster(y, b)
    coarse = solve(xc, yc, ac, bc, backend=backend, depth=depth + 1)
    g, _ = Reductions(y, xc, backend).min(coarse.f)  # c-transform of the coarse f, (m,)
    return g, coarse.info


def _fsum(t: torch.Tensor) -> float:
    """Correctly rounded sum (the certificate subtracts large, nearly equal sums)."""
    return math.fsum(t.detach().double().cpu().tolist())


def _drop_empty(x, y, a, b, backend, neighbours) -> ExactSolution:
    """Solve between the points of positive weight; duals of the others by c-transforms.

    ``f_i = min_j (C_ij - g_j)`` over the kept ``j``, then ``g_j = min_i (C_ij - f_i)``
    over all ``i`` for the dropped ``j``, as rigorous lower bounds: feasible on all
    pairs, and the gap is unchanged (the dropped points carry no mass).
    """
    ia = torch.nonzero(a > 0).reshape(-1)
    ib = torch.nonzero(b > 0).reshape(-1)
    sub = solve(x[ia], y[ib], a[ia], b[ib], backend=backend, neighbours=neighbours)
    f = torch.empty(x.shape[0], dtype=torch.float64, device=x.device)
    g = torch.empty(y.shape[0], dtype=torch.float64, device=y.device)
    f[ia], g[ib] = sub.f, sub.g
    if ia.numel() < x.shape[0]:
        rest = a <= 0
        f[rest] = Reductions(x[rest], y[ib], backend).min(sub.g)[0]
    if ib.numel() < y.shape[0]:
        rest = b <= 0
        g[rest] = Reductions(y[rest], x, backend).min(f)[0]
    info = {**sub.info, "dropped": (x.shape[0] - ia.numel(), y.shape[0] - ib.numel())}
    return ExactSolution(ia[sub.src], ib[sub.dst], sub.mass, f, g, sub.cost, sub.gap, info)


def solve(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    backend: str = "auto",
    neighbours: int = NEIGHBOURS,
    depth: int = 0,
) -> ExactSolution:
    """Certified exact plan between ``x (n, d)`` and ``y (m, d)`` with weights ``a``, ``b``.

    ``b`` is rescaled to the total of ``a``. The plan is returned only when no
    pair violates the dual constraints beyond rounding; its ``gap`` is the
    rigorous bound ``cost - (a.f + b.g)`` with ``f_i + g_j <= |x_i - y_j|^2`` for all pairs.
    Points of zero weight are left out of the solve (their duals are c-transforms).
    """
    x0, y0 = x.double(), y.double()  # edge costs from the given coordinates
    a = a.double()
    b = b.double() * (a.sum() / b.sum())
    if bool((a <= 0).any()) or bool((b <= 0).any()):
        return _drop_empty(x0, y0, a, b, backend, neighbours)
    n, m = x0.shape[0], y0.shape[0]
    x, y = x0, y0
    supply, demand, unit, tol = _amounts(a, b)
    a_moved = supply * unit  # the masses the flow carries
    b_moved = demand * unit
    total = float(a.sum())
    diam2 = diameter(x, y) ** 2  # the scale of every cost and dual
    rows = Reductions(x, y, backend)
    cols = Reductions(y, x, backend)
    info: dict = {"rounds": 0, "edges": 0, "pivots": 0, "augmentations": 0}

    if n * m <= DENSE_EDGES:
        src = torch.arange(n, device=x.device).repeat_interleave(m)
        dst = torch.arange(m, device=x.device).repeat(n)
        g = torch.zeros(m, dtype=torch.float64, device=x.device)
        f = torch.zeros(n, dtype=torch.float64, device=x.device)
    else:
        g, info["coarse"] = _coarse_potential(x, y, a, b, backend, depth)
        f, _ = rows.min(g)
        src, dst = _candidates(rows, cols, f, g, neighbours)
        s1, d1 = _monotone_edges(x, y, supply, demand)
        src, dst = _unique_edges(torch.cat([src, s1]), torch.cat([dst, d1]), m)

    k = neighbours
    gap = math.inf
    basis = None
    for rounds in range(1, MAX_ROUNDS + 1):
        try:
            flow, u, g, basis, cost, sinfo = _solve_on_edges(
                x0, y0, src, dst, supply, demand, f, g, tol, basis
            )
        except InfeasibleGraph:
            if k >= m:
                raise RuntimeError(
                    "transportation solver found no feasible flow on the complete graph"
                ) from None
            k *= 2  # the graph cannot carry the masses: widen it everywhere
            s2, d2 = _candidates(rows, cols, rows.min(g)[0], g, k)
            old_src, old_dst = src, dst
            src, dst = _unique_edges(torch.cat([src, s2]), torch.cat([dst, d2]), m)
            if basis is not None:
                basis = _carry(old_src, old_dst, basis, src, dst, m)
            continue
        info["rounds"] = rounds
        info["edges"] = int(src.shape[0])
        for key in sinfo.keys() & {"pivots", "augmentations"}:
            info[key] += sinfo[key]
        primal = _fsum(flow * cost) * unit
        slack = SLACK * (u.abs() + primal / total + diam2)  # (n,) rounding allowance of the duals
        # All pairs: the best C_ij - g_j of every row, as a rigorous lower bound.
        best, _ = rows.min(g, u + slack)  # +inf where nothing is below u_i + slack_i
        f = torch.minimum(best, u + slack)  # f_i + g_j <= C_ij for all pairs
        violated = best < u - slack  # a better partner outside the graph
        if bool(violated.any()):
            bad = torch.nonzero(violated).reshape(-1)
            _, new = rows.topk(g, k, rows=bad)  # (r, k)
            old_src, old_dst = src, dst
            src, dst = _unique_edges(
                torch.cat([src, bad.repeat_interleave(new.shape[1])]),
                torch.cat([dst, new.reshape(-1)]),
                m,
            )
            # else the "violations" are rounding: certify as is
            grew = src.shape[0] > old_src.shape[0]
        if not bool(violated.any()) or not grew:
            gap = primal - _fsum(a_moved * f) - _fsum(b_moved * g)
            floor = CERTIFY * diam2 * total  # the duals' rounding grows with the squared spread
            if gap < -(1e-9 * abs(primal) + floor) or gap > 1e-6 * abs(primal) + floor:
                raise RuntimeError(
                    f"exact solver could not certify its plan (cost {primal:.6g}, gap {gap:.3g}); "
                    "the weights or coordinates may span too many orders of magnitude for float64"
                )
            support = flow > tol  # within the basis: a forest, at most n + m - 1 edges
            return ExactSolution(
                src=src[support], dst=dst[support], mass=flow[support] * unit, f=f, g=g,
                cost=_fsum(flow[support] * cost[support]) * unit, gap=max(gap, 0.0), info=info,
            )  # fmt: skip
        f = u  # warm row potentials for the next round
        basis = _carry(old_src, old_dst, basis, src, dst, m)
    raise RuntimeError(f"exact solver did not certify its plan in {MAX_ROUNDS} rounds")
