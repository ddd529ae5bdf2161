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
- ``(|m|^2 + s^2) / rho`` (Wasserstein-Fisher-Rao, :class:`SourceProx`): as for W2
  with the source as one more component, but in the steps near the ends the source
  pays ``s^2 / ((sqrt a + sqrt b) / 2)^2`` on the step's start and end densities,
  a mean exact for pure growth and decay (:func:`~lagrangian_ot.kernels.prox.prox_fr`).
"""

from __future__ import annotations

import torch

from ..kernels.prox import prox_fr, prox_w2
from ._staggered import SOURCE_METRIC, near_steps

BISECTION_STEPS = 60

__all__ = ["SourceProx", "fr_mean", "prox_mobility", "prox_w2", "prox_wp", "source_density"]


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


def fr_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``((sqrt a + sqrt b) / 2)^2``: the density halfway between ``a`` and ``b`` along a pure
    growth (``sqrt(rho)`` affine in time); negative values count as zero."""
    return (0.5 * (a.clamp(min=0).sqrt() + b.clamp(min=0).sqrt())) ** 2


def source_density(rho: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The density the source acts on per centred cell: the average ``rho`` inside the path,
    ``fr_mean(a, b)`` in the steps near the ends (:func:`~._staggered.near_steps`; ``a, b``
    hold those steps only)."""
    return rho.index_copy(0, near_steps(rho.shape[0], str(rho.device)), fr_mean(a, b))


class SourceProx:
    """The prox of the unbalanced action on the centred parts ``(rho, m_1..m_d, s~, a, b)``
    (``r``, the stack ``m`` of the momenta and the source, and the copies ``a, b`` of the
    densities at the start and the end of the steps near the ends, as the splitting passes
    them).

    Transport pays ``|m|^2 / rho`` on the averaged density, and so does the source inside the
    path (one cubic prox for both); in the steps near the ends the source pays
    ``s~^2 / fr_mean(a, b)`` on the step's start and end densities instead, with the step
    ``gamma / SOURCE_METRIC`` (the splitting's metric weighs this part less, see
    :mod:`._staggered`). ``bind(rho0, rho1)`` gives the prox of one problem: the given end
    densities stay fixed in the first and last steps, and each call's start and end
    densities are the next call's guess (not when ``start`` is None, as after a change of
    step).
    """

    def __init__(self, dim: int, ends: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.dim = dim
        self.ends = ends
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def bind(self, rho0: torch.Tensor, rho1: torch.Tensor) -> SourceProx:
        return SourceProx(self.dim, (rho0, rho1))

    def __call__(self, r: torch.Tensor, m: torch.Tensor, gamma: float, start, a, b):
        d, near = self.dim, near_steps(r.shape[0], str(r.device))  # the steps of a and b
        s = m[d].index_select(0, near)
        m = m.clone()
        m[d].index_fill_(0, near, 0.0)  # the source near the ends is not the cubic prox's
        rho, mom = prox_w2(r, m, gamma, start)
        guess = None if start is None else self._last
        a, b, s = prox_fr(a, b, s[None], gamma / SOURCE_METRIC, self.ends, guess)
        self._last = (a, b)
        mom[d].index_copy_(0, near, s[0])
        return rho, mom, a, b
