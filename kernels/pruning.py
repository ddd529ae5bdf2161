"""Blocks of points for pruned all-pairs reductions (CPU, native code).

The cloud is cut into leaves of a k-d tree (median splits along the widest
axis), stored contiguously with their bounding boxes. For a potential ``g``
each block also gets an affine upper bound ``g_j <= a . y_j + b``, which turns
into a lower bound of ``|x_i - y_j|^2 - g_j`` over the whole block (see
``native/prune.c``): blocks that cannot hold a row's best values are skipped,
and the result is the same as the full reduction.
"""

from __future__ import annotations

import numpy as np

LEAF = 64


class BlockIndex:
    """``points (m, d)`` grouped in k-d tree leaves of at most ``leaf`` points."""

    def __init__(self, points: np.ndarray, leaf: int = LEAF):
        pts = np.ascontiguousarray(points, dtype=np.float64)
        m, d = pts.shape
        order = np.arange(m)
        leaves = []
        stack = [(0, m)]
        while stack:
            s, e = stack.pop()
            if e - s <= leaf:
                leaves.append((s, e))
                continue
            seg = order[s:e]
            span = pts[seg].max(0) - pts[seg].min(0)
            axis = int(np.argmax(span))
            mid = (e - s) // 2
            part = np.argpartition(pts[seg, axis], mid)
            order[s:e] = seg[part]
            stack.append((s + mid, e))
            stack.append((s, s + mid))
        leaves.sort()
        self.perm = order  # block order -> original index
        self.points = np.ascontiguousarray(pts[order])  # (m, d) in block order
        self.offsets = np.array([s for s, _ in leaves] + [m], dtype=np.int64)  # (nb + 1,)
        starts = self.offsets[:-1]
        self.lo = np.ascontiguousarray(np.minimum.reduceat(self.points, starts, axis=0))  # (nb, d)
        self.hi = np.ascontiguousarray(np.maximum.reduceat(self.points, starts, axis=0))  # (nb, d)
        self.sq = (self.points**2).sum(1)  # (m,)
        self.scale = float((self.points**2).sum(1).max()) if m else 0.0

    @property
    def n_blocks(self) -> int:
        return len(self.offsets) - 1

    def affine_bound(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per block, ``a (nb, d)`` and ``b (nb,)`` with ``g_j <= a . y_j + b`` on the block.

        ``g`` in block order. ``a`` is the least-squares slope of ``g`` on the
        block; ``b`` makes the bound hold exactly at every point.
        """
        y, off = self.points, self.offsets
        starts = off[:-1]
        count = np.diff(off).astype(np.float64)[:, None]  # (nb, 1)
        ybar = np.add.reduceat(y, starts, axis=0) / count  # (nb, d)
        gbar = np.add.reduceat(g, starts) / count[:, 0]  # (nb,)
        block = np.repeat(np.arange(self.n_blocks), np.diff(off))  # (m,)
        yc = y - ybar[block]  # (m, d)
        gc = g - gbar[block]  # (m,)
        S = np.add.reduceat(yc[:, :, None] * yc[:, None, :], starts, axis=0)  # (nb, d, d)
        t = np.add.reduceat(yc * gc[:, None], starts, axis=0)  # (nb, d)
        ridge = 1e-12 * (np.trace(S, axis1=1, axis2=2) + 1e-300)[:, None, None] * np.eye(y.shape[1])
        a = np.linalg.solve(S + ridge, t[:, :, None])[:, :, 0]  # (nb, d)
        b = np.maximum.reduceat(g - (a[block] * y).sum(1), starts)  # (nb,)
        return np.ascontiguousarray(a), np.ascontiguousarray(b)
