"""Proximal maps of the per-cell actions, vectorised over all cells.

Each takes the centred density ``r`` and the stacked momentum-like parts ``m``
(``(k, ...)``: the momentum components, and the scaled source for unbalanced
problems) and returns ``argmin gamma f(rho, m) + |rho - r|^2 / 2 + |m - m~|^2 / 2``.

- ``|m|^2 / rho`` (W2, no 1/2): the density is the largest real root of
  ``(X - r)(X + 2 gamma)^2 = gamma |m~|^2``, found by Newton's method from
  ``max(r, 0, previous)`` (:mod:`lagrangian_ot.kernels.prox`).
- ``|m|^p / rho^(p - 1)``: by Moreau's identity, since its conjugate is the
  indicator of ``{(a, b): a + (p - 1) p^(-q) |b|^q <= 0}``, ``q = p / (p - 1)``;
  the projection on that set is a scalar root search per cell.
- ``|m|^2 / rho^beta``, ``0 <= beta < 1`` (concave mobility): a scalar root
  search for the density, then ``m = m~ rho^beta / (rho^beta + 2 gamma)``;
  ``beta = 0`` has no positivity constraint.
"""

from __future__ import annotations

import torch

from ..kernels.prox import prox_w2

BISECTION_STEPS = 60

__all__ = ["prox_mobility", "prox_w2", "prox_wp"]


def _bisect(fun, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Root of the increasing ``fun`` in ``[lo, hi]`` per cell (``fun(lo) <= 0 <= fun(hi)``)."""
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        pos = fun(mid) > 0
        hi = torch.where(pos, mid, hi)
        lo = torch.where(pos, lo, mid)
    return 0.5 * (lo + hi)


def prox_wp(r: torch.Tensor, m: torch.Tensor, gamma: float, p: float):
    """Prox of ``gamma |m|^p / rho^(p - 1)`` through the projection on its conjugate's domain."""
    q = p / (p - 1)
    c = (p - 1) * p ** (-q)
    a0 = r / gamma
    b0 = m / gamma
    beta0 = b0.norm(dim=0)
    inside = a0 + c * beta0**q <= 0

    def h(beta):  # derivative of the squared distance along the boundary a = -c beta^q
        return c * q * beta ** (q - 1) * (c * beta**q + a0) + beta - beta0

    beta = _bisect(h, torch.zeros_like(beta0), beta0)
    a = torch.where(inside, a0, -c * beta**q)
    ratio = torch.where(
        inside | (beta0 == 0), torch.ones_like(beta0), beta / beta0.clamp(min=1e-300)
    )
    b = b0 * ratio
    return r - gamma * a, m - gamma * b


def prox_mobility(r: torch.Tensor, m: torch.Tensor, gamma: float, beta: float):
    """Prox of ``gamma |m|^2 / rho^beta`` for a concave mobility ``rho^beta``, ``0 <= beta < 1``."""
    if beta == 0:
        return r.clone(), m / (1 + 2 * gamma)
    mm = (m * m).sum(0)

    def g(rho):
        rb = rho**beta
        return rho - r - gamma * beta * mm * rho ** (beta - 1) / (rb + 2 * gamma) ** 2

    tiny = torch.finfo(r.dtype).tiny ** 0.25
    lo = torch.full_like(r, tiny)
    hi = r.clamp(min=0) + 1.0
    for _ in range(200):  # grow the bracket until it holds the root
        short = g(hi) < 0
        if not bool(short.any()):
            break
        hi = torch.where(short, 2 * hi, hi)
    rho = _bisect(g, lo, hi)
    rho = torch.where(mm > 0, rho, r.clamp(min=0))
    rb = rho**beta
    return rho, m * (rb / (rb + 2 * gamma))
