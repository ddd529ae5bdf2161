"""Wasserstein-Fisher-Rao (Hellinger-Kantorovich) transport between point clouds with masses.

Conventions (REFERENCE.md, no 1/2 in the action): ``d_t rho + div m = s``,

    A_kappa(rho, m, s) = int_0^1 int (|m|^2 + kappa^2 s^2) / rho dx dt,     WFR^2 = min A_kappa.

Chizat-Peyre-Schmitzer-Vialard (2018) put a 1/2 in the action (their ``WF^2`` is
half of ours); Liero-Mielke-Savare's ``HK`` is the case ``kappa = 1/2``.

**Static form** (Liero-Mielke-Savare 2018, logarithmic entropy-transport), with
``theta(x, y) = min(|x - y| / (2 kappa), pi/2)`` and ``ell = -log cos^2 theta``:

    WFR^2(mu0, mu1) = 4 kappa^2 min_{gamma >= 0} KL(P0#gamma | mu0) + KL(P1#gamma | mu1) + sum gamma ell,

``KL(p | q) = sum p log(p / q) - p + q``. Its first-order conditions on the support
of an optimal ``gamma`` read ``sigma0_i sigma1_j = cos^2 theta_ij`` with
``sigma0 = d(P0#gamma) / d mu0`` and ``sigma1 = d(P1#gamma) / d mu1``.

**Semi-couplings** (LMS 2018, section 7; Chizat et al. 2018). ``gamma`` defines the pairs
``(i, j)`` that carry, from ``x_i`` to ``y_j``, the masses

    h0_ij = gamma_ij / sigma0_i = gamma_ij a_i / (P0#gamma)_i,    h1_ij = gamma_ij / sigma1_j,

so that ``sum_j h0_ij = a_i`` and ``sum_i h1_ij = b_j``; points of ``mu0`` (``mu1``)
that ``gamma`` leaves uncovered decay to zero (grow from zero) where they are.
Each pair costs its two-Dirac (cone) distance

    4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos theta),

and at the optimum ``sqrt(h0 h1) cos theta = gamma`` on every pair, so the sum of the
pair costs equals ``4 kappa^2 (sum a + sum b - 2 sum gamma)``, which is also the
static objective: ``HK^2`` is the smallest sum of cone distances over semi-couplings.

**Travelling Diracs.** Put ``r = sqrt(h)`` and an angle ``phi = |x - x0| / (2 kappa)``
in a plane: the pair's two ends are ``P0 = sqrt(h0) (1, 0)`` and
``P1 = sqrt(h1) (cos theta, sin theta)``. The cone geodesic is the straight segment
``P(t) = (1 - t) P0 + t P1``: the mass is ``h(t) = |P(t)|^2 = A t^2 - 2 B t + h0`` with
``A = h0 + h1 - 2 sqrt(h0 h1) cos theta`` and ``B = h0 - sqrt(h0 h1) cos theta``, and
the particle sits at the fraction ``phi(t) / theta`` of the segment ``x0 -> x1``,
``phi(t)`` the polar angle of ``P(t)``. Its velocity follows from the conserved
angular momentum ``|P|^2 phi' = sqrt(h0 h1) sin theta``:
``v = (x1 - x0) sqrt(h0 h1) (sin theta / theta) / h(t)``, and its source is ``s = h'``.
The Lagrangian integrand ``h |v|^2 + kappa^2 s^2 / h`` equals ``4 kappa^2 |P'|^2``,
constant in time and equal to the pair's cone cost, so the action of the particle
path is the sum of the pair costs. Pairs with ``|x - y| >= pi kappa`` have infinite
``ell`` and never carry mass: such transfers are pure decay and growth,
``(1 - t)^2 h0 delta_x0 + t^2 h1 delta_x1``.

**Solver.** The static problem is convex in ``gamma``. It is regularised by
``eps KL(gamma | a b^T)``, ``eps = 2 blur^2`` (the cost ``4 kappa^2 ell`` is ``|x - y|^2``
to leading order, so ``blur`` is a length as in :func:`~lagrangian_ot.match`), and its
dual is maximised in torch, in float64 on the input's device: log-domain unbalanced
Sinkhorn updates with ``eps`` annealed geometrically from the squared diameter down to
``100 eps``, each followed by the exact dual ascent step along the translation
``(f + lambda, g - lambda)`` (Sejourne et al. 2022); then damped Newton steps on the dual
(a dense Cholesky solve for small problems, else conjugate gradients on the sparse plan)
while ``eps`` goes down by factors of 0.3 to its final value. Sinkhorn alone stalls at small
``eps``: every weakly connected block of the plan has its own translation mode, contracted
by only ``rho / (rho + eps)`` per update (``rho = 4 kappa^2``). Iterations stop when the
plan's marginals meet the first-order conditions ``P0#gamma = a e^(-f/rho)`` and
``P1#gamma = b e^(-g/rho)`` to ``tol`` (relative L1 norm). Each step costs ``O(n m)``;
the cost matrix is cached up to 4e6 pairs, else recomputed in row blocks.

**Accuracy.** ``value`` (the action of an admissible path) and ``static`` (the objective at
an admissible ``gamma``) are upper bounds of ``WFR^2`` that are stationary at the optimum,
so their entropic bias is far below ``eps``: on random clouds of 20 to 200 points, the
default blur (``1e-3`` of ``min(diameter, pi kappa)``) puts ``value`` within about ``1e-8``
(relative) of its ``blur -> 0`` limit; ``1e-2`` of the diameter gives about ``1e-4``.
A lower bound ``4 kappa^2 [sum a (1 - e^-phi) + sum b (1 - e^-psi)]`` at potentials
``phi_i + psi_j <= ell_ij`` (c-transforms of the entropic ones) converges like ``eps``
(about ``1e-5`` relative at the default blur); ``plan.gap = value - lower`` certifies
``value - WFR^2 <= gap``.

References
----------
M. Liero, A. Mielke, G. Savare. Optimal entropy-transport problems and a new
Hellinger-Kantorovich distance between positive measures. Invent. Math. 211 (2018).

L. Chizat, G. Peyre, B. Schmitzer, F.-X. Vialard. An interpolating distance between
optimal transport and Fisher-Rao metrics. Found. Comput. Math. 18 (2018); and
Unbalanced optimal transport: dynamic and Kantorovich formulations. J. Funct. Anal. 274 (2018).

T. Sejourne, F.-X. Vialard, G. Peyre. Faster unbalanced optimal transport: translation
invariant Sinkhorn and 1-D Frank-Wolfe. AISTATS 2022.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import _sinkhorn
from ._progress import Progress
from ._sinkhorn import ROW_CAP, top_entries
from .errors import InputError, check_cloud, check_int, check_positive
from .kernels.threads import fit_threads

CACHE_PAIRS = 4_000_000  # the cost matrix is kept in memory below this many admissible-set pairs
BLOCK_BYTES = 1 << 25  # row blocks of the uncached cost stay under this size
DENSE_NEWTON = 1_000  # Newton systems up to this size (n + m) are solved densely
NEWTON_FROM = 100.0  # Sinkhorn annealing stops at this multiple of eps; Newton continues
NEWTON_FACTOR = 0.3  # eps decrease per Newton level
EPS_FLOOR = 1e-11  # eps is at least this fraction of 4 kappa^2 (Newton systems stay solvable)
DEFAULT_BLUR = 1e-3  # default blur, relative to min(diameter, pi kappa)
_HALF_PI = 0.5 * math.pi


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class HKPlan:
    """An optimal semi-coupling for Wasserstein-Fisher-Rao transport (see the module docstring).

    Row ``k`` is one travelling particle: from mass ``h0[k]`` at ``x[src[k]]`` to mass
    ``h1[k]`` at ``y[dst[k]]``. ``src[k] = -1`` marks pure growth at ``y[dst[k]]``
    (``h0 = 0``), ``dst[k] = -1`` pure decay at ``x[src[k]]`` (``h1 = 0``). Sums of
    ``h0`` over the rows of a source point give its mass ``a_i``, sums of ``h1`` over
    the rows of a target point give ``b_j`` (to round-off).

    Attributes
    ----------
    x, y : Tensor
        The clouds, ``(n, d)`` and ``(m, d)``.
    a, b : Tensor
        Their masses, ``(n,)`` and ``(m,)``.
    kappa : float
        Length scale of the Fisher-Rao part.
    src, dst : Tensor
        ``(K,)`` long indices into ``x`` and ``y``, ``-1`` for none; sorted with the
        pairs first (by ``src`` then ``dst``), then decays, then growths.
    gamma : Tensor
        ``(K,)`` mass of the entropy-transport plan on each pair (0 for decay and growth).
    h0, h1 : Tensor
        ``(K,)`` masses of each particle at ``t = 0`` and ``t = 1``.
    value : Tensor
        Scalar: the sum of the per-pair cone costs ``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1)
        cos theta)``, which is the action of the path of :func:`hk_interpolate`; an upper
        bound of ``WFR^2`` (no 1/2), equal to it at the optimum.
    static : Tensor
        Scalar: the entropy-transport objective ``4 kappa^2 [KL + KL + sum gamma ell]`` at
        ``gamma`` (another upper bound; equal to ``value`` at the optimum).
    lower : Tensor
        Scalar: a dual lower bound of ``WFR^2``.
    gap : float
        ``value - lower``: certified bound on ``value - WFR^2``.
    method : str
        ``"sinkhorn"``: the entropic plan (annealed unbalanced Sinkhorn, then Newton steps).
    info : dict
        Solver details: ``blur``, ``epsilon``, ``residual`` (first-order marginal residual),
        ``sinkhorn_updates``, ``newton_steps``, ``newton_levels``, ``dropped_mass`` (plan mass
        left out by ``row_cap`` and the floor), ``active`` (points that can be paired),
        ``potentials`` (``(f, g)`` on the active points, in the units of ``4 kappa^2 ell``).
    """

    x: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    kappa: float
    src: torch.Tensor
    dst: torch.Tensor
    gamma: torch.Tensor
    h0: torch.Tensor
    h1: torch.Tensor
    value: torch.Tensor
    static: torch.Tensor
    lower: torch.Tensor
    gap: float
    method: str = "sinkhorn"
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_pairs(self) -> int:
        """Number of particles ``K`` (pairs, decays and growths)."""
        return int(self.src.shape[0])

    @property
    def start(self) -> torch.Tensor:
        """Position of each particle at ``t = 0``, ``(K, d)`` (``y[dst]`` for growths)."""
        return _ends(self)[0]

    @property
    def end(self) -> torch.Tensor:
        """Position of each particle at ``t = 1``, ``(K, d)`` (``x[src]`` for decays)."""
        return _ends(self)[1]

    @property
    def angle(self) -> torch.Tensor:
        """Cone angle ``theta = |end - start| / (2 kappa)`` of each particle, ``(K,)``, below pi/2."""
        start, end = _ends(self)
        return (end - start).norm(dim=-1) / (2.0 * self.kappa)

    @property
    def pair_costs(self) -> torch.Tensor:
        """Cone cost ``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos theta)`` of each particle, ``(K,)``."""
        return _cone_cost(self.h0, self.h1, self.angle, self.kappa)


def _ends(plan: HKPlan) -> tuple[torch.Tensor, torch.Tensor]:
    return _endpoints(plan.x, plan.y, plan.src, plan.dst)


def _endpoints(x, y, src, dst) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end of each particle, ``(K, d)`` each: a decay ends, a growth starts, where it stands."""
    has_src = (src >= 0).unsqueeze(-1)
    has_dst = (dst >= 0).unsqueeze(-1)
    xs = x[src.clamp_min(0)]
    yd = y[dst.clamp_min(0)]
    return torch.where(has_src, xs, yd), torch.where(has_dst, yd, xs)


def _cone_cost(h0: torch.Tensor, h1: torch.Tensor, theta: torch.Tensor, kappa: float) -> torch.Tensor:
    """``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos theta)``, written without cancellation."""
    r0, r1 = h0.sqrt(), h1.sqrt()
    return 4.0 * kappa**2 * ((r0 - r1) ** 2 + 4.0 * r0 * r1 * torch.sin(0.5 * theta) ** 2)


# --------------------------------------------------------------------------- costs


def cost_matrix(x: torch.Tensor, y: torch.Tensor, kappa: float) -> torch.Tensor:
    """The entropy-transport cost ``4 kappa^2 ell(|x_i - y_j|)``, ``(n, m)``; ``inf`` from ``pi kappa`` on.

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

    def __init__(self, x: torch.Tensor, y: torch.Tensor, kappa: float, cache: bool):
        self.x, self.y, self.kappa = x, y, kappa
        self.full = cost_matrix(x, y, kappa) if cache else None

    def rows(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        """The soft-minimum kernel of the Sinkhorn loop: ``-eps log sum_j exp((h_j - c_ij) / eps)``."""
        return self.softmin(h, torch.zeros_like(h), eps)

    def cols(self, h: torch.Tensor, eps: float) -> torch.Tensor:
        return self.softmin(h, torch.zeros_like(h), eps, transpose=True)

    def softmin(self, g: torch.Tensor, log_w: torch.Tensor, eps: float, transpose: bool = False) -> torch.Tensor:
        """``-eps log sum_j w_j exp((g_j - c_ij) / eps)`` per row (``eps = 0``: ``min_j c_ij - g_j``).

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


def _softmin_block(c: torch.Tensor, g: torch.Tensor, log_w: torch.Tensor, eps: float) -> torch.Tensor:
    if eps == 0.0:
        return (c - g).amin(dim=1)
    return -eps * torch.logsumexp(log_w + (g - c) / eps, dim=1)


# --------------------------------------------------------------------------- input checks


def _check(x, y, a, b, kappa) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    for name, cloud in (("x", x), ("y", y)):
        check_cloud(cloud, name)
        if cloud.dim() != 2:
            raise InputError(f"{name} must have shape (n, d); batches are not supported, got {tuple(cloud.shape)}")
    if x.shape[1] != y.shape[1]:
        raise InputError(f"x and y must have the same dimension d, got {x.shape[1]} and {y.shape[1]}")
    if x.device != y.device:
        raise InputError(f"x is on {x.device} but y is on {y.device}")
    kappa = check_positive(kappa, "kappa")
    if not math.isfinite(4.0 * kappa * kappa):
        raise InputError(f"kappa = {kappa:g} is too large: its cone cost 4 kappa^2 overflows")
    masses = []
    for name, w, cloud in (("a", a, x), ("b", b, y)):
        if w is None:
            w = torch.full((cloud.shape[0],), 1.0 / cloud.shape[0], dtype=cloud.dtype, device=cloud.device)
        w = torch.as_tensor(w, device=cloud.device)
        if w.shape != (cloud.shape[0],):
            raise InputError(f"{name} must have shape ({cloud.shape[0]},) to match the cloud, got {tuple(w.shape)}")
        if not w.is_floating_point():
            w = w.to(cloud.dtype)
        if not bool(torch.isfinite(w).all()):
            raise InputError(f"{name} contains NaN or infinite values")
        if bool((w < 0).any()):
            raise InputError(f"{name} has negative entries; masses must be nonnegative")
        if not bool((w > 0).any()):
            raise InputError(f"{name} is zero everywhere; give at least one positive mass")
        masses.append(w.to(cloud.dtype))
    return x, y, masses[0], masses[1], kappa


# --------------------------------------------------------------------------- Sinkhorn


def _anneal(costs: _Costs, a, b, rho: float, eps: float, eps0: float, scaling: float):
    """The Sinkhorn loop (``_sinkhorn.py``), one translated unbalanced update per scale,
    ``eps`` from ``eps0`` down to ``eps`` by factors ``scaling``.

    Plan: ``gamma_ij = a_i b_j exp((f_i + g_j - c_ij) / eps)``. Returns ``f, g, updates``.
    """
    schedule, e = [], max(eps0, eps)
    while True:
        schedule.append(e)
        if e <= eps:
            break
        e = max(e * scaling, eps)
    f, g = torch.zeros_like(a), torch.zeros_like(b)
    return _sinkhorn.anneal(costs, a.log(), b.log(), f, g, schedule, rho, max_iter=1)


class _Dual:
    """The entropic dual at ``eps``: ``D(f, g) = -rho sum a expm1(-f/rho) - rho sum b expm1(-g/rho)
    - eps (sum gamma - sum a b)``, its gradient (first-order marginal residuals) and Newton steps."""

    def __init__(self, costs: _Costs, a, b, rho: float, eps: float):
        self.costs, self.a, self.b, self.rho, self.eps = costs, a, b, rho, eps
        self.log_a, self.log_b = a.log(), b.log()
        self.total = float(a.sum() + b.sum())

    def evaluate(self, f, g):
        """``(D, grad_f, grad_g, residual, P0#gamma, P1#gamma)``; ``grad_f = a e^(-f/rho) - P0#gamma``.

        The residual is ``(|grad_f|_1 + |grad_g|_1) / (sum a + sum b)``.
        """
        eps, rho = self.eps, self.rho
        g0 = self.a * ((f - self.costs.softmin(g, self.log_b, eps)) / eps).exp()
        g1 = self.b * ((g - self.costs.softmin(f, self.log_a, eps, transpose=True)) / eps).exp()
        ea, eb = self.a * (-f / rho).exp(), self.b * (-g / rho).exp()
        mass = float(g0.sum())
        value = -rho * float((self.a * torch.expm1(-f / rho)).sum() + (self.b * torch.expm1(-g / rho)).sum())
        value -= eps * (mass - float(self.a.sum() * self.b.sum()))
        grad_f, grad_g = ea - g0, eb - g1
        residual = float(grad_f.abs().sum() + grad_g.abs().sum()) / self.total
        return value, grad_f, grad_g, residual, g0, g1

    def direction(self, f, g, grad_f, grad_g, g0, g1, row_cap: int, rtol: float):
        """Newton direction: ``-Hessian^-1 grad``, the Hessian being

        ``-[[diag(a e^(-f/rho) / rho + g0 / eps), gamma / eps], [gamma^T / eps, diag(b e^(-g/rho) / rho + g1 / eps)]]``:
        a dense Cholesky solve for small problems, else Jacobi-preconditioned conjugate gradients
        on the plan's entries kept by :func:`_sparse_plan` (relative residual ``rtol``).
        """
        eps, rho = self.eps, self.rho
        n, m = f.shape[0], g.shape[0]
        diag = torch.cat([self.a * (-f / rho).exp() / rho + g0 / eps, self.b * (-g / rho).exp() / rho + g1 / eps])
        rhs = torch.cat([grad_f, grad_g])
        if self.costs.full is not None and n + m <= DENSE_NEWTON:
            plan = (self.log_a[:, None] + self.log_b + (f[:, None] + g - self.costs.full) / eps).exp() / eps
            hess = torch.diag(diag)
            hess[:n, n:] = plan
            hess[n:, :n] = plan.t()
            chol, failed = torch.linalg.cholesky_ex(hess)
            if int(failed) == 0:
                return torch.cholesky_solve(rhs[:, None], chol)[:, 0]
            return torch.linalg.solve(hess, rhs)  # positive definite, but not to round-off: eps << rho
        s, t, v, _ = _sparse_plan(self.costs, self.a, self.b, f, g, eps, row_cap)
        v = v / eps

        def matvec(u):
            uf, ug = u[:n], u[n:]
            out_f = torch.zeros_like(uf).index_add_(0, s, v * ug[t])
            out_g = torch.zeros_like(ug).index_add_(0, t, v * uf[s])
            return diag * u + torch.cat([out_f, out_g])

        return _pcg(matvec, rhs, diag, rtol, max_iter=2 * (n + m) + 50)


def _pcg(matvec, rhs: torch.Tensor, diag: torch.Tensor, rtol: float, max_iter: int) -> torch.Tensor:
    """Conjugate gradients for an SPD system, Jacobi preconditioner, relative residual ``rtol``."""
    u = torch.zeros_like(rhs)
    r = rhs.clone()
    z = r / diag
    p = z.clone()
    rz = float(r @ z)
    stop = rtol * float(rhs.norm())
    for it in range(max_iter):
        q = matvec(p)
        curvature = float(p @ q)
        if not curvature > 0:  # round-off on a nearly singular direction: the ascent direction so far
            return u if it else z  # (at the start, the preconditioned gradient)
        alpha = rz / curvature
        u += alpha * p
        r -= alpha * q
        if float(r.norm()) <= stop:
            break
        z = r / diag
        rz, rz_old = float(r @ z), rz
        p = z + (rz / rz_old) * p
    return u


def _newton(dual: _Dual, f, g, tol: float, max_steps: int, row_cap: int):
    """Damped Newton ascent on the entropic dual from ``(f, g)``; returns ``f, g, steps, residual``.

    Each step solves the Newton system (inexactly with CG: forcing term ``min(1e-2, residual)``)
    and backtracks from the last accepted step length (times 4, at most 1) until the dual
    increases (Armijo) or the residual halves (the dual's increments reach round-off near
    the optimum). Stops at ``tol``, or after ten steps in a row that raise the dual by less
    than its round-off and do not halve the residual (the potentials are known to about
    ``1e-16 |f|``, so the residual cannot go much below ``1e-16 |f| / eps``).
    """
    value, gf, gg, residual, g0, g1 = dual.evaluate(f, g)
    n = f.shape[0]
    tau0, stalled = 1.0, 0
    for step in range(max_steps):
        if residual <= tol or stalled >= 10:
            return f, g, step, residual
        d = dual.direction(f, g, gf, gg, g0, g1, row_cap, rtol=min(1e-2, residual))
        slope = float(torch.cat([gf, gg]) @ d)
        tau = tau0
        for _ in range(60):
            nf, ng = f + tau * d[:n], g + tau * d[n:]
            nvalue, ngf, ngg, nres, ng0, ng1 = dual.evaluate(nf, ng)
            if nvalue >= value + 1e-4 * tau * slope or nres <= 0.5 * residual:
                break
            tau *= 0.5
        else:
            return f, g, step, residual  # no step helps: round-off reached
        tau0 = min(1.0, 4.0 * tau)
        progress = nvalue - value > 1e-14 * abs(value) or nres <= 0.5 * residual
        stalled = 0 if progress else stalled + 1
        f, g, value, gf, gg, residual, g0, g1 = nf, ng, nvalue, ngf, ngg, nres, ng0, ng1
    return f, g, max_steps, residual


def _solve(
    costs: _Costs, a, b, rho: float, eps: float, eps0: float, scaling: float, tol: float, max_iter: int, row_cap: int,
    progress: bool | None = False,
):
    """Annealed Sinkhorn down to ``NEWTON_FROM * eps``, then Newton continuation down to ``eps``.

    Unbalanced Sinkhorn alone is slow at small ``eps``: every weakly connected block of the
    plan has its own translation mode, contracted by only ``rho / (rho + eps)`` per update.
    Newton steps on the dual remove them; continuation (``eps`` times ``NEWTON_FACTOR`` per
    level, each level solved to a residual of ``1e-2``, the last to ``tol``) keeps each
    level's start inside the region where Newton steps are long.

    Returns ``f, g, info`` with the residual ``(|P0#gamma - a e^(-f/rho)|_1 +
    |P1#gamma - b e^(-g/rho)|_1) / (sum a + sum b)``, the norm of the dual's gradient
    (zero at the optimum).
    """
    e = max(min(eps0, NEWTON_FROM * eps), eps)
    total = 2 + max(0, math.ceil(math.log(e / eps) / math.log(1 / NEWTON_FACTOR)))  # annealing, Newton levels
    with Progress(total, enabled=progress) as bar:
        bar.step("annealed Sinkhorn")
        f, g, updates = _anneal(costs, a, b, rho, e, eps0, scaling)
        steps, levels = 0, 0
        while True:
            last = e <= eps
            bar.step(f"Newton at eps {e:.1e}")
            f, g, k, residual = _newton(_Dual(costs, a, b, rho, e), f, g, tol if last else 1e-2, max_iter, row_cap)
            steps, levels = steps + k, levels + 1
            if last:
                break
            e = max(e * NEWTON_FACTOR, eps)
    info = {"sinkhorn_updates": updates, "newton_steps": steps, "newton_levels": levels, "residual": residual}
    return f, g, info


def _lower_bound(costs: _Costs, f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, rho: float) -> float:
    """Dual value ``rho [sum a (1 - e^(-f/rho)) + sum b (1 - e^(-g/rho))]`` at c-transformed potentials."""
    zero_a, zero_b = torch.zeros_like(a), torch.zeros_like(b)
    g = costs.softmin(f, zero_a, 0.0, transpose=True)  # g_j = min_i c_ij - f_i: feasible
    f = costs.softmin(g, zero_b, 0.0)  # f_i = min_j c_ij - g_j: feasible, and no smaller dual value
    return rho * float((a * -torch.expm1(-f / rho)).sum() + (b * -torch.expm1(-g / rho)).sum())


def _sparse_plan(costs: _Costs, a, b, f, g, eps: float, row_cap: int):
    """Per row, the ``row_cap`` largest plan entries above the relative floor: ``src, dst, gamma, dropped``."""
    log_a, log_b = a.log(), b.log()
    n, m = a.shape[0], b.shape[0]
    k = min(row_cap, m)
    step = max(1, BLOCK_BYTES // (8 * m))
    src, dst, mass, dropped = [], [], [], 0.0
    for s in range(0, n, step):
        rows = slice(s, s + step)
        c = costs.full[rows] if costs.full is not None else cost_matrix(costs.x[rows], costs.y, costs.kappa)
        logp = log_a[rows, None] + log_b + (f[rows, None] + g - c) / eps  # (r, m), log gamma
        i, j, p, rest = top_entries(logp, k, s)
        src.append(i)
        dst.append(j)
        mass.append(p)
        dropped += rest
    return torch.cat(src), torch.cat(dst), torch.cat(mass), dropped


# --------------------------------------------------------------------------- hk_plan


def _diameter(p: torch.Tensor) -> float:
    return float((p.amax(0) - p.amin(0)).norm())


def _semi_coupling(a, b, src, dst, gamma):
    """Pairs, decays and growths of the semi-coupling induced by ``gamma`` (module docstring)."""
    m = b.shape[0]
    g0 = torch.zeros_like(a).index_add_(0, src, gamma)  # P0#gamma on the kept entries
    g1 = torch.zeros_like(b).index_add_(0, dst, gamma)
    h0 = gamma * a[src] / g0[src]
    h1 = gamma * b[dst] / g1[dst]
    decay = torch.nonzero((a > 0) & (g0 == 0)).reshape(-1)
    grow = torch.nonzero((b > 0) & (g1 == 0)).reshape(-1)
    none_d = torch.full_like(decay, -1)
    none_g = torch.full_like(grow, -1)
    order = torch.argsort(src * m + dst)
    src = torch.cat([src[order], decay, none_g])
    dst = torch.cat([dst[order], none_d, grow])
    zeros = torch.zeros(decay.shape[0] + grow.shape[0], dtype=a.dtype, device=a.device)
    gamma = torch.cat([gamma[order], zeros])
    h0 = torch.cat([h0[order], a[decay], torch.zeros_like(b[grow])])
    h1 = torch.cat([h1[order], torch.zeros_like(a[decay]), b[grow]])
    return src, dst, gamma, h0, h1, g0, g1


def _static(x, y, a, b, kappa, src, dst, gamma, g0, g1) -> float:
    """``4 kappa^2 [KL(g0 | a) + KL(g1 | b) + sum gamma ell]`` for a plan supported on admissible pairs."""
    pairs = (src >= 0) & (dst >= 0)
    s, t, gam = src[pairs], dst[pairs], gamma[pairs]
    theta = (x[s] - y[t]).norm(dim=-1) / (2.0 * kappa)
    ell = -2.0 * torch.log1p(-2.0 * torch.sin(0.5 * theta) ** 2)

    def kl(p, q):
        return (torch.xlogy(p, p) - torch.xlogy(p, q) - p + q).sum()

    return 4.0 * kappa**2 * float(kl(g0, a) + kl(g1, b) + (gam * ell).sum())


@fit_threads(lambda x, y, *_, **__: x.shape[-2] * y.shape[-2])  # one thread for small clouds
def hk_plan(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    kappa: float,
    *,
    blur: float | None = None,
    scaling: float = 0.9,
    tol: float = 1e-9,
    max_iter: int = 500,
    row_cap: int = ROW_CAP,
    progress: bool | None = None,
) -> HKPlan:
    """Optimal Wasserstein-Fisher-Rao semi-coupling between ``sum a_i delta_x_i`` and ``sum b_j delta_y_j``.

    Solves the logarithmic entropy-transport problem (module docstring) by annealed
    log-domain unbalanced Sinkhorn and builds the Liero-Mielke-Savare semi-coupling
    of its plan: travelling particles for the pairs, pure decay and growth for the
    uncovered points.

    Parameters
    ----------
    x, y : Tensor
        Point clouds ``(n, d)`` and ``(m, d)``.
    a, b : Tensor or None
        Nonnegative masses ``(n,)`` and ``(m,)``, totals need not agree; None is ``1/n`` (``1/m``).
    kappa : float
        The Fisher-Rao length scale (finite, > 0): no mass travels ``pi kappa`` or farther.
    blur : float, optional
        Entropic blur, a length: ``eps = 2 blur^2`` in the units of ``|x - y|^2``.
        Default ``1e-3 min(diameter, pi kappa)`` (diameter of the points that can be paired);
        ``eps`` is at least ``1e-11 * 4 kappa^2``. The value's entropic bias is far below
        ``eps`` (module docstring, Accuracy); ``plan.gap`` bounds it.
    scaling : float
        Annealing factor of ``eps`` per iteration, in (0, 1).
    tol : float
        Stop when the first-order residual of the marginals (relative L1) is below ``tol``.
    max_iter : int
        Cap on the Newton steps per level of ``eps`` (a ``RuntimeWarning`` says when the
        final residual stays above ``1e-4``).
    progress : bool or None
        Draw the solve's steps on stderr (None: only when stderr is a terminal).
    row_cap : int
        At most this many entries per source point are kept in the plan; entries below
        ``1e-12`` of their row's largest are dropped too (``info["dropped_mass"]``).
        The semi-coupling is built from the kept entries, so its marginals stay exact.

    Returns
    -------
    HKPlan
        In the dtype and on the device of ``x`` (computed in float64).

    Examples
    --------
    >>> import math, torch
    >>> x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    >>> plan = hk_plan(x, y, torch.tensor([1.0]), torch.tensor([4.0]), kappa=1.0)
    >>> closed = 4 * (1 + 4 - 2 * 2 * math.cos(0.5))  # the two-Dirac formula
    >>> abs(float(plan.value) - closed) < 1e-5, plan.h0.tolist(), plan.h1.tolist()
    (True, [1.0], [4.0])
    """
    x, y, a, b, kappa = _check(x, y, a, b, kappa)
    if blur is not None:
        blur = check_positive(blur, "blur")
    scaling = float(scaling)
    if not 0.0 < scaling < 1.0:
        raise InputError(f"scaling must be in (0, 1), got {scaling}")
    tol = check_positive(tol, "tol")
    max_iter, row_cap = check_int(max_iter, "max_iter", 1), check_int(row_cap, "row_cap", 1)
    dtype = x.dtype
    x64, y64, a64, b64 = (t.detach().double() for t in (x, y, a, b))
    rho = 4.0 * kappa**2
    reach = math.pi * kappa
    # admissible sets: positive mass and a partner of positive mass nearer than pi kappa
    near = _has_partner(x64, y64, b64 > 0, reach)
    act_a = (a64 > 0) & near
    act_b = (b64 > 0) & _has_partner(y64, x64, act_a, reach)
    ia, ib = torch.nonzero(act_a).reshape(-1), torch.nonzero(act_b).reshape(-1)
    info: dict[str, Any] = {"kappa": kappa, "active": (int(ia.numel()), int(ib.numel()))}
    if ia.numel() == 0:
        src = dst = torch.zeros(0, dtype=torch.long, device=x.device)
        gamma = torch.zeros(0, dtype=torch.float64, device=x.device)
        lower, blur_used, eps = rho * float(a64.sum() + b64.sum()), blur, None
        info.update(residual=0.0, dropped_mass=0.0)
    else:
        xa, yb, aa, bb = x64[ia], y64[ib], a64[ia], b64[ib]
        scale = min(_diameter(torch.cat([xa, yb])), reach)
        blur_used = DEFAULT_BLUR * (scale or min(1.0, reach)) if blur is None else blur
        eps = max(2.0 * blur_used**2, EPS_FLOOR * rho)
        costs = _Costs(xa, yb, kappa, cache=ia.numel() * ib.numel() <= CACHE_PAIRS)
        f, g, solver = _solve(costs, aa, bb, rho, eps, scale**2, scaling, tol, max_iter, row_cap, progress)
        residual = solver["residual"]
        if residual > 1e-4:
            warnings.warn(
                f"hk_plan: the solver stopped with a marginal residual of {residual:.2g} "
                f"(blur={blur_used:.3g}); raise max_iter or blur",
                RuntimeWarning,
                stacklevel=2,
            )
        s, t, gamma, dropped = _sparse_plan(costs, aa, bb, f, g, eps, row_cap)
        src, dst = ia[s], ib[t]
        inactive = float(a64[~act_a].sum() + b64[~act_b].sum())
        lower = _lower_bound(costs, f, aa, bb, rho) + rho * inactive
        info.update(solver, dropped_mass=dropped, potentials=(f.to(dtype), g.to(dtype)))
    src, dst, gamma, h0, h1, g0, g1 = _semi_coupling(a64, b64, src, dst, gamma)
    static = _static(x64, y64, a64, b64, kappa, src, dst, gamma, g0, g1)
    start, end = _endpoints(x64, y64, src, dst)
    value = float(_cone_cost(h0, h1, (end - start).norm(dim=-1) / (2.0 * kappa), kappa).sum())
    info.update(blur=blur_used, epsilon=eps)

    def scalar(v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, device=x.device)

    return HKPlan(
        x=x, y=y, a=a, b=b, kappa=kappa, src=src, dst=dst, gamma=gamma.to(dtype), h0=h0.to(dtype), h1=h1.to(dtype),
        value=scalar(value), static=scalar(static), lower=scalar(lower), gap=max(0.0, value - lower),
        method="sinkhorn", info=info,
    )  # fmt: skip


def _has_partner(p: torch.Tensor, q: torch.Tensor, q_ok: torch.Tensor, reach: float) -> torch.Tensor:
    """For each row of ``p``: is some ``q[q_ok]`` nearer than ``reach``? (row blocks)"""
    q = q[q_ok]
    if q.shape[0] == 0:
        return torch.zeros(p.shape[0], dtype=torch.bool, device=p.device)
    step = max(1, BLOCK_BYTES // (8 * q.shape[0]))
    out = [
        (torch.cdist(p[s : s + step], q, compute_mode="donot_use_mm_for_euclid_dist") < reach).any(1)
        for s in range(0, p.shape[0], step)
    ]
    return torch.cat(out)


# --------------------------------------------------------------------------- the dynamic side


def _state(plan: HKPlan, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions, masses, velocities, sources at times ``t (T,)``: ``(T, K, d), (T, K), (T, K, d), (T, K)``."""
    start, end = _ends(plan)  # (K, d)
    delta = end - start
    theta = delta.norm(dim=-1) / (2.0 * plan.kappa)  # (K,)
    r0, r1 = plan.h0.sqrt(), plan.h1.sqrt()
    cos, sin = torch.cos(theta), torch.sin(theta)
    tt = t[:, None]  # (T, 1)
    px = (1 - tt) * r0 + tt * r1 * cos  # the point P(t) of the cone plane
    py = tt * r1 * sin
    h = px * px + py * py  # (T, K)
    dpx, dpy = r1 * cos - r0, r1 * sin  # P'
    source = 2.0 * (px * dpx + py * dpy)
    # fraction of the segment covered: polar angle over theta (its limit t r1 / px at theta = 0)
    safe_theta = torch.where(theta > 0, theta, torch.ones_like(theta))
    limit = torch.where(px > 0, tt * r1 / torch.where(px > 0, px, torch.ones_like(px)), torch.zeros_like(px))
    frac = torch.where(theta > 0, torch.atan2(py, px) / safe_theta, limit)
    points = start + frac[..., None] * delta  # (T, K, d)
    speed = r0 * r1 * torch.sinc(theta / math.pi)  # sqrt(h0 h1) sin(theta) / theta
    moving = h > 0
    rate = torch.where(moving, speed / torch.where(moving, h, torch.ones_like(h)), torch.zeros_like(h))
    velocities = rate[..., None] * delta
    return points, h, velocities, source


def _times(t, like: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Times as a 1-D tensor, and whether a single time was given."""
    tt = torch.as_tensor(t, dtype=like.dtype)
    if tt.dim() > 1:
        raise InputError(f"t must be a float or a 1-D tensor of times, got shape {tuple(tt.shape)}")
    tt = tt.reshape(-1).to(like.device)
    if not bool(torch.isfinite(tt).all()) or bool(((tt < 0) | (tt > 1)).any()):
        raise InputError("t must be in [0, 1]: the travelling-Dirac path is not extrapolated")
    return tt, torch.as_tensor(t).dim() == 0


def hk_interpolate(plan: HKPlan, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Particles of the WFR geodesic at time(s) ``t``: positions, masses, velocities, sources.

    Each row of the plan is a travelling Dirac (module docstring): mass
    ``h(t) = A t^2 - 2 B t + h0``, position moving along the segment at the angular
    rate of the cone geodesic, source ``s = dh/dt``; decays and growths stay put
    with masses ``(1 - t)^2 h0`` and ``t^2 h1``. The smoothed fields of these
    particles (:func:`~lagrangian_ot.fields.density`, ``momentum``) fade and grow.

    Parameters
    ----------
    plan : HKPlan
    t : float or Tensor
        A time in [0, 1], or a 1-D tensor of ``T`` times.

    Returns
    -------
    points, masses, velocities, sources : Tensor
        ``(K, d), (K,), (K, d), (K,)`` for a float; with a leading ``T`` for times.

    Examples
    --------
    >>> import torch
    >>> x, y = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    >>> plan = hk_plan(x, y, torch.tensor([1.0]), torch.tensor([1.0]), kappa=1.0)
    >>> z, h, v, s = hk_interpolate(plan, 0.5)
    >>> round(float(z[0, 0]), 6), round(float(h[0]), 6), round(float(s[0]), 6)  # the midpoint, lighter
    (0.5, 0.938791, 0.0)
    """
    if not isinstance(plan, HKPlan):
        raise InputError(f"plan must be an HKPlan (from hk_plan), got {type(plan).__name__}")
    tt, scalar = _times(t, plan.h0)
    points, masses, velocities, sources = _state(plan, tt)
    if scalar:
        return points[0], masses[0], velocities[0], sources[0]
    return points, masses, velocities, sources


def hk_action(plan: HKPlan, n_times: int = 16) -> float:
    """``int_0^1 sum_k (h_k |v_k|^2 + kappa^2 s_k^2 / h_k) dt`` along the particle paths.

    Gauss-Legendre in time with ``n_times`` nodes, in float64. Equals ``plan.value``
    (each particle's integrand is constant in time on a cone geodesic), and thus
    ``WFR^2`` up to the solver's gap.

    Examples
    --------
    >>> import torch
    >>> plan = hk_plan(torch.tensor([[0.0]]), torch.tensor([[1.0]]), None, None, kappa=1.0)
    >>> round(hk_action(plan), 5), round(float(plan.value), 5)  # 8 (1 - cos(1/2))
    (0.97934, 0.97934)
    """
    if not isinstance(plan, HKPlan):
        raise InputError(f"plan must be an HKPlan (from hk_plan), got {type(plan).__name__}")
    n_times = check_int(n_times, "n_times", 1)
    nodes, weights = np.polynomial.legendre.leggauss(n_times)
    p64 = _as_double(plan)
    t = torch.tensor((nodes + 1) / 2, dtype=torch.float64, device=p64.h0.device)
    _, h, v, s = _state(p64, t)
    integrand = h * (v * v).sum(-1) + plan.kappa**2 * s * s / h  # (T, K); h > 0 inside (0, 1)
    w = torch.tensor(weights / 2, dtype=torch.float64, device=h.device)
    return float((w * integrand.sum(-1)).sum())


def _as_double(plan: HKPlan) -> HKPlan:
    d = {name: getattr(plan, name).double() for name in ("x", "y", "a", "b", "gamma", "h0", "h1")}
    return HKPlan(
        src=plan.src, dst=plan.dst, kappa=plan.kappa, value=plan.value, static=plan.static, lower=plan.lower,
        gap=plan.gap, method=plan.method, info=plan.info, **d,
    )  # fmt: skip


__all__ = ["HKPlan", "cost_matrix", "hk_action", "hk_interpolate", "hk_plan"]
