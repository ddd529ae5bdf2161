"""The Sinkhorn loop: log-domain, annealed, accelerated, stopped on the marginals.

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
2. **Convergence at the final eps.** A plain row update, then the column update
   extrapolated by Anderson acceleration from the last ``MEMORY`` iterates (Walker and
   Ni 2011; as in OTT-JAX), restarted from the best iterate when the error grows.
   Problems whose column marginal moves with the potentials (barycentres) over-relax
   both updates instead (Thibault et al. 2021), ``w`` adapted in ``[1, OMEGA_MAX]``.
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

MEMORY = 15  # Anderson: iterates remembered
RESTART = 2.0  # Anderson: an error this many times the best so far empties the memory
OMEGA_MAX = 1.9  # over-relaxation (moving marginals): largest w
RATE_WINDOW = 5  # plain iterations before over-relaxation
ADAPT_EVERY = 10  # iterations between changes of the over-relaxation
SLOW = 0.3  # error ratio over ADAPT_EVERY iterations above which w grows
MIXING = 1.3  # Anderson: the base step g + MIXING (G - g)
REGULARISE = 1e-10  # Anderson: Tikhonov term, relative to the largest diagonal entry
ANNEAL_TOL = 1e-2  # marginal error reached at each eps of the annealing
STALL = 5  # single-precision iterations without a new best error before the exact kernel takes over
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
    """Exact dual ascent along ``(f + lam, g - lam)``:
    ``lam = rho/2 log(sum a e^(-f/rho) / sum b e^(-g/rho))``."""
    lam = 0.5 * rho * (torch.logsumexp(log_a - f / rho, 0) - torch.logsumexp(log_b - g / rho, 0))
    return f + lam, g - lam


def column_error(g, g_new_undamped, b, eps: float, rho: float | None, total: float) -> float:
    """L1 distance, relative to ``total``, of the plan's column marginal to its target ``b``.

    Balanced: ``|b e^((g - g~)/eps) - b|_1``; relaxed: ``|b e^((g - g~)/eps) - b e^(-g/rho)|_1``
    (``g~`` the undamped column soft-minimum of the current row potential). Columns of
    zero weight count nothing.
    """
    if rho is None:
        err = torch.expm1((g - g_new_undamped) / eps).abs_()
    else:
        err = ((g - g_new_undamped) / eps).exp_().sub_((-g / rho).exp_()).abs_()
    err = torch.where(b > 0, err.mul_(b), 0.0)
    return float(err.sum()) / total


def anneal(
    kernel, log_a, log_b, f, g, schedule, rho: float | None = None, max_iter: int = ANNEAL_ITER
):
    """At each ``eps`` of ``schedule``, iterate until the marginal error is ``ANNEAL_TOL``
    (at most ``max_iter`` iterations); returns ``f, g`` and the number of iterations."""
    total = 0
    for eps in schedule:
        res = converge(kernel, log_a, log_b, f, g, eps, rho, ANNEAL_TOL, max_iter, exact=False)
        f, g, total = res.f, res.g, total + res.iterations
    return f, g, total


def converge(
    kernel,
    log_a,
    log_b,
    f,
    g,
    eps: float,
    rho: float | None,
    tol: float,
    max_iter: int,
    *,
    target=None,
    translation: bool = True,
    progress=None,
    exact: bool = True,
    single: bool = True,
) -> LoopResult:
    """Iterate at ``eps`` until the column error is at most ``tol`` (see the module docstring).

    ``target`` (optional): a function of the columns' undamped soft-minima giving the next
    ``log_b``, for problems whose column marginal is itself unknown (barycentres: the
    Bregman projection onto equal column marginals). ``translation``: the translation
    step of KL-relaxed problems (potentials of one problem, not batches). ``progress``: a
    ``_progress.Progress`` told each iteration and its error. A kernel with a ``single()``
    view (single precision) iterates on it while the error is above ``max(tol, view.floor)``
    and still falls (a new best within ``STALL`` iterations); the iterations that decide the
    stop are exact unless ``exact`` is False (the annealing, whose tolerance is far above
    that precision); ``single=False`` keeps to the exact kernel.

    Each iteration is a plain row update (so the rows are exact whenever it stops) and a
    column update extrapolated by :class:`Anderson` from the last iterates (plain when
    ``target`` moves the column marginal: the extrapolation assumes a fixed map).
    """
    damp = _damp(rho, eps)
    total = float(log_a.exp().sum())
    accel = Anderson() if target is None else OverRelaxation()
    view = getattr(kernel, "single", None) if single else None
    K = (view() if view is not None else None) or kernel
    history, error = [], math.inf
    b = log_b.exp()
    weight = torch.nan_to_num(b / (total * eps))  # residuals in units of the columns' error
    it = 0
    for it in range(1, max_iter + 1):
        if rho is not None and translation:
            f, g = translate(f, g, log_a, log_b, rho)
        w = accel.row_weight(history, tol)
        f_new = damp * K.rows(g + eps * log_b, eps)
        f = f_new if w == 1.0 else f + w * (f_new - f)
        g_raw = K.cols(f + eps * log_a, eps)
        error = column_error(g, g_raw, b, eps, rho, total)
        if not math.isfinite(error):
            if K is kernel:
                break
            K, error = kernel, math.inf  # single precision failed (overflow): exact from here
            continue
        history.append(error)
        if progress is not None:
            progress.update(it, f"marginal error {error:.1e}")
        if w == 1.0 and error <= tol and (K is kernel or not exact):
            return LoopResult(f, g, it, error, True, history)
        if K is not kernel and (error <= max(tol, K.floor) or min(history[-STALL:]) > min(history)):
            K = kernel  # the last iterations exact, extrapolated from exact iterates only
            accel = Anderson() if target is None else accel
        if target is not None:
            log_b = target(g_raw)
            b = log_b.exp()
            weight = torch.nan_to_num(b / (total * eps))
        g = accel(g, damp * g_raw, weight, history)
    if it and math.isfinite(error) and target is None:  # stopped short: rows exact for the last g
        f = damp * kernel.rows(g + eps * log_b, eps)
        if K is not kernel:  # the last error came from the single-precision view: measure it
            error = column_error(g, kernel.cols(f + eps * log_a, eps), b, eps, rho, total)
    return LoopResult(f, g, it, error, False, history)


class OverRelaxation:
    """Over-relaxed updates ``f <- f + w (f~ - f)``, ``g <- g + w (g~ - g)`` (Thibault et al. 2021;
    Lehmann et al. 2022), for problems whose column marginal moves (barycentres).

    ``RATE_WINDOW`` plain iterations, then ``w = 1.5``; every ``ADAPT_EVERY`` iterations ``w``
    moves halfway to ``OMEGA_MAX`` while the error falls slower than ``SLOW`` per window, and
    halfway back to 1 when it grew. An error within ``tol`` makes the next update plain (a
    stop check).
    """

    def __init__(self):
        self.w, self.best, self.it, self.plain = 1.0, math.inf, 0, True

    def row_weight(self, history, tol: float) -> float:
        self.plain = self.w == 1.0 or bool(history and history[-1] <= tol)
        return 1.0 if self.plain else self.w

    def __call__(self, g, G, weight, history):
        self.it += 1
        error = history[-1]
        out = G if self.plain else g + self.w * (G - g)
        self.best = min(self.best, error)
        if error > 2.0 * self.best and self.w > 1.0:  # unstable: back towards plain updates
            self.w, self.best = 1.0 + 0.5 * (self.w - 1.0), error
        elif self.it == RATE_WINDOW:
            self.w = 1.5
        elif self.it > RATE_WINDOW and (self.it - RATE_WINDOW) % ADAPT_EVERY == 0:
            ratio = history[-1] / history[-1 - ADAPT_EVERY]
            if ratio > 1.0:
                self.w, self.best = 1.0 + 0.5 * (self.w - 1.0), error
            elif ratio > SLOW:
                self.w, self.best = self.w + 0.5 * (OMEGA_MAX - self.w), error
        return out


class Anderson:
    """Anderson acceleration (type II, Walker and Ni 2011) of the column update ``g -> G(g)``.

    From the last ``MEMORY`` pairs ``(g_k, G_k)`` and the residuals ``r_k = W (G_k - g_k)``
    (``W``: the columns' weights over ``eps``, so ``|r|_1`` is about the marginal error),
    the next iterate is ``G_k - sum_i gamma_i (G_(i+1) - G_i)`` with ``gamma`` the least-squares
    fit of ``r_k`` by the residuals' differences (Tikhonov-regularised). A marginal error
    above ``RESTART`` times the best so far empties the memory and goes back to the plain
    update of the best iterate. The differences are kept as the rows of two ``(k, size)``
    matrices, so one step is a few passes over the potentials.
    """

    def __init__(self):
        self.last = None  # (g, G, r) of the previous iterate
        self.dr = self.dm = None  # (k, size): residuals' differences, mixed steps' differences
        self.best, self.best_G = math.inf, None

    def row_weight(self, history, tol: float) -> float:
        return 1.0  # rows always plain

    def __call__(self, g, G, weight, history):
        error = history[-1]
        # a step that failed: back to the best iterate's plain update
        if error > RESTART * self.best:
            out, self.best, self.best_G = self.best_G, math.inf, None  # a new baseline: no cycle
            self.last = self.dr = self.dm = None
            return out
        if error < self.best:
            self.best, self.best_G = error, G
        r = torch.where(weight > 0, (G - g) * weight, torch.zeros_like(G)).reshape(-1)
        last, self.last = self.last, (g, G, r)
        if last is None:
            return G  # plain: a loop of one iteration per eps (annealing) is plain Sinkhorn
        g0, G0, r0 = last
        dr = (r - r0)[None]
        dm = ((1 - MIXING) * (g - g0) + MIXING * (G - G0)).reshape(1, -1)
        self.dr = dr if self.dr is None else torch.cat([self.dr[1 - MEMORY :], dr])
        self.dm = dm if self.dm is None else torch.cat([self.dm[1 - MEMORY :], dm])
        A = self.dr @ self.dr.t()
        A.diagonal().add_(REGULARISE * float(A.diagonal().max()) + torch.finfo(A.dtype).tiny)
        gamma = torch.linalg.solve(A, self.dr @ r)
        out = (g + MIXING * (G - g)).reshape(-1) - gamma @ self.dm
        out = out.reshape(G.shape)
        return out if bool(torch.isfinite(out).all()) else G
