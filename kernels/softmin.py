"""Soft-minimum kernels for log-domain Sinkhorn loops: the only place that knows how.

Every kernel holds a cost ``C (n, m)`` between rows and columns (stored, recomputed
in blocks, or known only on a block-sparse pattern) and evaluates

    rows(h, eps)[i] = -eps log sum_j exp((h_j - C_ij) / eps)      h (m,)
    cols(h, eps)[j] = -eps log sum_i exp((h_i - C_ij) / eps)      h (n,)

with ``+inf`` where a row (column) has no admissible entry. ``pairs(chunk)`` yields
``(i, j, C_ij)`` over the kernel's support in chunks, for plans and sums that
stream over all pairs. The Sinkhorn loop itself (``lagrangian_ot._sinkhorn``) never
sees which kernel it runs on:

- :class:`DenseKernel`: a stored cost matrix (small problems, custom costs).
- :class:`PointKernel`: ``|x_i - y_j|^2`` recomputed in row blocks from one matrix
  product per block (any dimension, any device); on CPU the log-sum-exp of each
  block is one fused native pass.
- :class:`BlockSparseKernel`: ``|x_i - y_j|^2`` on a pattern of (row block,
  column block) pairs (truncated kernels of multiscale Sinkhorn); native on CPU,
  gathered entries and scatter reductions elsewhere.
- :class:`SparseKernel`: costs stored on a sparse set of pairs (the truncation of a
  :class:`PointKernel` by the current potentials); native on CPU, segment
  reductions elsewhere.
- :class:`GridKernel`: a separable cost on a tensor grid, one axis at a time.

The module is longer than the others on purpose: the five kernels implement one contract,
and their native glue (the ctypes symbols, the thread pool, the single-precision views)
is shared, so the contract and every implementation of it read in one place.
"""

from __future__ import annotations

import ctypes
import functools
import math
from concurrent.futures import ThreadPoolExecutor

import torch

from .backend import row_block
from .reductions import _lifted

_I64 = ctypes.c_int64
CHUNKS = 4  # pieces of work per thread: a thread slowed by a busy core takes fewer of them
_P = ctypes.c_void_p


@functools.lru_cache(maxsize=1)
def _symbols():
    from .native import _library

    lib = _library()
    bs = lib.lagot_block_softmin
    bs.restype = _I64
    bs.argtypes = [_I64] * 5 + [_P] * 7 + [ctypes.c_double, _P, _P, _P]
    lr = lib.lagot_lse_rows
    lr.restype = None
    lr.argtypes = [_I64, _I64, _P, ctypes.c_double, _P, _P, _P]
    be = lib.lagot_block_entries
    be.restype = None
    be.argtypes = [_I64] * 5 + [_P] * 8 + [ctypes.c_double] + [_P] * 10 + [_I64]
    return bs, lr, be


@functools.lru_cache(maxsize=1)
def _single_symbol():
    """``lagot_block_softmin32``, or None where the processor lacks what it needs."""
    from .native import _library

    fn = _library().lagot_block_softmin32
    fn.restype = _I64
    fn.argtypes = [_I64] * 5 + [_P] * 7 + [ctypes.c_double, _P, _P]
    return fn if fn(0, 0, 2, 0, 0, *[None] * 7, 1.0, None, None) == 0 else None


@functools.lru_cache(maxsize=1)
def _lse32_symbol():
    """``lagot_lse_rows32``, or None where the processor lacks what it needs."""
    from .native import _library

    fn = _library().lagot_lse_rows32
    fn.restype = _I64
    fn.argtypes = [_I64, _I64, _P, ctypes.c_double, _P]
    return fn if fn(0, 0, None, 1.0, None) == 0 else None


@functools.lru_cache(maxsize=1)
def _csr_symbols():
    from .native import _library

    lib = _library()
    sm, tr = lib.lagot_csr_softmin, lib.lagot_csr_transpose
    sm.restype = tr.restype = None
    sm.argtypes = [_I64, _I64] + [_P] * 4 + [ctypes.c_double, _P]
    tr.argtypes = [_I64, _I64] + [_P] * 7
    return sm, tr


def _native_ok(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype == torch.float64 for t in tensors)


def _threads() -> int:
    from .threads import native_threads

    return native_threads()


def _lse(v: torch.Tensor) -> torch.Tensor:
    """Row-wise log-sum-exp of ``v (r, m)``; a row of ``-inf`` gives ``-inf``."""
    top = v.amax(dim=1, keepdim=True)  # (r, 1)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return (v - top).exp_().sum(1).log_() + top[:, 0]


def _segment_softmin(index: torch.Tensor, v: torch.Tensor, size: int, eps: float, points=None):
    """``-eps log sum_{k: index_k = i} exp(v_k)`` for ``i < size`` (``+inf`` where none);
    with ``points (K, d)``, also the barycentres ``sum_k e^(v_k) points_k / sum_k e^(v_k)``."""
    top = torch.full((size,), -math.inf, dtype=v.dtype, device=v.device)
    top.scatter_reduce_(0, index, v, reduce="amax")  # (size,)
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    e = (v - safe[index]).exp()  # (K,)
    s = torch.zeros(size, dtype=v.dtype, device=v.device).index_add_(0, index, e)
    out = -eps * (s.log() + safe)
    if points is None:
        return out
    acc = torch.zeros(size, points.shape[1], dtype=v.dtype, device=v.device)
    acc.index_add_(0, index, e[:, None] * points)
    return out, acc / s.clamp_min(1e-300)[:, None]


class DenseKernel:
    """A stored cost matrix ``C (n, m)``."""

    def __init__(self, cost: torch.Tensor):
        self.cost = cost
        self.n, self.m = cost.shape
        self.n_pairs = self.n * self.m

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return -eps * _lse((h - self.cost) / eps)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return -eps * _lse((h - self.cost.t()) / eps)

    def pairs(self, chunk: int = 1 << 22):
        step = max(1, chunk // max(1, self.m))
        cols = torch.arange(self.m, device=self.cost.device)
        for s in range(0, self.n, step):
            c = self.cost[s : s + step]  # (r, m)
            i = torch.arange(s, s + c.shape[0], device=c.device)[:, None].expand_as(c)
            yield i.reshape(-1), cols.expand_as(c).reshape(-1), c.reshape(-1)


class PointKernel:
    """``C_ij = |x_i - y_j|^2``, recomputed in row blocks (never stored whole).

    The clouds are centred on their common mean (the lifted product loses fewer digits).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        centre = torch.cat([x, y]).mean(0)
        self.x, self.y = x - centre, y - centre
        self.n, self.m = x.shape[0], y.shape[0]
        self.n_pairs = self.n * self.m

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _softmin_points(self.x, self.y, h, eps)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _softmin_points(self.y, self.x, h, eps)

    def single(self):
        """The same kernel in single precision (products and exponentials; each exponent good
        to about ``1e-7 |C| / eps``), for the annealing; None off the CPU or without AVX2."""
        if not _native_ok(self.x) or _lse32_symbol() is None:
            return None
        return _SinglePoints(self)

    def pairs(self, chunk: int = 1 << 22):
        step = max(1, chunk // max(1, self.m))
        cols = torch.arange(self.m, device=self.x.device)
        for s in range(0, self.n, step):
            c = torch.cdist(self.x[s : s + step], self.y).square_()  # (r, m)
            i = torch.arange(s, s + c.shape[0], device=c.device)[:, None].expand_as(c)
            yield i.reshape(-1), cols.expand_as(c).reshape(-1), c.reshape(-1)

    def truncate(self, f: torch.Tensor, g: torch.Tensor, bound: float, limit: int | None = None):
        """The pairs with ``C_ij - f_i - g_j <= bound`` (one pass over all pairs, in row blocks),
        as a :class:`SparseKernel`; None when there are more than ``limit``. Costs come
        from one matrix product per block (centred clouds: round-off about
        ``1e-16 (|x|^2 + |y|^2)``)."""
        X, Y = _lifted(self.x, self.y, g)  # X_i . Y_j = C_ij - g_j
        X[:, -2] -= f  # ... - f_i: one product gives the reduced costs
        Yt = Y.t().contiguous()
        rows, cols, costs = [], [], []
        step, count = row_block(self.m), 0
        for s in range(0, self.n, step):
            R = X[s : s + step] @ Yt  # (r, m)
            i, j = torch.nonzero(R <= bound, as_tuple=True)  # row-major
            count += i.shape[0]
            if limit is not None and count > limit:
                return None
            rows.append(i + s)
            cols.append(j)
            costs.append((R[i, j] + f[i + s] + g[j]).clamp_min_(0.0))
        if not rows:  # no rows
            empty = torch.zeros(0, dtype=torch.int64, device=self.x.device)
            return SparseKernel(
                self.n,
                self.m,
                empty,
                empty,
                torch.zeros(0, dtype=self.x.dtype, device=self.x.device),
            )
        ptr = _pointers(torch.cat(rows), self.n)
        return SparseKernel(self.n, self.m, None, torch.cat(cols), torch.cat(costs), ptr=ptr)


class _SinglePoints:
    """:meth:`PointKernel.single`: its soft-minima from single-precision products."""

    floor = 1e-3  # marginal errors below this are left to the exact kernel

    def __init__(self, kernel: PointKernel):
        self.kernel = kernel

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _softmin_points(self.kernel.x, self.kernel.y, h, eps, single=True)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _softmin_points(self.kernel.y, self.kernel.x, h, eps, single=True)


def _softmin_points(
    x: torch.Tensor, y: torch.Tensor, h: torch.Tensor, eps: float, single: bool = False
):
    """``-eps log sum_j exp((h_j - |x_i - y_j|^2) / eps)`` in row blocks of one product each
    (``single``: the products and exponentials in single precision, native)."""
    X, Y = _lifted(x, y, h)  # X_i . Y_j = |x_i - y_j|^2 - h_j
    Yt = Y.t().contiguous()  # (d + 2, m)
    n, m = x.shape[0], y.shape[0]
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    if single:
        X, Yt = X.float(), Yt.float()
        lse32 = _lse32_symbol()
        step = max(1, min(row_block(m, budget=1 << 22), -(-n // (CHUNKS * _threads()))))

        def run32(s):
            S = X[s : s + step] @ Yt  # (b, m) in cache
            lse32(S.shape[0], m, S.data_ptr(), -1.0 / eps, out[s:].data_ptr())

        _each(run32, range(0, n, step))
        return out.mul_(-eps)
    if _native_ok(x):
        _, lse_rows, _ = _symbols()
        zero = torch.zeros(m, dtype=x.dtype)
        step = max(1, min(row_block(m, budget=1 << 21), -(-n // (CHUNKS * _threads()))))

        def run(s):
            S = X[s : s + step] @ Yt  # (b, m) in cache
            work = torch.empty(m, dtype=x.dtype)
            lse_rows(
                S.shape[0],
                m,
                S.data_ptr(),
                -1.0 / eps,
                zero.data_ptr(),
                out[s:].data_ptr(),
                work.data_ptr(),
            )

        _each(run, range(0, n, step))
        return out.mul_(-eps)
    step = row_block(m)
    for s in range(0, n, step):
        out[s : s + step] = -eps * _lse(-(X[s : s + step] @ Yt) / eps)
    return out


class BlockSparseKernel:
    """``C_ij = |x_i - y_j|^2`` on the pairs of a block pattern, ``+inf`` elsewhere.

    ``x (n, d)`` and ``y (m, d)`` are sorted by block: row block ``I`` holds rows
    ``xoff[I] .. xoff[I+1]``, column block ``J`` columns ``yoff[J] .. yoff[J+1]``;
    ``pattern (P, 2)`` lists the (row block, column block) pairs kept.
    """

    def __init__(self, x, y, xoff, yoff, pattern: torch.Tensor):
        self.x, self.y = x, y
        self.n, self.m = x.shape[0], y.shape[0]
        self.xoff, self.yoff = xoff, yoff
        nbx, nby = xoff.shape[0] - 1, yoff.shape[0] - 1
        # by row block
        self.pattern = pattern[torch.argsort(pattern[:, 0] * max(nby, 1) + pattern[:, 1])]
        self._csr = _csr(self.pattern[:, 0], self.pattern[:, 1], nbx)
        self._csc = _csr(self.pattern[:, 1], self.pattern[:, 0], nby)
        self._entries = None
        self._native = None
        if _native_ok(x):
            self._native = (
                _NativeSide(x, xoff, y, yoff, self._csr),
                _NativeSide(y, yoff, x, xoff, self._csc),
            )

    @property
    def n_pairs(self) -> int:
        """Number of (row, column) pairs in the pattern."""
        nx = self.xoff[1:] - self.xoff[:-1]
        ny = self.yoff[1:] - self.yoff[:-1]
        return int((nx[self.pattern[:, 0]] * ny[self.pattern[:, 1]]).sum())

    def rows(self, h: torch.Tensor, eps: float, barycentres: bool = False):
        """Row soft-minima; with ``barycentres``, also ``sum_j w_ij y_j / sum_j w_ij (n, d)``
        for the weights ``w_ij = exp((h_j - C_ij) / eps)``."""
        if self._native is not None:
            return self._native[0](h, eps, barycentres)
        i, j, c = self._all_entries()
        return _segment_softmin(
            i, (h[j] - c) / eps, self.n, eps, self.y[j] if barycentres else None
        )

    def cols(self, h: torch.Tensor, eps: float, barycentres: bool = False):
        """Column soft-minima (and barycentres of the rows' points)."""
        if self._native is not None:
            return self._native[1](h, eps, barycentres)
        i, j, c = self._all_entries()
        return _segment_softmin(
            j, (h[i] - c) / eps, self.m, eps, self.x[i] if barycentres else None
        )

    def single(self):
        """The same kernel with its exponentials in single precision (each term good to a few
        1e-6 relative; row blocks much wider than the blur run in double), about twice as
        fast, for the iterations before the last ones and for barycentres; None where there
        is no such path (off the CPU, d > 4, no AVX2)."""
        if self._native is None or self.x.shape[1] > 4 or _single_symbol() is None:
            return None
        return _SingleBlocks(self._native)

    def row_widths(self) -> torch.Tensor:
        """Number of candidate columns of every row ``(n,)``."""
        ptr, blk = self._csr
        nb = self.xoff.shape[0] - 1
        ny = (self.yoff[1:] - self.yoff[:-1]).cpu()
        width = torch.zeros(nb, dtype=torch.int64).index_add_(
            0, torch.repeat_interleave(torch.arange(nb), ptr[1:] - ptr[:-1]), ny[blk]
        )  # (nb,)
        return torch.repeat_interleave(width, (self.xoff[1:] - self.xoff[:-1]).cpu()).to(
            self.x.device
        )

    def plan_entries(self, s_row, h_col, eps: float, lthr, labels=None, room: int = 0):
        """Entries ``pi_ij = exp(s_i + h_j - C_ij / eps)`` of the pattern at least ``exp(lthr_i)``:
        ``rows, cols, mass`` and ``(left out, sum pi C, sum pi log pi)``; None off the native path.
        ``labels (xlab, ylab)``: permutations giving the rows' and columns' indices in the
        entries, which then come sorted by row label, then column label. ``room``: spare
        elements behind the three arrays, for an in-place merge (``kernels.entries``)."""
        if self._native is None:
            return None
        return _native_entries(self._native[0], s_row, h_col, eps, lthr, labels, room)

    def _all_entries(self):
        if self._entries is None:
            self._entries = next(self.pairs(chunk=None))
        return self._entries

    def pattern_entries(self) -> torch.Tensor:
        """The ``(row, column)`` pairs of the pattern, ``(E, 2)``."""
        i, j, _ = next(self.pairs(chunk=None))
        return torch.stack([i, j], 1)

    def pairs(self, chunk: int | None = 1 << 22):
        """``(i, j, C_ij)`` over the pattern, in chunks of whole row blocks of about ``chunk``
        pairs (None: one chunk)."""
        nx = (self.xoff[1:] - self.xoff[:-1]).to(self.pattern.device)
        ny = (self.yoff[1:] - self.yoff[:-1]).to(self.pattern.device)
        sizes = nx[self.pattern[:, 0]] * ny[self.pattern[:, 1]]  # (P,)
        ends = sizes.cumsum(0).cpu()
        ptr = self._csr[0]
        start, P = 0, self.pattern.shape[0]
        while start < P:
            if chunk is None:
                stop = P
            else:
                base = int(ends[start - 1]) if start else 0
                stop = max(int(torch.searchsorted(ends, base + chunk, right=True)), start + 1)
                stop = min(P, int(ptr[int(self.pattern[stop - 1, 0]) + 1]))  # finish the row block
            yield _expand(self, start, stop, sizes)
            start = stop


class SparseKernel:
    """``C_ij`` stored on a sparse set of pairs, ``+inf`` elsewhere (a truncated kernel).

    ``i, j, c (E,)``: the pairs and their costs, in any order (or, with ``ptr``, ``j`` and
    ``c`` in compressed rows and ``i`` None). Rows and columns are kept in compressed form
    both ways; on CPU each soft-minimum is one native pass.
    """

    def __init__(
        self, n: int, m: int, i, j: torch.Tensor, c: torch.Tensor, ptr: torch.Tensor | None = None
    ):
        self.n, self.m = n, m
        if ptr is None:
            order = torch.argsort(i * max(m, 1) + j)
            i, j, c = i[order], j[order], c[order]
            ptr = _pointers(i, n)
        self._row_side = (ptr, j.contiguous(), c.contiguous())
        self._col_side = _transpose(self._row_side, n, m)
        self._rows_of_pairs = i

    @property
    def i(self) -> torch.Tensor:
        """The row of every stored pair (in compressed-row order)."""
        if self._rows_of_pairs is None:
            ptr = self._row_side[0]
            self._rows_of_pairs = torch.repeat_interleave(
                torch.arange(self.n, device=ptr.device), ptr[1:] - ptr[:-1]
            )
        return self._rows_of_pairs

    @property
    def j(self) -> torch.Tensor:
        return self._row_side[1]

    @property
    def c(self) -> torch.Tensor:
        return self._row_side[2]

    @property
    def n_pairs(self) -> int:
        return int(self.c.shape[0])

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _sparse_softmin(self._row_side, self.n, h, eps)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return _sparse_softmin(self._col_side, self.m, h, eps)

    def row_widths(self) -> torch.Tensor:
        ptr = self._row_side[0]
        return ptr[1:] - ptr[:-1]

    def contains(self, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Whether each pair ``(i_k, j_k)`` is in the kernel's support (columns sorted in each
        row)."""
        keys = self.i * max(self.m, 1) + self.j  # sorted when the columns of each row are
        key = i * max(self.m, 1) + j
        at = torch.searchsorted(keys, key).clamp(max=max(keys.shape[0] - 1, 0))
        return keys[at] == key if keys.numel() else torch.zeros_like(key, dtype=torch.bool)

    def pairs(self, chunk: int = 1 << 22):
        """``(i, j, C_ij)`` in chunks of whole rows of about ``chunk`` pairs."""
        ptr = self._row_side[0]
        start = 0
        while start < self.n_pairs:
            # first row past the chunk
            row = int(torch.searchsorted(ptr, start + chunk, right=True))
            stop = max(
                int(ptr[min(row, self.n)]) if row > 0 else 0, int(ptr[int(self.i[start]) + 1])
            )
            yield self.i[start:stop], self.j[start:stop], self.c[start:stop]
            start = stop


def _transpose(side, n: int, m: int):
    """Compressed rows ``(ptr, idx, c)`` of ``n`` rows to compressed columns (rows in order)."""
    ptr, idx, c = side
    tptr = _pointers(idx, m)
    if _native_ok(c) and idx.device.type == "cpu":
        tidx, tc, scratch = (
            torch.empty_like(idx),
            torch.empty_like(c),
            torch.empty(m, dtype=torch.int64),
        )
        _csr_symbols()[1](n, m, ptr.data_ptr(), idx.data_ptr(), c.data_ptr(), tptr.data_ptr(),
                          tidx.data_ptr(), tc.data_ptr(), scratch.data_ptr())  # fmt: skip
        return tptr, tidx, tc
    rows = torch.repeat_interleave(torch.arange(n, device=ptr.device), ptr[1:] - ptr[:-1])
    order = torch.argsort(idx * max(n, 1) + rows)
    return tptr, rows[order].contiguous(), c[order].contiguous()


def _pointers(index: torch.Tensor, size: int) -> torch.Tensor:
    """Offsets ``(size + 1,)`` of the groups of equal values of ``index`` once sorted."""
    ptr = torch.zeros(size + 1, dtype=torch.int64, device=index.device)
    ptr[1:] = torch.bincount(index, minlength=size).cumsum(0)
    return ptr


def _sparse_softmin(side, size: int, h: torch.Tensor, eps: float) -> torch.Tensor:
    """``-eps log sum_k exp((h[idx_k] - c_k) / eps)`` over each compressed row of ``side``."""
    ptr, idx, c = side
    if not _native_ok(c, h):
        index = torch.repeat_interleave(torch.arange(size, device=c.device), ptr[1:] - ptr[:-1])
        return _segment_softmin(index, (h[idx] - c) / eps, size, eps)
    h = h.contiguous()
    out = torch.empty(size, dtype=h.dtype)
    total = int(ptr[-1])
    parts = CHUNKS * _threads() if total > 200_000 else 1
    cuts = (
        [0] + [int(torch.searchsorted(ptr, total * k // parts)) for k in range(1, parts)] + [size]
    )
    fn = _csr_symbols()[0]

    def run(span):
        fn(
            span[0],
            span[1],
            ptr.data_ptr(),
            idx.data_ptr(),
            c.data_ptr(),
            h.data_ptr(),
            eps,
            out.data_ptr(),
        )

    spans = [(cuts[k], cuts[k + 1]) for k in range(parts) if cuts[k + 1] > cuts[k]]
    if len(spans) > 1:
        list(_pool().map(run, spans))
    else:
        for span in spans:
            run(span)
    return out


def _expand(k: BlockSparseKernel, start: int, stop: int, sizes: torch.Tensor):
    """Entries ``(i, j, C_ij)`` of the pattern pairs ``start .. stop``."""
    pat = k.pattern[start:stop]
    size = sizes[start:stop]
    xoff, yoff = k.xoff.to(pat.device), k.yoff.to(pat.device)
    ny = (yoff[1:] - yoff[:-1])[pat[:, 1]]
    # (E,) pair of each entry
    p = torch.repeat_interleave(torch.arange(pat.shape[0], device=pat.device), size)
    first = torch.cumsum(size, 0) - size
    r = torch.arange(p.shape[0], device=pat.device) - first[p]  # rank inside the pair
    i = xoff[pat[p, 0]] + torch.div(r, ny[p], rounding_mode="floor")
    j = yoff[pat[p, 1]] + r % ny[p]
    return i, j, (k.x[i] - k.y[j]).square().sum(-1)


def _csr(a: torch.Tensor, b: torch.Tensor, size: int):
    """``ptr (size + 1,)``, ``idx``: the values ``b`` grouped by ``a``."""
    order = torch.argsort(a * (int(b.max()) + 1 if b.numel() else 1) + b)
    counts = torch.bincount(a, minlength=size)
    ptr = torch.zeros(size + 1, dtype=torch.int64, device=a.device)
    ptr[1:] = counts.cumsum(0)
    return ptr.cpu().contiguous(), b[order].cpu().contiguous()


class _SingleBlocks:
    """:meth:`BlockSparseKernel.single`: its row and column soft-minima in single precision."""

    floor = 1e-5  # marginal errors below this are left to the exact kernel

    def __init__(self, native):
        self._native = native

    def rows(self, h: torch.Tensor, eps: float, barycentres: bool = False):
        return self._native[0](h, eps, barycentres, single=True)

    def cols(self, h: torch.Tensor, eps: float, barycentres: bool = False):
        return self._native[1](h, eps, barycentres, single=True)


class _NativeSide:
    """What the native kernel needs for one direction (rows of ``x`` against ``y``), built once."""

    def __init__(self, x, xoff, y, yoff, csr):
        self.ptr, self.blk = csr
        self.n, self.m, self.d = x.shape[0], y.shape[0], x.shape[1]
        self.xt, self.yt = x.t().contiguous(), y.t().contiguous()  # (d, n), (d, m): axis by axis
        self.xoff, self.yoff = xoff.contiguous(), yoff.contiguous()
        nb = xoff.shape[0] - 1
        ny = yoff[1:] - yoff[:-1]
        width = torch.zeros(nb, dtype=torch.int64).index_add_(
            0, torch.repeat_interleave(torch.arange(nb), self.ptr[1:] - self.ptr[:-1]), ny[self.blk]
        )  # (nb,) columns met by each row block
        self.work = (self.d + 2) * max(int(width.max()) if nb else 0, 1)
        # threads take row blocks with about equal numbers of pairs
        load = (width * (xoff[1:] - xoff[:-1])).cumsum(0)
        total = int(load[-1]) if nb else 0
        parts = CHUNKS * _threads() if total > 200_000 else 1
        cuts = (
            [0]
            + [int(torch.searchsorted(load, total * k // parts)) for k in range(1, parts)]
            + [nb]
        )
        self.spans = [(cuts[k], cuts[k + 1]) for k in range(parts) if cuts[k + 1] > cuts[k]]

    def __call__(self, h: torch.Tensor, eps: float, barycentres: bool, single: bool = False):
        block_softmin, _, _ = _symbols()
        h = h.contiguous()
        out = torch.empty(self.n, dtype=h.dtype)
        bary = torch.empty(self.d, self.n, dtype=h.dtype) if barycentres else None

        def run(span):
            if single:
                done = _single_symbol()(
                    span[0], span[1], self.d, self.n, self.m, self.xt.data_ptr(),
                    self.xoff.data_ptr(), self.yt.data_ptr(), self.yoff.data_ptr(), h.data_ptr(),
                    self.ptr.data_ptr(), self.blk.data_ptr(), eps, out.data_ptr(),
                    None if bary is None else bary.data_ptr(),
                )  # fmt: skip
                if done < 0:
                    raise MemoryError("out of memory in the single-precision soft-minimum")
                return done
            work = torch.empty(self.work, dtype=h.dtype)
            return block_softmin(
                span[0], span[1], self.d, self.n, self.m, self.xt.data_ptr(), self.xoff.data_ptr(),
                self.yt.data_ptr(), self.yoff.data_ptr(), h.data_ptr(), self.ptr.data_ptr(),
                self.blk.data_ptr(), eps, out.data_ptr(), work.data_ptr(),
                None if bary is None else bary.data_ptr(),
            )  # fmt: skip

        if len(self.spans) > 1:
            list(_pool().map(run, self.spans))
        else:
            for span in self.spans:
                run(span)
        return out if bary is None else (out, bary.t())


def _native_entries(side: _NativeSide, s_row, h_col, eps: float, lthr, labels=None,
                    room: int = 0):  # fmt: skip
    """Plan entries ``exp(s_i + h_j - C_ij / eps) >= exp(lthr_i)`` on the pattern (native, two
    passes).

    Returns ``rows, cols, mass`` (sorted by row) and ``(left out, sum pi C, sum pi log pi)``.
    ``labels``: ``(xlab, ylab)``, permutations of the rows and columns: the entries are then
    given by label, sorted by row label, then column label.
    """
    _, _, entries = _symbols()
    s_row, h_col, lthr = s_row.contiguous(), h_col.contiguous(), lthr.contiguous()
    count = torch.zeros(side.n, dtype=torch.int64)
    d = side.d
    xlab, ylab = (
        (None, None) if labels is None else (labels[0].contiguous(), labels[1].contiguous())
    )
    ytop = int(ylab.max()) if ylab is not None and ylab.numel() else 0

    def call(span, off, rows, cols, mass, sums):
        work = torch.empty(side.work + 3 * (side.work // (d + 2)), dtype=torch.float64)
        entries(
            span[0], span[1], d, side.n, side.m, side.xt.data_ptr(), side.xoff.data_ptr(),
            side.yt.data_ptr(), side.yoff.data_ptr(), s_row.data_ptr(), h_col.data_ptr(),
            side.ptr.data_ptr(), side.blk.data_ptr(), eps, lthr.data_ptr(), count.data_ptr(),
            None if off is None else off.data_ptr(),
            None if rows is None else rows.data_ptr(), None if cols is None else cols.data_ptr(),
            None if mass is None else mass.data_ptr(), None if sums is None else sums.data_ptr(),
            work.data_ptr(), None if xlab is None else xlab.data_ptr(),
            None if ylab is None else ylab.data_ptr(), ytop,
        )  # fmt: skip

    list(_pool().map(lambda span: call(span, None, None, None, None, None), side.spans))
    # rows by label
    ordered = count if xlab is None else torch.empty_like(count).index_put_((xlab,), count)
    off = torch.zeros(side.n, dtype=torch.int64)
    off[1:] = ordered.cumsum(0)[:-1]
    if xlab is not None:
        off = off[xlab]  # where each row's entries start
    total = int(count.sum())
    types = (torch.int64, torch.int64, torch.float64)
    rows, cols, mass = (torch.empty(total + room, dtype=t)[:total] for t in types)
    sums = [torch.zeros(3, dtype=torch.float64) for _ in side.spans]
    list(
        _pool().map(
            lambda k: call(side.spans[k], off, rows, cols, mass, sums[k]), range(len(side.spans))
        )
    )
    out = [float(v) for v in sum(sums)] if sums else [0.0, 0.0, 0.0]
    if math.isnan(out[0]):
        raise MemoryError("out of memory while writing the plan's entries")
    return rows, cols, mass, out


def _each(fn, items) -> None:
    """``fn`` on every item, across the native threads when there are several items."""
    if _threads() > 1 and len(items) > 1:
        list(_pool().map(fn, items))
    else:
        for item in items:
            fn(item)


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    import os

    # not the current limit
    return ThreadPoolExecutor(max(2, os.cpu_count() or 1), thread_name_prefix="lagot-softmin")


class GridKernel:
    """A separable cost on a tensor grid: ``C(i, j) = sum_a C_a(i_a, j_a)``, rows and columns alike.

    ``costs[a] (N_a, N_a)``; potentials are flat ``(prod N_a,)`` or carry leading batch
    dimensions ``(..., N_1, ..., N_d)``; reductions run axis by axis.
    """

    def __init__(self, costs: list[torch.Tensor], shape: tuple[int, ...]):
        self.costs, self.shape = costs, tuple(shape)
        self.n = self.m = math.prod(self.shape)
        self._scaled = (None, None)

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        lead = h.shape[: h.dim() - len(self.shape)] if h.dim() > 1 else ()
        v = (h / eps).reshape(*lead, *self.shape)
        d = len(self.shape)
        if self._scaled[0] != eps:
            self._scaled = (eps, [C / eps for C in self.costs])
        for a, C in enumerate(self._scaled[1]):
            axis = v.dim() - d + a
            moved = v.movedim(axis, -1)  # (..., N_a)
            moved = torch.logsumexp(moved.unsqueeze(-2) - C, dim=-1)  # (..., N_a)
            v = moved.movedim(-1, axis)
        out = -eps * v
        return out.reshape(h.shape)

    cols = rows  # the cost is symmetric
