"""Reductions over all pairs of two clouds that the matching needs.

With ``C_ij = |x_i - y_j|^2`` and a potential ``g`` on the second cloud:

- ``cmin``:  ``f_i = min_j (C_ij - g_j)`` and its argmin (the c-transform of ``g``);
- ``ctopk``: the ``k`` smallest ``C_ij - g_j`` per row and their columns.

The ``n x m`` matrix is never stored whole: torch works on row blocks that fit
a fixed memory budget; KeOps streams the reduction on the device.
"""

from __future__ import annotations

import numpy as np
import torch

from .backend import resolve_backend, row_block


def sqdist(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense squared distances ``|x_i - y_j|^2``, batched over leading dimensions.

    ``x (..., n, d)``, ``y (..., m, d)`` -> ``(..., n, m)``, clamped at zero.
    """
    xx = (x * x).sum(-1, keepdim=True)  # (..., n, 1)
    yy = (y * y).sum(-1).unsqueeze(-2)  # (..., 1, m)
    c = torch.baddbmm(xx + yy, x, y.transpose(-1, -2), alpha=-2.0) if x.dim() == 3 else (
        xx + yy - 2.0 * x @ y.transpose(-1, -2)
    )  # (..., n, m)
    return c.clamp_min_(0.0)


def _lifted(
    x: torch.Tensor, y: torch.Tensor, g: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lift the clouds so that one matrix product gives the reduced costs.

    ``X_i = (x_i, |x_i|^2, 1)`` and ``Y_j = (-2 y_j, 1, |y_j|^2 - g_j)`` give
    ``X_i . Y_j = |x_i - y_j|^2 - g_j``.
    """
    one_x = torch.ones_like(x[:, :1])
    one_y = torch.ones_like(y[:, :1])
    yy = (y * y).sum(-1, keepdim=True)  # (m, 1)
    if g is not None:
        yy = yy - g.unsqueeze(-1)
    X = torch.cat([x, (x * x).sum(-1, keepdim=True), one_x], dim=1)  # (n, d + 2)
    Y = torch.cat([-2.0 * y, one_y, yy], dim=1)  # (m, d + 2)
    return X, Y


def _row_blocks(n: int, m: int):
    step = row_block(m)
    for start in range(0, n, step):
        yield start, min(n, start + step)


def cmin(
    x: torch.Tensor, y: torch.Tensor, g: torch.Tensor | None = None, *, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``min_j (|x_i - y_j|^2 - g_j)`` and its argmin for every row ``i``.

    ``x (n, d)``, ``y (m, d)``, ``g (m,)`` or None (zero) -> ``(values (n,), index (n,))``.
    """
    if resolve_backend(backend, x.device) == "keops":
        return _cmin_keops(x, y, g)
    X, Y = _lifted(x, y, g)  # (n, d + 2), (m, d + 2)
    Yt = Y.t().contiguous()  # (d + 2, m)
    vals = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    idx = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    for s, e in _row_blocks(x.shape[0], y.shape[0]):
        torch.min(X[s:e] @ Yt, dim=1, out=(vals[s:e], idx[s:e]))  # (b, m) -> (b,)
    return vals, idx


def ctopk(
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Tensor | None,
    k: int,
    *,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` smallest ``|x_i - y_j|^2 - g_j`` per row, ascending.

    ``x (n, d)``, ``y (m, d)``, ``g (m,)`` or None -> ``(values (n, k), index (n, k))``.
    """
    k = min(k, y.shape[0])
    if resolve_backend(backend, x.device) == "keops":
        return _ctopk_keops(x, y, g, k)
    X, Y = _lifted(x, y, g)  # (n, d + 2), (m, d + 2)
    Yt = Y.t().contiguous()  # (d + 2, m)
    vals = torch.empty(x.shape[0], k, dtype=x.dtype, device=x.device)
    idx = torch.empty(x.shape[0], k, dtype=torch.long, device=x.device)
    for s, e in _row_blocks(x.shape[0], y.shape[0]):
        # (b, k)
        torch.topk(X[s:e] @ Yt, k, dim=1, largest=False, sorted=True, out=(vals[s:e], idx[s:e]))
    return vals, idx


def _lazy_cost(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor | None):
    from pykeops.torch import LazyTensor

    x_i = LazyTensor(x[:, None, :].contiguous())  # (n, 1, d)
    y_j = LazyTensor(y[None, :, :].contiguous())  # (1, m, d)
    c_ij = ((x_i - y_j) ** 2).sum(-1)  # (n, m) symbolic
    if g is not None:
        g_j = LazyTensor(g[None, :, None].contiguous())  # (1, m, 1)
        c_ij = c_ij - g_j  # (n, m) symbolic
    return c_ij


def _cmin_keops(x, y, g):
    vals, idx = _lazy_cost(x, y, g).min_argmin(dim=1)  # (n, 1), (n, 1)
    return vals.view(-1), idx.view(-1).long()


def _ctopk_keops(x, y, g, k):
    vals, idx = _lazy_cost(x, y, g).Kmin_argKmin(k, dim=1)  # (n, k), (n, k)
    return vals, idx.long()


class Reductions:
    """All-pairs reductions between two fixed clouds ``x (n, d)`` and ``y (m, d)``.

    ``topk(g, k, thresh)``: per row ``i``, the ``k`` smallest ``|x_i - y_j|^2 - g_j``
    below ``thresh[i]`` (``inf`` and index -1 where there are fewer). Values are
    rigorous lower bounds: each is lowered by a bound on its rounding error.

    Backends: ``"native"`` (CPU: C code that skips blocks of ``y`` by exact lower
    bounds, several threads), ``"torch"`` (row blocks, any device), ``"keops"``
    (asked for by name). ``"auto"`` is native on CPU and torch elsewhere.
    All arithmetic in the dtype of the inputs (the exact solver passes float64).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, backend: str = "auto"):
        self.x, self.y = x, y
        if backend == "native" or (backend == "auto" and x.device.type == "cpu"):
            if x.device.type != "cpu":
                raise ValueError("backend='native' runs on CPU tensors")
            self.backend = "native"
        else:
            self.backend = resolve_backend(backend, x.device)
            centre = torch.cat([x, y]).mean(0)  # the expansion loses fewer digits on centred copies
            self.x, self.y = x - centre, y - centre
        self._index = None
        self._xnp = None

    def _native_index(self):
        if self._index is None:
            from .pruning import BlockIndex

            self._index = BlockIndex(self.y.detach().cpu().numpy())
            self._xnp = np.ascontiguousarray(self.x.detach().cpu().numpy(), dtype=np.float64)
        return self._index

    def margin(self, g: torch.Tensor | None) -> float:
        """A bound on the rounding error of one reduced cost computed by expansion."""
        gx = float(g.abs().max()) if g is not None and g.numel() else 0.0
        sx = float((self.x * self.x).sum(-1).max())
        sy = float((self.y * self.y).sum(-1).max())
        eps = torch.finfo(self.x.dtype).eps
        return 16 * eps * (sx + sy + gx + 1e-300) * (self.x.shape[-1] + 2)

    def topk(
        self,
        g: torch.Tensor | None,
        k: int,
        thresh: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(vals (r, k), idx (r, k))`` for all rows, or for ``rows`` only."""
        k = min(int(k), self.y.shape[0])
        x = self.x if rows is None else self.x[rows]
        if self.backend != "native":
            vals, idx = ctopk(x, self.y, g, k, backend=self.backend)
            vals = vals - self.margin(g)  # lower bounds despite the rounding of the expansion
            if thresh is not None:
                over = vals >= thresh.unsqueeze(1)
                vals = vals.masked_fill(over, float("inf"))
                idx = idx.masked_fill(over, -1)
            return vals, idx
        from .native import pruned_topk

        index = self._native_index()
        gnp = (
            np.zeros(self.y.shape[0]) if g is None else g.detach().cpu().numpy().astype(np.float64)
        )
        gb = np.ascontiguousarray(gnp[index.perm])
        a, b = index.affine_bound(gb)
        xn = self._xnp if rows is None else np.ascontiguousarray(self._xnp[rows.cpu().numpy()])
        th = (
            np.full(xn.shape[0], np.inf)
            if thresh is None
            else thresh.detach().cpu().numpy().astype(np.float64)
        )
        blocks = (index.offsets, index.lo, index.hi, a, b)
        vals, idx, _ = pruned_topk(xn, index.points, gb, blocks, th, k, 0.0)  # CPU tensors
        # block order -> y's
        idx = torch.where(idx >= 0, torch.as_tensor(index.perm)[idx.clamp_min(0)], -1)
        return vals.to(device=self.x.device, dtype=self.x.dtype), idx.to(self.x.device)

    def min(self, g: torch.Tensor | None, thresh: torch.Tensor | None = None):
        """``(vals (n,), idx (n,))``: the row minima (below ``thresh`` when given)."""
        vals, idx = self.topk(g, 1, thresh)
        return vals[:, 0], idx[:, 0]
