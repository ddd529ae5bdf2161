"""The Sinkhorn loop: log-domain, annealed, over-relaxed, stopped on the marginals.

Convention (stated once): the cost is ``C = |x - y|^2`` (or any cost a kernel holds)
and the entropic plan is

    pi_ij = a_i b_j exp((f_i + g_j - C_ij) / eps),   eps = 2 blur^2,

with ``rho`` relaxing the marginals by ``rho KL`` (``rho = 2 reach^2`` in ``match``,
``4 kappa^2`` for Wasserstein-Fisher-Rao). The loop only calls a kernel's
``rows(h, eps)`` and ``cols(h, eps)`` soft-minima (``kernels/softmin.py``): one loop
for dense, blocked, block-sparse (multiscale) and separable grid costs.

1. **Annealing.** ``eps`` follows a decreasing schedule (``blur`` halved per step, as
   GeomLoss' ``scaling=0.5``), a few alternate updates per value; the multiscale
   driver (``_multiscale.py``) moves to finer clouds between values.
2. **Convergence at the final eps.** Alternate over-relaxed updates ``f <- f + w (f~ - f)``,
   ``g <- g + w (g~ - g)`` (Thibault et al. 2021; Lehmann et al. 2022), ``w`` in
   ``[1, 1.9]`` raised while the marginal error falls slowly and lowered when it grows.
   KL-relaxed problems add, before each row update, the exact dual ascent along the
   translation ``(f + lam, g - lam)`` (Sejourne et al. 2022).
3. **Stopping.** After a plain row update the rows are exact (balanced), or meet their
   first-order condition ``P0#pi = a e^(-f/rho)`` (relaxed); the loop stops when the L1
   error of the columns (relative to the total mass) is at most ``tol``. At
   ``max_iter`` it stops and reports ``converged = False``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

OMEGA_MAX = 1.9
RATE_WINDOW = 5  # plain iterations before over-relaxation
ADAPT_EVERY = 10  # iterations between changes of the over-relaxation
SLOW = 0.3  # error ratio over ADAPT_EVERY iterations above which w grows
ANNEAL_TOL = 1e-2  # marginal error reached at each eps of the annealing
ANNEAL_ITER = 50


@dataclass
class LoopResult:
    f: torch.Tensor
    g: torch.Tensor
    iterations: int
    error: float
    converged: bool
    history: list = field(default_factory=list)


def _damp(rho: float | None, eps: float) -> float:
    return 1.0 if rho is None else rho / (rho + eps)


def translate(f, g, log_a, log_b, rho: float):
    """Exact dual ascent along ``(f + lam, g - lam)``: ``lam = rho/2 log(sum a e^(-f/rho) / sum b e^(-g/rho))``."""
    lam = 0.5 * rho * (torch.logsumexp(log_a - f / rho, 0) - torch.logsumexp(log_b - g / rho, 0))
    return f + lam, g - lam


def column_error(g, g_new_undamped, log_b, eps: float, rho: float | None, total: float) -> float:
    """L1 distance, relative to ``total``, of the plan's column marginal to its target.

    Balanced: ``|b e^((g - g~)/eps) - b|_1``; relaxed: ``|b e^((g - g~)/eps) - b e^(-g/rho)|_1``
    (``g~`` the undamped column soft-minimum of the current row potential).
    """
    b = log_b.exp()
    if rho is None:
        err = b * torch.expm1((g - g_new_undamped) / eps).abs()
    else:
        err = b * ((g - g_new_undamped) / eps).exp().sub_((-g / rho).exp()).abs()
    err = torch.where(torch.isfinite(log_b), err, torch.zeros_like(err))
    return float(err.sum()) / total


def anneal(kernel, log_a, log_b, f, g, schedule, rho: float | None = None, max_iter: int = ANNEAL_ITER):
    """At each ``eps`` of ``schedule``, iterate until the marginal error is ``ANNEAL_TOL``
    (at most ``max_iter`` iterations); returns ``f, g`` and the number of iterations."""
    total = 0
    for eps in schedule:
        res = converge(kernel, log_a, log_b, f, g, eps, rho, ANNEAL_TOL, max_iter)
        f, g, total = res.f, res.g, total + res.iterations
    return f, g, total


def converge(
    kernel, log_a, log_b, f, g, eps: float, rho: float | None, tol: float, max_iter: int, *, target=None,
    translation: bool = True, progress=None,
) -> LoopResult:
    """Iterate at ``eps`` until the column error is at most ``tol`` (see the module docstring).

    ``target`` (optional): a function of the columns' undamped soft-minima giving the next
    ``log_b``, for problems whose column marginal is itself unknown (barycentres: the
    Bregman projection onto equal column marginals). ``translation``: the translation
    step of KL-relaxed problems (potentials of one problem, not batches). ``progress``: a
    ``_progress.Progress`` told each iteration and its error.

    Over-relaxation: ``RATE_WINDOW`` plain iterations, then ``w = 1.5``; every ``ADAPT_EVERY``
    iterations ``w`` moves halfway to ``OMEGA_MAX`` while the error falls slower than
    ``SLOW`` per window, and halfway back to 1 when it grew. The stop is checked after a
    plain row update (``w = 1`` for that iteration), so the rows are exact when it stops.
    """
    damp = _damp(rho, eps)
    total = float(log_a.exp().sum())
    w, history, error, best = 1.0, [], math.inf, math.inf
    it = 0
    for it in range(1, max_iter + 1):
        if rho is not None and translation:
            f, g = translate(f, g, log_a, log_b, rho)
        plain = w == 1.0 or (history and history[-1] <= tol)
        f_new = damp * kernel.rows(g + eps * log_b, eps)
        f = f_new if plain else f + w * (f_new - f)
        g_raw = kernel.cols(f + eps * log_a, eps)
        error = column_error(g, g_raw, log_b, eps, rho, total)
        if not math.isfinite(error):
            break
        history.append(error)
        if progress is not None:
            progress.update(it, f"marginal error {error:.1e}")
        if plain and error <= tol:
            return LoopResult(f, g, it, error, True, history)
        g = damp * g_raw if plain else g + w * (damp * g_raw - g)
        if target is not None:
            log_b = target(g_raw)
        best = min(best, error)
        if error > 2.0 * best and w > 1.0:  # unstable: back towards plain updates
            w, best = 1.0 + 0.5 * (w - 1.0), error
        elif it == RATE_WINDOW:
            w = 1.5
        elif it > RATE_WINDOW and (it - RATE_WINDOW) % ADAPT_EVERY == 0:
            ratio = history[-1] / history[-1 - ADAPT_EVERY]
            if ratio > 1.0:
                w, best = 1.0 + 0.5 * (w - 1.0), error
            elif ratio > SLOW:
                w, best = w + 0.5 * (OMEGA_MAX - w), error
    return LoopResult(f, g, it, error, False, history)


ROW_CAP = 64  # entries kept per row of a capped sparse plan
RELATIVE_FLOOR = 1e-12  # entries below this fraction of their row's largest are dropped


def top_entries(logp: torch.Tensor, k: int, first_row: int):
    """The sparse plan's entries in a block of rows ``first_row, ...`` of log plan entries ``logp (r, m)``.

    Per row, the ``k`` largest entries down to :data:`RELATIVE_FLOOR` times the
    row's largest. Returns ``src, dst, mass`` and the mass left out (a float);
    a row of ``-inf`` (no admissible partner) has no entries and leaves none out.
    """
    top = logp.amax(dim=1, keepdim=True)
    safe = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    total = (logp - safe).exp().sum(1).log() + safe[:, 0]
    top, j = torch.topk(logp, k, dim=1)  # (r, k)
    keep = (top >= top[:, :1] + math.log(RELATIVE_FLOOR)) & torch.isfinite(top)
    p = torch.where(keep, top.exp(), torch.zeros_like(top))
    rest = torch.where(torch.isneginf(top[:, 0]), 0.0, total.exp() - p.sum(1)).clamp_min(0)
    rows = torch.arange(first_row, first_row + top.shape[0], device=logp.device)[:, None].expand_as(j)
    return rows[keep], j[keep], p[keep], float(rest.sum())
