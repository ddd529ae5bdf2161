"""The entropy-transport cost ``4 kappa^2 ell(|x - y|)``: a matrix, kept whole when small, else
recomputed in row blocks."""

from __future__ import annotations

import math

import torch

CACHE_PAIRS = 4_000_000  # the cost matrix is kept in memory below this many admissible-set pairs
BLOCK_BYTES = 1 << 25  # row blocks of the uncached cost stay under this size
_HALF_PI = 0.5 * math.pi


def cost_matrix(x: torch.Tensor, y: torch.Tensor, kappa: float) -> torch.Tensor:
    """The entropy-transport cost ``4 kappa^2 ell(|x_i - y_j|)``, ``(n, m)``; ``inf`` from
    ``pi kappa`` on.

    ``ell(d) = -log cos^2(d / (2 kappa))``, evaluated as ``-2 log1p(-2 sin^2(d / (4 kappa)))``
    (accurate at small distances, where the cost is ``|x - y|^2 (1 + O(d^2 / kappa^2))``).

    Examples
    --------
    >>> import torch
    >>> c = cost_matrix(torch.tensor([[0.0]]), torch.tensor([[1e-3], [4.0]]), kappa=1.0)
    >>> round(float(c[0, 0]) * 1e6, 6), float(c[0, 1])
    (1.0, inf)
    """
    d = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")
    theta = d / (2.0 * kappa)
    inside = theta < _HALF_PI
    half = torch.sin(0.5 * theta.clamp(max=_HALF_PI))
    c = -8.0 * kappa**2 * torch.log1p(-2.0 * half * half)
    return torch.where(inside, c, torch.full_like(c, math.inf))


class _Costs:
    """The cost matrix of the admissible sets, cached when small, else recomputed in row blocks."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, kappa: float, cache: bool | None = None):
        """``cache=None``: keep the matrix when it has at most :data:`CACHE_PAIRS` entries."""
        self.x, self.y, self.kappa = x, y, kappa
        if cache is None:
            cache = x.shape[0] * y.shape[0] <= CACHE_PAIRS
        self.full = cost_matrix(x, y, kappa) if cache else None

    def row_blocks(self):
        """``(first row, cost block (r, m))`` over the rows, in blocks of about ``BLOCK_BYTES``."""
        step = max(1, BLOCK_BYTES // (8 * self.y.shape[0]))
        for s in range(0, self.x.shape[0], step):
            rows = slice(s, s + step)
            yield (
                s,
                self.full[rows]
                if self.full is not None
                else cost_matrix(self.x[rows], self.y, self.kappa),
            )

    @property
    def m(self) -> int:
        return self.y.shape[0]

    def pairs(self):
        """``(i, j, c_ij)`` flattened over the row blocks of :meth:`row_blocks`, as the kernels of
        ``kernels/softmin.py`` give them (whole rows, row-major)."""
        cols = torch.arange(self.m, device=self.y.device)
        for s, c in self.row_blocks():
            i = torch.arange(s, s + c.shape[0], device=c.device)[:, None].expand_as(c)
            yield i.reshape(-1), cols.expand_as(c).reshape(-1), c.reshape(-1)

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        """The soft-minimum kernel of the Sinkhorn loop:
        ``-eps log sum_j exp((h_j - c_ij) / eps)``."""
        return self.softmin(h, torch.zeros_like(h), eps)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return self.softmin(h, torch.zeros_like(h), eps, transpose=True)

    def softmin(
        self, g: torch.Tensor, log_w: torch.Tensor, eps: float, transpose: bool = False
    ) -> torch.Tensor:
        """``-eps log sum_j w_j exp((g_j - c_ij) / eps)`` per row (``eps = 0``:
        ``min_j c_ij - g_j``).

        ``transpose=True`` reduces over the rows instead (one value per column).
        """
        if self.full is not None:
            return _softmin_block(self.full.t() if transpose else self.full, g, log_w, eps)
        rows, cols = (self.y, self.x) if transpose else (self.x, self.y)
        step = max(1, BLOCK_BYTES // (8 * cols.shape[0]))
        out = [
            _softmin_block(cost_matrix(rows[s : s + step], cols, self.kappa), g, log_w, eps)
            for s in range(0, rows.shape[0], step)
        ]
        return torch.cat(out)


def _softmin_block(
    c: torch.Tensor, g: torch.Tensor, log_w: torch.Tensor, eps: float
) -> torch.Tensor:
    if eps == 0.0:
        return (c - g).amin(dim=1)
    return -eps * torch.logsumexp(log_w + (g - c) / eps, dim=1)


def _has_partner(
    p: torch.Tensor, q: torch.Tensor, q_ok: torch.Tensor, reach: float
) -> torch.Tensor:
    """For each row of ``p``: is some ``q[q_ok]`` nearer than ``reach``? (row blocks)"""
    q = q[q_ok]
    if q.shape[0] == 0:
        return torch.zeros(p.shape[0], dtype=torch.bool, device=p.device)
    step = max(1, BLOCK_BYTES // (8 * q.shape[0]))
    out = [
        (torch.cdist(p[s : s + step], q, compute_mode="donot_use_mm_for_euclid_dist") < reach).any(
            1
        )
        for s in range(0, p.shape[0], step)
    ]
    return torch.cat(out)
