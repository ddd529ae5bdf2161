"""Native kernels, written in C and loaded with ctypes: the sparse min-cost
transportation solvers (network simplex for any amounts, successive shortest paths for
assignment problems), farthest-point sampling and Poisson-disk selection.

The library is built with the package (``lagrangian_ot/kernels/_native*.so``).
In a source checkout without that build it is compiled once, on first use, into
``$LAGOT_CACHE`` (default ``~/.cache/lagrangian_ot``) with the system C compiler.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.machinery
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from .threads import available_cpus

_HERE = Path(__file__).resolve().parent
_SOURCES = sorted((_HERE / "native").glob("*.c"))
_I64 = ctypes.POINTER(ctypes.c_int64)
_F64 = ctypes.POINTER(ctypes.c_double)


def _cache_dir() -> Path:
    root = os.environ.get("LAGOT_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "lagrangian_ot"
    )
    return Path(root)


def _compile(sources: list[Path]) -> Path:
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in sources)).hexdigest()[:16]
    target = _cache_dir() / f"native-{digest}.so"
    if target.exists():
        return target
    compiler = (
        os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    )
    if compiler is None:
        raise RuntimeError(
            "the exact solver's C library is not built and no C compiler was found; "
            "reinstall lagrangian_ot with a C compiler available (pip install .)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        cmd = [compiler, "-O3", "-shared", "-fPIC", *map(str, sources), "-o", str(out), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"compiling the native kernels failed: {proc.stderr.strip()[:500]}")
        os.replace(out, target)
    return target


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    built = [_HERE / f"_native{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
    path = next((p for p in built if p.exists()), None) or _compile(_SOURCES)
    lib = ctypes.CDLL(str(path))
    fn = lib.lagot_ssp_transport
    fn.restype = ctypes.c_int64
    fn.argtypes = (
        [ctypes.c_int64, ctypes.c_int64] + [_I64] * 5 + [_F64] * 3 + [ctypes.c_double]
        + [_F64] * 3 + [_I64]
    )  # fmt: skip
    fps = lib.lagot_farthest_points
    fps.restype = ctypes.c_int64
    fps.argtypes = [ctypes.c_int64, ctypes.c_int64, _F64, ctypes.c_int64, ctypes.c_int64, _I64]
    tk = lib.lagot_pruned_topk
    tk.restype = ctypes.c_int64
    tk.argtypes = (
        [ctypes.c_int64] * 3
        + [_F64] * 3
        + [ctypes.c_int64, _I64]
        + [_F64] * 5
        + [ctypes.c_double, ctypes.c_int64, _F64, _I64, _F64]
    )
    bc = lib.lagot_batch_assign_costs
    bc.restype = ctypes.c_int64
    bc.argtypes = [ctypes.c_int64] * 3 + [_F64, _I64, _F64, _F64, _F64]
    ns = lib.lagot_network_simplex
    ns.restype = ctypes.c_int64
    ns.argtypes = (
        [ctypes.c_int64] * 3 + [_I64] * 2 + [_F64] * 5 + [ctypes.c_double, ctypes.c_int64]
        + [ctypes.c_void_p] + [_F64] * 3 + [_I64]
    )  # fmt: skip
    pd = lib.lagot_poisson_disk
    pd.restype = ctypes.c_int64
    pd.argtypes = [ctypes.c_int64, _F64, _I64, ctypes.c_double, _I64]
    return lib


@functools.lru_cache(maxsize=2)
def _prox_symbol(dtype: torch.dtype):
    real = ctypes.c_double if dtype == torch.float64 else ctypes.c_float
    fn = getattr(_library(), "lagot_prox_w2_f64" if dtype == torch.float64 else "lagot_prox_w2_f32")
    fn.restype = None
    fn.argtypes = [ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, real]
    fn.argtypes += [ctypes.c_void_p] * 3 + [ctypes.c_int64, real]
    return fn


def prox_w2(
    r: torch.Tensor,
    m: torch.Tensor,
    gamma: float,
    start: torch.Tensor | None,
    max_iter: int,
    tol: float,
):
    """The cubic prox of ``|m|^2 / rho`` per cell (see ``native/prox.c``) on contiguous CPU tensors.

    ``r (N...)``, ``m (k, N...)`` of float32 or float64; returns ``(rho, m)``.
    """
    if (
        r.dtype not in (torch.float32, torch.float64)
        or m.dtype != r.dtype
        or r.device.type != "cpu"
    ):
        raise TypeError(
            f"prox_w2 takes float32/float64 CPU tensors of one dtype, got {r.dtype} and {m.dtype}"
        )
    if m.shape[1:] != r.shape or (start is not None and start.shape != r.shape):
        raise ValueError(f"prox_w2: shapes {tuple(r.shape)}, {tuple(m.shape)} do not match")
    fn = _prox_symbol(r.dtype)
    r = r.contiguous()
    m = m.contiguous()
    rho = torch.empty_like(r)
    mom = torch.empty_like(m)
    guess = None if start is None else start.to(r.dtype).contiguous()  # kept alive during the call
    fn(r.numel(), m.shape[0], r.data_ptr(), m.data_ptr(), gamma,
       None if guess is None else guess.data_ptr(), rho.data_ptr(), mom.data_ptr(),
       max_iter, tol)  # fmt: skip
    return rho, mom


@functools.lru_cache(maxsize=2)
def _prox_fr_symbol(dtype: torch.dtype):
    real = ctypes.c_double if dtype == torch.float64 else ctypes.c_float
    fn = getattr(_library(), "lagot_prox_fr_f64" if dtype == torch.float64 else "lagot_prox_fr_f32")
    fn.restype = None
    fn.argtypes = [ctypes.c_int64] * 2 + [ctypes.c_void_p] * 3 + [real, ctypes.c_int64]
    fn.argtypes += [ctypes.c_void_p] * 7 + [ctypes.c_int64, real]
    return fn


def prox_fr(
    a: torch.Tensor,
    b: torch.Tensor,
    s: torch.Tensor,
    gamma: float,
    ends: tuple[torch.Tensor, torch.Tensor] | None,
    start: tuple[torch.Tensor, torch.Tensor] | None,
    max_iter: int,
    tol: float,
):
    """The prox of ``|s|^2 / ((sqrt a + sqrt b) / 2)^2`` per cell (see ``native/prox_fr.c``) on
    CPU tensors of one float dtype: ``a, b (T, N...)``, ``s (k, T, N...)``.

    ``ends``: the densities that stay fixed, ``a`` on the first row and ``b`` on the last
    (``(N...)`` each); ``start``: a guess for ``(a, b)``, such as the previous call's result.
    Returns ``(a, b, s)``.
    """
    parts = (a, b, s, *(start or ()), *(ends or ()))
    if any(t.dtype != a.dtype or t.device.type != "cpu" for t in parts) or a.dtype not in (
        torch.float32,
        torch.float64,
    ):
        raise TypeError("prox_fr takes float32/float64 CPU tensors of one dtype")
    shapes_ok = b.shape == a.shape and s.shape[1:] == a.shape and s.dim() == a.dim() + 1
    shapes_ok &= all(g.shape == a.shape for g in start or ())
    shapes_ok &= all(e.shape == a.shape[1:] for e in ends or ())
    if not shapes_ok:
        raise ValueError(f"prox_fr: shapes {[tuple(t.shape) for t in parts]} do not match")
    a, b, s = a.contiguous(), b.contiguous(), s.contiguous()
    out = [torch.empty_like(a), torch.empty_like(b), torch.empty_like(s)]
    fixed, guess, nfix = [None, None], [None, None], 0
    if ends is not None:
        fixed = [e.contiguous() for e in ends]  # kept alive during the call
        nfix = fixed[0].numel()
    if start is not None:
        guess = [g.contiguous() for g in start]
    fn = _prox_fr_symbol(a.dtype)
    fn(a.numel(), s.shape[0], a.data_ptr(), b.data_ptr(), s.data_ptr(), gamma, nfix,
       *(None if f is None else f.data_ptr() for f in fixed + guess),
       *(o.data_ptr() for o in out), max_iter, tol)  # fmt: skip
    return tuple(out)


def _host(a, dtype: torch.dtype) -> torch.Tensor:
    """``a`` (a tensor on any device, or an array) as a contiguous CPU tensor of ``dtype``."""
    return torch.as_tensor(a).to(device="cpu", dtype=dtype).contiguous()


def _ptr(t: torch.Tensor, kind):
    """A ctypes pointer to the data of a contiguous CPU tensor (kept alive by the caller)."""
    return ctypes.cast(t.data_ptr(), kind)


class NonFiniteCost(ValueError):
    """A cost given to the assignment kernel is NaN, infinite, or above 1e300 in magnitude."""


class InfeasibleGraph(Exception):
    """The candidate graph admits no feasible flow: ``node`` (a source, or a sink numbered
    after the sources) keeps supply or demand it cannot route."""

    def __init__(self, node: int, n: int | None = None):
        what = f"sink {node - n}" if n is not None and node >= n else f"source {node}"
        super().__init__(f"{what} has an amount the graph cannot route")
        self.node = node


def ssp_transport(
    n: int,
    m: int,
    src: torch.Tensor,
    dst: torch.Tensor,
    cost: torch.Tensor,
    supply: torch.Tensor,
    demand: torch.Tensor,
    v: torch.Tensor,
    tol: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Solve the transportation problem restricted to the edges ``(src[e], dst[e])``.

    Tensors on any device (or arrays), read as int64 / float64 on the host: ``E`` edges
    with ``cost (E,)``, ``supply (n,)`` and ``demand (m,)`` of equal totals, a warm start
    ``v (m,)`` for the sink potentials and the tolerance below which an amount counts as
    zero. Fastest on assignment problems (unit supplies and demands, ``n == m``), where it
    starts with a row reduction; :func:`network_simplex` serves the general case.

    Returns float64 CPU tensors ``flow (E,)``, ``u (n,)``, ``v (m,)`` with
    ``u_i + v_j <= cost_e`` on every edge and equality where ``flow_e > 0``, and counters.
    Raises :class:`InfeasibleGraph` when the graph cannot carry the supplies.
    """
    src, dst = _host(src, torch.int64), _host(dst, torch.int64)
    order = torch.argsort(src * m + dst, stable=True)  # edges grouped by source (then by sink)
    src, dst = src[order], dst[order]
    cost = _host(cost, torch.float64)[order]
    rowptr = torch.zeros(n + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(src, minlength=n), 0, out=rowptr[1:])
    cedge = torch.argsort(dst, stable=True)
    colptr = torch.zeros(m + 1, dtype=torch.int64)
    torch.cumsum(torch.bincount(dst, minlength=m), 0, out=colptr[1:])
    supply, demand = _host(supply, torch.float64), _host(demand, torch.float64)
    u = torch.zeros(n, dtype=torch.float64)
    v = _host(v, torch.float64).clone()
    flow = torch.zeros(cost.shape[0], dtype=torch.float64)
    stats = torch.zeros(2, dtype=torch.int64)
    status = _library().lagot_ssp_transport(
        n, m,
        _ptr(rowptr, _I64), _ptr(dst, _I64), _ptr(colptr, _I64), _ptr(cedge, _I64), _ptr(src, _I64),
        _ptr(cost, _F64), _ptr(supply, _F64), _ptr(demand, _F64), float(tol),
        _ptr(u, _F64), _ptr(v, _F64), _ptr(flow, _F64), _ptr(stats, _I64),
    )  # fmt: skip
    if status == 1:
        raise MemoryError("the transportation solver ran out of memory")
    if status < 0:
        raise InfeasibleGraph(int(-status - 1))
    info = {"augmentations": int(stats[0]), "scanned": int(stats[1])}
    return torch.empty_like(flow).index_copy_(0, order, flow), u, v, info


def network_simplex(
    n: int,
    m: int,
    src: torch.Tensor,
    dst: torch.Tensor,
    cost: torch.Tensor,
    supply: torch.Tensor,
    demand: torch.Tensor,
    u0: torch.Tensor,
    v0: torch.Tensor,
    tol: float,
    *,
    basis: torch.Tensor | None = None,
    max_pivots: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Solve the transportation problem on the arcs ``(src[e], dst[e])`` by network simplex.

    Tensors on any device (or arrays), read as int64 / float64 on the host: ``E`` arcs with
    ``cost (E,)``, ``supply (n,)`` and ``demand (m,)`` of equal totals, warm potentials
    ``u0 (n,)``, ``v0 (m,)`` (the first prices are ``cost - u0 - v0``) and the tolerance
    below which an amount counts as zero. ``basis (E + n + m,)`` (bool), a forest of arcs
    that can carry the supplies followed by the roots of its trees (the basis of an earlier
    solve, carried onto new arcs, or the support of a plan that is a forest) is the starting
    tree; without one every node starts alone. Arcs sorted by source price fastest.

    Returns float64 CPU tensors ``flow (E,)``, ``u (n,)``, ``v (m,)`` with
    ``u_i + v_j <= cost_e`` on every arc (up to rounding) and equality on the basis, the
    basis ``(E + n + m,)`` (bool: a spanning forest holding the flow, at most ``n + m - 1``
    arcs, then its trees' roots) and counters. Raises :class:`InfeasibleGraph` when the arcs
    cannot carry the supplies.
    """
    src, dst = _host(src, torch.int64), _host(dst, torch.int64)
    cost = _host(cost, torch.float64)
    E = cost.shape[0]
    sizes = (src.shape, dst.shape, len(supply), len(u0), len(demand), len(v0))
    if sizes != ((E,), (E,), n, n, m, m) or (basis is not None and len(basis) != E + n + m):
        raise ValueError(
            "network_simplex: src, dst and cost need E entries, supply and u0 n, demand and v0 "
            "m, basis E + n + m"
        )
    if E and not (0 <= int(src.min()) <= int(src.max()) < n):
        raise ValueError("network_simplex: an arc starts outside the n sources")
    if E and not (0 <= int(dst.min()) <= int(dst.max()) < m):
        raise ValueError("network_simplex: an arc ends outside the m sinks")
    tree = (
        torch.zeros(E + n + m, dtype=torch.int8)
        if basis is None
        else _host(basis, torch.int8).clone()
    )
    flow = torch.zeros(E, dtype=torch.float64)
    u, v = torch.zeros(n, dtype=torch.float64), torch.zeros(m, dtype=torch.float64)
    stats = torch.zeros(2, dtype=torch.int64)
    supply, demand = _host(supply, torch.float64), _host(demand, torch.float64)
    u0, v0 = _host(u0, torch.float64), _host(v0, torch.float64)
    status = _library().lagot_network_simplex(
        n, m, E, _ptr(src, _I64), _ptr(dst, _I64), _ptr(cost, _F64), _ptr(supply, _F64),
        _ptr(demand, _F64), _ptr(u0, _F64), _ptr(v0, _F64), float(tol), int(max_pivots),
        ctypes.c_void_p(tree.data_ptr()), _ptr(flow, _F64), _ptr(u, _F64), _ptr(v, _F64),
        _ptr(stats, _I64),
    )  # fmt: skip
    if status == 1:
        raise MemoryError("the transportation solver ran out of memory")
    if status < 0:
        raise InfeasibleGraph(int(-status - 1), n)
    if status == 4:
        raise RuntimeError("the transportation solver met a cycle of unbounded descent")
    info = {"pivots": int(stats[0]), "phase1_pivots": int(stats[1]), "converged": status == 0}
    return flow, u, v, tree.bool(), info


SPANS_PER_THREAD = 4


def _threads() -> int:
    """Threads of the native kernels: torch's setting, at most the cores this process may use."""
    return max(1, min(torch.get_num_threads(), available_cpus()))


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def pruned_topk(x, y, g, blocks, thresh, k: int, margin: float):
    """Rows' ``k`` smallest ``|x_i - y_j|^2 - g_j`` below ``thresh``, skipping blocks by bounds.

    Values are lowered by a bound on their rounding error (rigorous lower bounds).
    ``blocks`` gives ``off, lo, hi, a, b`` (see ``prune.c``); ``y`` and ``g`` are in
    block order. Tensors (or arrays), read as float64 / int64 on the host. Returns CPU
    tensors ``vals (n, k)``, ``idx (n, k)`` (block order, -1 for none) and the number of
    pairs evaluated. Rows run on several threads.
    """
    x, y, g = (_host(t, torch.float64) for t in (x, y, g))
    n, d = x.shape
    off, lo, hi, a, b = blocks
    off = _host(off, torch.int64)
    lo, hi, a, b = (_host(t, torch.float64) for t in (lo, hi, a, b))
    vals = torch.empty((n, k), dtype=torch.float64)
    idx = torch.empty((n, k), dtype=torch.int64)
    thresh = _host(thresh, torch.float64)
    lib = _library()
    nb = off.shape[0] - 1

    def run(span):
        work = torch.empty(nb, dtype=torch.float64)
        return lib.lagot_pruned_topk(
            span[0], span[1], d, _ptr(x, _F64), _ptr(y, _F64), _ptr(g, _F64), nb, _ptr(off, _I64),
            _ptr(lo, _F64), _ptr(hi, _F64), _ptr(a, _F64), _ptr(b, _F64), _ptr(thresh, _F64),
            float(margin), int(k), _ptr(vals, _F64), _ptr(idx, _I64), _ptr(work, _F64),
        )  # fmt: skip

    threads = _threads() if n >= 2048 else 1
    if threads == 1:
        evaluated = run((0, n))
    else:  # more spans than threads: a thread slowed by a busy core takes fewer of them
        with ThreadPoolExecutor(threads) as pool:
            evaluated = sum(pool.map(run, _split(n, SPANS_PER_THREAD * threads)))
    return vals, idx, int(evaluated)


def _run_batches(B: int, call) -> None:
    """Run ``call(b0, b1)`` (a native batched kernel) over ``B`` problems on several threads."""
    threads = min(_threads(), B)
    if threads == 1:
        status = [call(0, B)]
    else:  # more spans than threads: a thread slowed by a busy core takes fewer of them
        with ThreadPoolExecutor(threads) as pool:
            status = list(
                pool.map(lambda span: call(*span), _split(B, min(B, SPANS_PER_THREAD * threads)))
            )
    if any(s == 1 for s in status):
        raise MemoryError("the assignment solver ran out of memory")
    if any(s != 0 for s in status):
        raise NonFiniteCost(
            "the assignment solver met a non-finite cost (or one above 1e300 in magnitude)"
        )


def assign_costs(costs):
    """Optimal assignments for a batch of square cost matrices ``(B, n, n)``.

    An epsilon-scaling auction finished by shortest augmenting paths (see
    ``lap.c``). ``costs``: a tensor (or array), read as float64 on the host. Returns
    CPU tensors ``col4row``, ``u``, ``v`` ``(B, n)`` and the largest remaining dual
    violation per problem over all pairs (rounding).
    """
    costs = _host(costs, torch.float64)
    if costs.dim() != 3 or costs.shape[1] != costs.shape[2]:
        raise ValueError(
            f"assign_costs takes square cost matrices (B, n, n), got {tuple(costs.shape)}"
        )
    B, n, _ = costs.shape
    col4row = torch.empty((B, n), dtype=torch.int64)
    u = torch.empty((B, n), dtype=torch.float64)
    v = torch.empty((B, n), dtype=torch.float64)
    bad = torch.zeros(B, dtype=torch.float64)
    if n == 0 or B == 0:
        return col4row, u, v, bad
    lib = _library()

    def run(b0, b1):
        return lib.lagot_batch_assign_costs(
            0, b1 - b0, n, _ptr(costs[b0:b1], _F64), _ptr(col4row[b0:b1], _I64),
            _ptr(u[b0:b1], _F64), _ptr(v[b0:b1], _F64), _ptr(bad[b0:b1], _F64),
        )  # fmt: skip

    _run_batches(B, run)
    return col4row, u, v, bad


def farthest_points(points, n: int, start: int = 0) -> torch.Tensor:
    """Indices (an int64 CPU tensor) of ``n`` of the ``points (P, d)`` (a tensor on any device,
    or an array) chosen by farthest-point sampling from ``start``."""
    pts = _host(points, torch.float64)
    P, d = pts.shape
    if not 1 <= n <= P:
        raise ValueError(f"cannot choose {n} of {P} points")
    chosen = torch.empty(n, dtype=torch.int64)
    if _library().lagot_farthest_points(P, d, _ptr(pts, _F64), n, int(start), _ptr(chosen, _I64)):
        raise MemoryError("farthest-point sampling ran out of memory")
    return chosen


def poisson_disk(points, order, radius: float) -> torch.Tensor:
    """Greedy maximal ``radius``-packing of 2-D ``points (P, 2)`` visited in ``order``.

    Tensors (or arrays); returns the indices of the accepted points (no two closer than
    ``radius``) as an int64 CPU tensor.
    """
    pts = _host(points, torch.float64)
    if pts.dim() != 2 or pts.shape[1] != 2:
        raise ValueError("poisson_disk works on 2-D points")
    order = _host(order, torch.int64)
    out = torch.empty(pts.shape[0], dtype=torch.int64)
    count = _library().lagot_poisson_disk(
        pts.shape[0], _ptr(pts, _F64), _ptr(order, _I64), float(radius), _ptr(out, _I64)
    )
    if count == -1:
        raise MemoryError("Poisson-disk selection ran out of memory")
    if count == -2:
        raise ValueError(f"radius {radius} is too small for the extent of the points")
    return out[:count]
