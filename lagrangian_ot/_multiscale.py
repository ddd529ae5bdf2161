"""Multiscale Sinkhorn for low-dimensional clouds (d <= 3): nested cells and truncated kernels.

Both clouds are binned in nested cubic cells of sides ``D / 2^(k+1)``, ``k = 0 .. C-1``
(``D`` the diameter, one origin, so a cell of level ``k`` splits into ``2^d`` cells of
level ``k + 1``), down to the depth ``C`` where cells would hold fewer than ``BLOCK``
points on average. Level ``k`` runs at ``blur = D / 2^k`` (the final blur at the last
level ``L``): levels ``k < C`` between the cells' centroids, carrying their masses,
the others between the points, grouped by their level-``C - 1`` cells. Level ``k``
groups its points by their cells one level up (blocks) and keeps only the block
pairs ``(I, J)`` that can hold a plan entry above ``e^-T`` of ``a_i b_j``:

    lower bound  dist(box_I, box_J)^2 - max_{i in I} f_i - max_{j in J} g_j  <=  T eps,

with the boxes of the blocks' points and the potentials of the level. The pairs are
found top-down through the cells (a pair of cells that fails the bound rules out all
pairs of their sub-cells), so no step looks at all pairs. Between levels the potentials
are carried to the finer points by one soft-minimum against the coarser level (the
c-transform of its potential, as GeomLoss does), and the finest level's pattern is
checked again at the end with the converged potentials: a plan entry left out is below
``e^-T a_i b_j``. See Schmitzer (2019), Feydy (2020), chapter 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ._geometry import diameter
from .kernels.softmin import BlockSparseKernel

TRUNCATION = 14.0  # pairs whose reduced cost exceeds TRUNCATION * eps are left out (e^-14 = 8e-7)
BLOCK = 8  # the cells stop at the depth where they would hold fewer points than this on average


@dataclass
class _Levels:
    """One cloud binned in nested cells: ``ids[k] (n,)`` the level-``k`` cell of every point,
    numbered so that cells are sorted by their parent; ``parent[k]`` the parent of each cell."""

    ids: list[torch.Tensor]
    parent: list[torch.Tensor]
    lo: list[torch.Tensor]  # (cells, d) boxes of the cells' points
    hi: list[torch.Tensor]


def _bin(p: torch.Tensor, origin: torch.Tensor, side0: float, n_levels: int) -> _Levels:
    d = p.shape[1]
    ids, parents, los, his = [], [], [], []
    prev = torch.zeros(p.shape[0], dtype=torch.int64, device=p.device)
    for k in range(n_levels):
        cell = torch.floor((p - origin) / (side0 / 2**k)).long()  # (n, d)
        bits = cell % 2 if k else torch.zeros_like(cell)
        # which sub-cell of the parent
        child = (bits * (2 ** torch.arange(d, device=p.device))).sum(1)
        key = prev * (2**d) + child
        uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
        ids.append(inv)
        parents.append(torch.div(uniq, 2**d, rounding_mode="floor"))
        lo = torch.full((uniq.shape[0], d), math.inf, dtype=p.dtype, device=p.device)
        hi = torch.full((uniq.shape[0], d), -math.inf, dtype=p.dtype, device=p.device)
        los.append(lo.scatter_reduce_(0, inv[:, None].expand(-1, d), p, "amin"))
        his.append(hi.scatter_reduce_(0, inv[:, None].expand(-1, d), p, "amax"))
        prev = inv
    return _Levels(ids, parents, los, his)


def _centroids(p, w, ids, size):
    mass = torch.zeros(size, dtype=w.dtype, device=w.device).index_add_(0, ids, w)
    pos = torch.zeros(size, p.shape[1], dtype=p.dtype, device=p.device).index_add_(
        0, ids, p * w[:, None]
    )
    return pos / mass.clamp_min(torch.finfo(mass.dtype).tiny)[:, None], mass


def _offsets(block_of: torch.Tensor, n_blocks: int) -> torch.Tensor:
    off = torch.zeros(n_blocks + 1, dtype=torch.int64, device=block_of.device)
    off[1:] = torch.bincount(block_of, minlength=n_blocks).cumsum(0)
    return off.cpu()


def _ancestors(levels: _Levels, k: int, order: torch.Tensor | None) -> list[torch.Tensor]:
    """For the points of level ``k`` (cells of level ``k``, or the points in ``order`` at the
    finest level), their cell at every level ``j < k`` (and ``j <= L - 1``)."""
    L = len(levels.ids)
    if k >= L:
        return [ids[order] for ids in levels.ids]
    out = [torch.arange(levels.lo[k].shape[0], device=levels.lo[k].device)]
    for j in range(k, 0, -1):
        out.insert(0, levels.parent[j][out[0]])
    return out[:-1]


def _affine(levels: _Levels, anc: list[torch.Tensor], p, w, f, grad):
    """Per cell of every level ``j``: a slope ``beta`` (the cell's mean gradient) and the
    smallest ``alpha`` with ``f_i <= alpha + beta . (p_i - centre)`` for all its points."""
    stats = []
    for j, ids in enumerate(anc):
        cells = levels.lo[j].shape[0]
        centre = 0.5 * (levels.lo[j] + levels.hi[j])  # (cells, d)
        tiny = torch.finfo(p.dtype).tiny
        wt = w + tiny  # cells of zero mass still get a slope
        mass = torch.zeros(cells, dtype=p.dtype, device=p.device).index_add_(0, ids, wt)
        beta = (
            torch.zeros_like(centre).index_add_(0, ids, grad * wt[:, None])
            / mass.clamp_min(tiny)[:, None]
        )
        resid = f - (beta[ids] * (p - centre[ids])).sum(1)
        alpha = torch.full((cells,), -math.inf, dtype=p.dtype, device=p.device).scatter_reduce_(
            0, ids, resid, "amax"
        )
        stats.append((alpha, beta, centre))
    return stats


def _lower_bound(lo1, hi1, lo2, hi2, s1, s2) -> torch.Tensor:
    """``min |x - y|^2 - f_bound(x) - g_bound(y)`` over ``x`` in box 1 and ``y`` in box 2, with the
    affine upper bounds ``alpha + beta . (x - centre)`` of the potentials (row-aligned pairs).

    Per axis, ``(x - y)^2 - p x - q y`` is convex and degenerate, so its minimum over the
    rectangle lies on an edge, where it is a clamped one-dimensional minimum.
    """
    (a1, p, c1), (a2, q, c2) = s1, s2

    def edge_x(xv):  # x fixed, best y in [lo2, hi2]
        yv = (xv + 0.5 * q).clamp(lo2, hi2)
        return (xv - yv) ** 2 - p * xv - q * yv

    def edge_y(yv):  # y fixed, best x in [lo1, hi1]
        xv = (yv + 0.5 * p).clamp(lo1, hi1)
        return (xv - yv) ** 2 - p * xv - q * yv

    per_axis = torch.minimum(
        torch.minimum(edge_x(lo1), edge_x(hi1)), torch.minimum(edge_y(lo2), edge_y(hi2))
    )
    return per_axis.sum(-1) + (p * c1).sum(-1) + (q * c2).sum(-1) - a1 - a2


def _pattern(X: _Levels, Y: _Levels, depth: int, sx, sy, bound: float) -> torch.Tensor:
    """Pairs of level-``depth`` cells ``(bi, bj)`` whose lower bound is at most ``bound``.

    ``sx[j]``, ``sy[j]``: the affine bounds of the potentials on the cells of level ``j``
    (:func:`_affine`). Descends from level 0, keeping the sub-cell pairs of the pairs that pass.
    """
    nx0, ny0 = X.lo[0].shape[0], Y.lo[0].shape[0]
    dev = X.lo[0].device
    bi = torch.arange(nx0, device=dev).repeat_interleave(ny0)
    bj = torch.arange(ny0, device=dev).repeat(nx0)
    for k in range(depth + 1):
        if k:  # children of the surviving pairs
            cx = _children(X.parent[k], X.lo[k - 1].shape[0])
            cy = _children(Y.parent[k], Y.lo[k - 1].shape[0])
            bi, bj = _child_pairs(bi, bj, cx, cy)
        a1, b1, c1 = sx[k]
        a2, b2, c2 = sy[k]
        lb = _lower_bound(
            X.lo[k][bi],
            X.hi[k][bi],
            Y.lo[k][bj],
            Y.hi[k][bj],
            (a1[bi], b1[bi], c1[bi]),
            (a2[bj], b2[bj], c2[bj]),
        )
        keep = lb <= bound
        bi, bj = bi[keep], bj[keep]
    return torch.stack([bi, bj], 1)


def _children(parent: torch.Tensor, n_parents: int):
    """``(ptr, child)``: the cells of one level grouped by parent (cells are sorted by parent)."""
    ptr = torch.zeros(n_parents + 1, dtype=torch.int64, device=parent.device)
    ptr[1:] = torch.bincount(parent, minlength=n_parents).cumsum(0)
    return ptr


def _child_pairs(bi, bj, cx, cy):
    """All pairs ``(i, j)`` of children of the pairs ``(bi, bj)``."""
    ni = cx[bi + 1] - cx[bi]
    nj = cy[bj + 1] - cy[bj]
    size = ni * nj
    p = torch.repeat_interleave(torch.arange(bi.shape[0], device=bi.device), size)
    first = torch.cumsum(size, 0) - size
    r = torch.arange(p.shape[0], device=bi.device) - first[p]
    return cx[bi[p]] + torch.div(r, nj[p], rounding_mode="floor"), cy[bj[p]] + r % nj[p]


def _barycentres(kernel, f, g, log_a, log_b, eps):
    """Row and column soft-minima and barycentres (single precision where the kernel has it:
    they shape the patterns' bounds, whose validity does not depend on them)."""
    K = kernel.single() or kernel
    f_new, tx = K.rows(g + eps * log_b, eps, barycentres=True)
    g_new, ty = K.cols(f + eps * log_a, eps, barycentres=True)
    return f_new, tx, g_new, ty


@dataclass
class Level:
    """The problem of one level: points sorted by block, weights, kernel."""

    kernel: BlockSparseKernel
    log_a: torch.Tensor
    log_b: torch.Tensor
    eps: float
    order_x: torch.Tensor | None = None  # finest level: the points' order in the kernel
    order_y: torch.Tensor | None = None


class Multiscale:
    """The nested cells of two clouds and the levels' problems (see the module docstring)."""

    def __init__(self, x, y, a, b, blur: float):
        self.x, self.y, self.a, self.b = x, y, a, b
        origin = torch.cat([x, y]).min(0).values
        self.diameter = diameter(x, y) or 1.0
        D = self.diameter
        self.n_levels = max(1, math.ceil(math.log2(D / blur)))  # L
        self.blurs = [D / 2**k for k in range(self.n_levels)] + [blur]
        side0 = D / 2  # cells of level k have side D / 2^(k+1) <= blur_k / 2
        X = _bin(x, origin, side0, self.n_levels)
        Y = _bin(y, origin, side0, self.n_levels)
        # the cells stop where they would hold fewer than BLOCK points on average: the
        # levels past that depth are the points themselves, at smaller and smaller blurs
        depth = 1
        while (
            depth < self.n_levels
            and min(x.shape[0] / X.lo[depth].shape[0], y.shape[0] / Y.lo[depth].shape[0]) >= BLOCK
        ):
            depth += 1
        # C: levels 0 .. C-1 are cells; blocks of the points are cells of level C-1
        self.depth = depth
        self.X, self.Y = (
            _Levels(v.ids[:depth], v.parent[:depth], v.lo[:depth], v.hi[:depth]) for v in (X, Y)
        )

    def eps(self, k: int) -> float:
        return 2.0 * self.blurs[k] ** 2

    def points(self, k: int):
        """Level ``k``'s points, weights and blocks: ``x, a, xoff, y, b, yoff`` (+ orders from level
        C)."""
        L = self.depth
        if k < L:
            nx, ny = self.X.lo[k].shape[0], self.Y.lo[k].shape[0]
            x, a = _centroids(self.x, self.a, self.X.ids[k], nx)
            y, b = _centroids(self.y, self.b, self.Y.ids[k], ny)
            bx = self.X.parent[k] if k else torch.zeros(nx, dtype=torch.int64, device=x.device)
            by = self.Y.parent[k] if k else torch.zeros(ny, dtype=torch.int64, device=y.device)
            return x, a, bx, y, b, by, None, None
        ox = torch.argsort(self.X.ids[L - 1], stable=True)
        oy = torch.argsort(self.Y.ids[L - 1], stable=True)
        return (self.x[ox], self.a[ox], self.X.ids[L - 1][ox],
                self.y[oy], self.b[oy], self.Y.ids[L - 1][oy], ox, oy)  # fmt: skip

    def level(self, k: int, f=None, g=None, grad_f=None, grad_g=None) -> Level:
        """The problem of level ``k``; that level's potentials and their gradients choose its
        pattern."""
        x, a, bx, y, b, by, ox, oy = self.points(k)
        nbx = int(bx.max()) + 1 if bx.numel() else 0
        nby = int(by.max()) + 1 if by.numel() else 0
        if k == 0:
            pattern = torch.zeros(1, 2, dtype=torch.int64, device=x.device)
        else:
            pattern = self._pattern(
                k, x, a, y, b, ox, oy, f, g, grad_f, grad_g, TRUNCATION * self.eps(k)
            )
        kernel = BlockSparseKernel(x, y, _offsets(bx, nbx), _offsets(by, nby), pattern)
        return Level(kernel, a.log(), b.log(), self.eps(k), ox, oy)

    def _pattern(self, k, x, a, y, b, ox, oy, f, g, grad_f, grad_g, bound):
        sx = _affine(self.X, _ancestors(self.X, k, ox), x, a, f, grad_f)
        sy = _affine(self.Y, _ancestors(self.Y, k, oy), y, b, g, grad_g)
        return _pattern(self.X, self.Y, min(k, self.depth) - 1, sx, sy, bound)

    def refine(self, k: int, coarse: Level, f, g):
        """Potentials of level ``k`` from level ``k - 1``'s, and their gradients ``2 (x - T(x))``:
        one soft-minimum of each side against the coarser points, over the coarse pattern
        (past the cells' depth the points are the same: the potentials carry over)."""
        ck = coarse.kernel
        eps = coarse.eps
        if k > self.depth:
            _, tx, _, ty = _barycentres(ck, f, g, coarse.log_a, coarse.log_b, eps)
            return f, g, 2.0 * (ck.x - tx), 2.0 * (ck.y - ty)
        x, _, bx, y, _, by, _, _ = self.points(k)
        # rows: level-k points grouped by their level-(k-1) cell; columns: level-(k-1) points
        pairs = ck.pattern_entries()
        nbx, nby = ck.n, ck.m
        singles_y = torch.arange(nby + 1, dtype=torch.int64)
        singles_x = torch.arange(nbx + 1, dtype=torch.int64)
        to_x = BlockSparseKernel(x, ck.y, _offsets(bx, nbx), singles_y, pairs)
        to_y = BlockSparseKernel(ck.x, y, singles_x, _offsets(by, nby), pairs)
        # a warm start
        f_new, tx = (to_x.single() or to_x).rows(g + eps * coarse.log_b, eps, barycentres=True)
        g_new, ty = (to_y.single() or to_y).cols(f + eps * coarse.log_a, eps, barycentres=True)
        return f_new, g_new, 2.0 * (x - tx), 2.0 * (y - ty)

    def extend(self, level: Level, pairs: torch.Tensor) -> Level:
        """The same level with the block ``pairs`` added to its pattern."""
        k = level.kernel
        pattern = torch.cat([k.pattern, pairs.to(k.pattern.device)])
        kernel = BlockSparseKernel(k.x, k.y, k.xoff, k.yoff, pattern)
        return Level(kernel, level.log_a, level.log_b, level.eps, level.order_x, level.order_y)

    def missing(self, level: Level, f, g) -> torch.Tensor:
        """Block pairs of the finest level that the converged potentials need and the pattern
        lacks."""
        k = level.kernel
        eps = level.eps
        _, tx, _, ty = _barycentres(k, f, g, level.log_a, level.log_b, eps)
        need = self._pattern(self.n_levels, k.x, level.log_a.exp(), k.y, level.log_b.exp(),
                             level.order_x, level.order_y, f, g, 2.0 * (k.x - tx), 2.0 * (k.y - ty),
                             TRUNCATION * eps)  # fmt: skip
        nby = k.yoff.shape[0] - 1
        have = k.pattern[:, 0] * nby + k.pattern[:, 1]
        key = need[:, 0] * nby + need[:, 1]
        return need[~torch.isin(key, have.to(key.device))]
