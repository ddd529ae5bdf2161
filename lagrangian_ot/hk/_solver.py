"""The dual solver of the entropic entropy-transport problem: annealed unbalanced Sinkhorn, then
damped Newton steps with ``eps`` continuation (the package docstring, Solver)."""

from __future__ import annotations

import math

import torch

from .. import _entropic, _sinkhorn
from .._cg import pcg
from .._progress import Progress
from ._costs import _Costs

DENSE_NEWTON = 1_000  # Newton systems up to this size (n + m) are solved densely
NEWTON_FROM = 100.0  # Sinkhorn annealing stops at this multiple of eps; Newton continues
NEWTON_FACTOR = 0.3  # eps decrease per Newton level


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
    - eps (sum gamma - sum a b)``, its gradient (first-order marginal residuals) and Newton
      steps."""

    def __init__(self, costs: _Costs, a, b, rho: float, eps: float):
        self.costs, self.a, self.b, self.rho, self.eps = costs, a, b, rho, eps
        self.log_a, self.log_b = a.log(), b.log()
        self.total = float(a.sum() + b.sum())

    def evaluate(self, f, g):
        """``(D, grad_f, grad_g, residual, P0#gamma, P1#gamma)``;
        ``grad_f = a e^(-f/rho) - P0#gamma``.

        The residual is ``(|grad_f|_1 + |grad_g|_1) / (sum a + sum b)``.
        """
        eps, rho = self.eps, self.rho
        g0 = self.a * ((f - self.costs.softmin(g, self.log_b, eps)) / eps).exp()
        g1 = self.b * ((g - self.costs.softmin(f, self.log_a, eps, transpose=True)) / eps).exp()
        ea, eb = self.a * (-f / rho).exp(), self.b * (-g / rho).exp()
        mass = float(g0.sum())
        value = -rho * float(
            (self.a * torch.expm1(-f / rho)).sum() + (self.b * torch.expm1(-g / rho)).sum()
        )
        value -= eps * (mass - float(self.a.sum() * self.b.sum()))
        grad_f, grad_g = ea - g0, eb - g1
        residual = float(grad_f.abs().sum() + grad_g.abs().sum()) / self.total
        return value, grad_f, grad_g, residual, g0, g1

    def direction(self, f, g, grad_f, grad_g, g0, g1, row_cap: int, rtol: float):
        """Newton direction: ``-Hessian^-1 grad``, the Hessian being

        ``-[[D_f, gamma / eps], [gamma^T / eps, D_g]]``, with
        ``D_f = diag(a e^(-f/rho) / rho + g0 / eps)`` and
        ``D_g = diag(b e^(-g/rho) / rho + g1 / eps)``:
        a dense Cholesky solve for small problems, else Jacobi-preconditioned conjugate gradients on
        the plan's entries kept by :func:`_sparse_plan` (relative residual ``rtol``).
        """
        eps, rho = self.eps, self.rho
        n, m = f.shape[0], g.shape[0]
        diag = torch.cat(
            [self.a * (-f / rho).exp() / rho + g0 / eps, self.b * (-g / rho).exp() / rho + g1 / eps]
        )
        rhs = torch.cat([grad_f, grad_g])
        if self.costs.full is not None and n + m <= DENSE_NEWTON:
            plan = (
                self.log_a[:, None] + self.log_b + (f[:, None] + g - self.costs.full) / eps
            ).exp() / eps
            hess = torch.diag(diag)
            hess[:n, n:] = plan
            hess[n:, :n] = plan.t()
            chol, failed = torch.linalg.cholesky_ex(hess)
            if int(failed) == 0:
                return torch.cholesky_solve(rhs[:, None], chol)[:, 0]
            # positive definite, but not to round-off: eps << rho
            return torch.linalg.solve(hess, rhs)
        s, t, v, _ = _sparse_plan(self.costs, self.a, self.b, f, g, eps, row_cap)
        v = v / eps

        def matvec(u):
            uf, ug = u[:n], u[n:]
            out_f = torch.zeros_like(uf).index_add_(0, s, v * ug[t])
            out_g = torch.zeros_like(ug).index_add_(0, t, v * uf[s])
            return diag * u + torch.cat([out_f, out_g])

        u, _, _ = pcg(
            lambda p: matvec(p[0])[None], lambda r: r / diag, rhs[None], rtol, 2 * (n + m) + 50
        )
        return u[0]


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
    costs: _Costs,
    a,
    b,
    rho: float,
    eps: float,
    eps0: float,
    scaling: float,
    tol: float,
    max_iter: int,
    row_cap: int,
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
    # annealing, Newton levels
    total = 2 + max(0, math.ceil(math.log(e / eps) / math.log(1 / NEWTON_FACTOR)))
    with Progress(total, enabled=progress) as bar:
        bar.step("annealed Sinkhorn")
        f, g, updates = _anneal(costs, a, b, rho, e, eps0, scaling)
        steps, levels = 0, 0
        while True:
            last = e <= eps
            bar.step(f"Newton at eps {e:.1e}")
            f, g, k, residual = _newton(
                _Dual(costs, a, b, rho, e), f, g, tol if last else 1e-2, max_iter, row_cap
            )
            steps, levels = steps + k, levels + 1
            if last:
                break
            e = max(e * NEWTON_FACTOR, eps)
    info = {
        "sinkhorn_updates": updates,
        "newton_steps": steps,
        "newton_levels": levels,
        "residual": residual,
    }
    return f, g, info


def _lower_bound(
    costs: _Costs, f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, rho: float
) -> float:
    """Dual value ``rho [sum a (1 - e^(-f/rho)) + sum b (1 - e^(-g/rho))]`` at c-transformed
    potentials."""
    zero_a, zero_b = torch.zeros_like(a), torch.zeros_like(b)
    g = costs.softmin(f, zero_a, 0.0, transpose=True)  # g_j = min_i c_ij - f_i: feasible
    f = costs.softmin(g, zero_b, 0.0)  # f_i = min_j c_ij - g_j: feasible, and no smaller dual value
    return rho * float((a * -torch.expm1(-f / rho)).sum() + (b * -torch.expm1(-g / rho)).sum())


def _sparse_plan(costs: _Costs, a, b, f, g, eps: float, row_cap: int):
    """Per row, the ``row_cap`` largest plan entries above the relative floor (the entropic
    plans' builder, :func:`lagrangian_ot._entropic.sparse_plan`): ``src, dst, gamma, dropped``,
    sorted by ``src`` then ``dst``."""
    src, dst, gamma, dropped, _, _ = _entropic.sparse_plan(
        costs, f, g, a.log(), b.log(), eps, 0.0, row_cap=row_cap
    )
    return src, dst, gamma, dropped
