"""Entropic plans through GeomLoss, converted once to this project's conventions.

Convention (stated once): the cost is ``C = |x - y|^2`` and the entropic plan is

    pi_ij = a_i b_j exp((f_i + g_j - C_ij) / eps),   eps = 2 blur^2,

with ``reach`` relaxing the marginals by ``rho KL``, ``rho = 2 reach^2``.
GeomLoss' ``SamplesLoss`` works with ``C / 2`` and ``blur^2``: its potentials
``(F, G)`` are half of ours, ``f = 2 F``, ``g = 2 G``; the plan is the same.
"""

from __future__ import annotations

import math

import torch

from .kernels.backend import row_block
from .kernels.reductions import _lifted

TENSORIZED_PAIRS = 4_000_000  # dense GeomLoss below this many pairs
ROW_CAP = 64  # entries kept per row of the sparse plan
RELATIVE_FLOOR = 1e-12  # entries below this fraction of their row's largest are dropped


def default_blur(x: torch.Tensor, y: torch.Tensor) -> float:
    """``0.01`` of the diameter of the two clouds together."""
    pts = torch.cat([x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])])
    return 0.01 * float((pts.max(0).values - pts.min(0).values).norm()) or 1e-3


def potentials(x, y, a, b, blur: float, reach: float | None, scaling: float = 0.95, backend: str = "auto"):
    """Entropic potentials ``(f, g)`` in the cost ``|x - y|^2`` (see the module docstring).

    GeomLoss' dense solver for small problems; for large ones, GeomLoss'
    KeOps solvers on CPU (or where ``backend="keops"``), and on other devices
    the blocked torch annealing below (``"auto"`` does not use KeOps on CUDA:
    see ``kernels/backend.py``).
    """
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    if n * m <= TENSORIZED_PAIRS:
        gl_backend = "tensorized"
    elif backend == "keops" or (backend == "auto" and x.device.type == "cpu"):
        gl_backend = "multiscale" if d <= 3 else "online"
    else:
        f, g = annealed(x, y, a, b, 2.0 * blur**2, None if reach is None else 2.0 * reach**2)
        return f, g, "torch"
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):  # pykeops prints notices on import: not on our stdout
        from geomloss import SamplesLoss

    loss = SamplesLoss(
        "sinkhorn", p=2, blur=blur, reach=reach, scaling=scaling, debias=False,
        potentials=True, backend=gl_backend,
    )  # fmt: skip
    F, G = loss(a, x, b, y)  # (n,), (m,) in GeomLoss units (cost / 2)
    return 2.0 * F.reshape(-1), 2.0 * G.reshape(-1), gl_backend


def annealed(x, y, a, b, eps: float, rho: float | None, factor: float = 0.9):
    """Log-domain Sinkhorn with eps annealed from the squared diameter down to ``eps``.

    Blocked torch reductions on the inputs' device and dtype; one symmetric
    update per scale (``eps`` times ``factor`` each), as GeomLoss does;
    :func:`refine` then converges at the final ``eps``.
    """
    pts = torch.cat([x, y])
    scale = float(((pts.max(0).values - pts.min(0).values) ** 2).sum()) or 1.0
    log_a, log_b = a.log(), b.log()
    f = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    g = torch.zeros(y.shape[0], dtype=y.dtype, device=y.device)
    e = max(scale, eps)
    while True:
        damp = 1.0 if rho is None else rho / (rho + e)
        g_new = damp * _softmin(y, x, f, log_a, e)
        f = 0.5 * (f + damp * _softmin(x, y, g, log_b, e))  # symmetric (averaged) updates
        g = 0.5 * (g + g_new)
        if e <= eps:
            return f, g
        e = max(e * factor, eps)


def _logsumexp(v: torch.Tensor) -> torch.Tensor:
    """Row-wise log-sum-exp; terms below ``e^-80`` of the largest count as ``e^-80`` of it.

    That changes the sum by under ``K e^-80`` relative (negligible), and clamping
    avoids the slow path of ``exp`` on far-negative arguments. A row of ``-inf`` gives NaN.
    """
    top = v.amax(dim=1, keepdim=True)  # (b, 1)
    return (v - top).clamp_min_(-80.0).exp_().sum(1).log_() + top[:, 0]


def _softmin(x, y, g, log_b, eps):
    """``-eps log sum_j b_j exp((g_j - C_ij) / eps)`` for every row, in row blocks."""
    X, Y = _lifted(x, y, g + eps * log_b)  # X_i . Y_j = C_ij - g_j - eps log b_j
    Yt = Y.t().contiguous()
    out = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    step = row_block(y.shape[0])
    for s in range(0, x.shape[0], step):
        out[s : s + step] = -eps * _logsumexp(-(X[s : s + step] @ Yt) / eps)
    return out


def refine(x, y, a, b, f, g, eps: float, rho: float | None, tol: float = 1e-6, max_iter: int | None = None):
    """Sinkhorn iterations at the final ``eps`` until the marginals are within ``tol``.

    GeomLoss anneals ``eps`` and stops after a few iterations at the last scale,
    so its plan's marginals are off by a few percent; the plan needs them right.
    The last update is on ``f``, so the row marginal is exact; iterations stop
    when the column marginal's largest relative error is below ``tol`` (balanced)
    or the potentials settle (unbalanced, damped by ``rho / (rho + eps)``).
    Returns ``f, g, iterations, column error``.
    """
    n, m = x.shape[0], y.shape[0]
    if max_iter is None:  # small problems, and accelerators, can afford many cheap iterations
        max_iter = 2_000 if n * m <= 100_000 else 500 if n * m <= 4_000_000 else 100
        if x.device.type != "cpu":
            max_iter = max(max_iter, 1_000)
    log_a, log_b = a.log(), b.log()
    damp = 1.0 if rho is None else rho / (rho + eps)
    it, error = 0, float("inf")
    for it in range(1, max_iter + 1):
        g_new = damp * _softmin(y, x, f, log_a, eps)
        if rho is None:
            # column marginal of the plan before this update: b_j exp((g_j - g_new_j) / eps)
            error = float(torch.expm1((g - g_new) / eps).abs().max())
        else:
            error = float((g_new - g).abs().max()) / eps
        g = g_new
        f = damp * _softmin(x, y, g, log_b, eps)
        if error <= tol:
            break
    return f, g, it, error


def top_entries(logp: torch.Tensor, k: int, first_row: int):
    """The sparse plan's entries in a block of rows ``first_row, ...`` of log plan entries ``logp (r, m)``.

    Per row, the ``k`` largest entries down to :data:`RELATIVE_FLOOR` times the
    row's largest. Returns ``src, dst, mass`` and the mass left out (a float);
    a row of ``-inf`` (no admissible partner) has no entries and leaves none out.
    """
    total = _logsumexp(logp)
    top, j = torch.topk(logp, k, dim=1)  # (r, k)
    keep = (top >= top[:, :1] + math.log(RELATIVE_FLOOR)) & torch.isfinite(top)
    p = torch.where(keep, top.exp(), torch.zeros_like(top))
    rest = torch.where(torch.isneginf(top[:, 0]), 0.0, total.exp() - p.sum(1)).clamp_min(0)
    rows = torch.arange(first_row, first_row + top.shape[0], device=logp.device)[:, None].expand_as(j)
    return rows[keep], j[keep], p[keep], float(rest.sum())


def sparse_plan(x, y, a, b, f, g, eps: float, row_cap: int = ROW_CAP):
    """Sparse entropic plan: per row, the ``row_cap`` largest entries above the floor.

    Returns ``src, dst, mass`` and the mass dropped by the sparsification.
    """
    n, m = x.shape[0], y.shape[0]
    k = min(row_cap, m)
    log_a, log_b = a.log(), b.log()
    X, Y = _lifted(x, y, g + eps * log_b)  # X_i . Y_j = C_ij - g_j - eps log b_j
    Yt = Y.t().contiguous()
    src, dst, mass = [], [], []
    dropped = 0.0
    step = row_block(m)
    for s in range(0, n, step):
        e = min(n, s + step)
        logp = (f[s:e, None] - X[s:e] @ Yt) / eps + log_a[s:e, None]  # (b, m), log pi_ij
        rows, cols, p, rest = top_entries(logp, k, s)
        src.append(rows)
        dst.append(cols)
        mass.append(p)
        dropped += rest
    src, dst, mass = torch.cat(src), torch.cat(dst), torch.cat(mass)
    order = torch.argsort(src * m + dst)
    return src[order], dst[order], mass[order], dropped
