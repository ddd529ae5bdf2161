"""Sparse plans given as entries ``(src, dst, mass)`` sorted by ``src``, then ``dst``.

:func:`merge_entries` joins two such lists, :func:`entries_cost` gives their transport
cost; native on the CPU (one linear merge, one pass over the entries split across
threads), torch elsewhere.
"""

from __future__ import annotations

import ctypes
import functools

import torch

_P = ctypes.c_void_p
_I64 = ctypes.c_int64
CHUNK = 1 << 20  # entries per piece of work


@functools.lru_cache(maxsize=1)
def _symbols():
    from .native import _library

    lib = _library()
    merge, cost = lib.lagot_merge_entries, lib.lagot_entries_cost
    inplace = lib.lagot_merge_entries_inplace
    merge.restype, cost.restype, inplace.restype = _I64, ctypes.c_double, _I64
    merge.argtypes = [_I64, _P, _P, _P, _I64, _P, _P, _P, _P, _P, _P]
    cost.argtypes = [_I64, _I64, _I64, _P, _P, _P, _P, _P]
    inplace.argtypes = [_I64, _P, _P, _P, _I64, _P, _P, _P]
    return merge, cost, inplace


def _room(t: torch.Tensor, size: int) -> torch.Tensor | None:
    """``t`` extended to ``size`` elements over its own storage (a 1-D tensor sliced from a
    longer one), or None when it has no such room."""
    if t.dim() != 1 or not t.is_contiguous() or t.storage_offset() != 0:
        return None
    if t.untyped_storage().nbytes() < size * t.element_size():
        return None
    return t.new_empty(0).set_(t.untyped_storage(), 0, (size,))


def _native(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" for t in tensors)


def merge_entries(first, second, m: int):
    """The union of two entry lists ``(src, dst, mass)``, each sorted by ``src`` then ``dst``
    with no pair twice; the masses of a pair in both are added. ``m``: the number of columns.
    Where the first list's arrays are slices of longer ones with room for both lists (as the
    native plan extraction leaves them), the merge is in place: their storage is reused."""
    (s1, d1, m1), (s2, d2, m2) = first, second
    if s2.numel() == 0:
        return s1, d1, m1
    if _native(s1, s2) and m1.dtype == m2.dtype == torch.float64:
        size = s1.shape[0] + s2.shape[0]
        room = [_room(t, size) for t in (s1, d1, m1)]
        s2, d2, m2 = (t.contiguous() for t in (s2, d2, m2))
        if all(r is not None for r in room):  # in place: no second copy of a large plan
            k = _symbols()[2](s1.shape[0], *(r.data_ptr() for r in room), s2.shape[0],
                              s2.data_ptr(), d2.data_ptr(), m2.data_ptr())  # fmt: skip
            return tuple(r[:k] for r in room)
        s1, d1, m1 = (t.contiguous() for t in (s1, d1, m1))
        so, do, mo = (
            torch.empty(size, dtype=torch.int64),
            torch.empty(size, dtype=torch.int64),
            torch.empty(size, dtype=torch.float64),
        )
        k = _symbols()[0](s1.shape[0], s1.data_ptr(), d1.data_ptr(), m1.data_ptr(),
                          s2.shape[0], s2.data_ptr(), d2.data_ptr(), m2.data_ptr(),
                          so.data_ptr(), do.data_ptr(), mo.data_ptr())  # fmt: skip
        return so[:k], do[:k], mo[:k]
    key, order = torch.sort(torch.cat([s1 * m + d1, s2 * m + d2]))
    mass = torch.cat([m1, m2])[order]
    key, inv = torch.unique_consecutive(key, return_inverse=True)
    mass = torch.zeros(key.shape[0], dtype=mass.dtype, device=mass.device).index_add_(0, inv, mass)
    return torch.div(key, m, rounding_mode="floor"), key % m, mass


def scale_entries(index: torch.Tensor, mass: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``mass_k *= factor[index_k]`` in place, in chunks; returns ``mass``."""
    for s in range(0, index.shape[0], CHUNK):
        mass[s : s + CHUNK].mul_(factor[index[s : s + CHUNK]])
    return mass


def entries_cost(src, dst, mass, x, y) -> float:
    """``sum_k mass_k |x_src_k - y_dst_k|^2`` (float64 accumulation)."""
    if _native(src, x) and x.dtype == y.dtype == mass.dtype == torch.float64:
        from .softmin import _pool, _threads

        src, dst, mass, x, y = (t.contiguous() for t in (src, dst, mass, x, y))
        cost = _symbols()[1]
        K, d = src.shape[0], x.shape[1]

        def run(k0):
            return cost(k0, min(K, k0 + CHUNK), d, src.data_ptr(), dst.data_ptr(), mass.data_ptr(),
                        x.data_ptr(), y.data_ptr())  # fmt: skip

        starts = range(0, K, CHUNK)
        if _threads() > 1 and len(starts) > 1:
            return float(sum(_pool().map(run, starts)))
        return float(sum(run(k0) for k0 in starts))
    total = 0.0
    for s in range(0, src.shape[0], CHUNK):
        i, j = src[s : s + CHUNK], dst[s : s + CHUNK]
        total += float(
            (mass[s : s + CHUNK].double() * (x[i] - y[j]).double().square().sum(-1)).sum()
        )
    return total
