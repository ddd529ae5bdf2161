"""The result of :func:`~lagrangian_ot.hk_plan`: travelling particles, and the cone cost of one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..result import upper_bound


@dataclass(frozen=True)
class HKPlan:
    """An optimal semi-coupling for Wasserstein-Fisher-Rao transport (see the docstring of
    :mod:`lagrangian_ot.hk`).

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
    gap : Tensor
        ``value - lower``: certified bound on ``value - WFR^2``.
    method : str
        ``"sinkhorn"``: the entropic plan (annealed unbalanced Sinkhorn, then Newton steps).
    converged : bool
        The final first-order marginal residual is at most ``max(tol, 1e-4)`` (above, ``hk_plan``
        warns).
    info : dict
        Solver details: ``iterations`` (Sinkhorn updates and Newton steps), ``residuals``
        (``marginal``), ``blur``, ``epsilon``, ``residual`` (first-order marginal residual),
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
    gap: torch.Tensor
    method: str = "sinkhorn"
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not isinstance(self.gap, torch.Tensor):  # a scalar tensor like ``value``, as Plan.gap
            object.__setattr__(self, "gap", upper_bound(self.gap, self.value))

    @property
    def converged(self) -> bool:
        """Whether the solver reached its tolerance (the shared result protocol)."""
        return bool(self.info.get("converged", True))

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
        """Cone angle ``theta = |end - start| / (2 kappa)`` of each particle, ``(K,)``, below
        pi/2."""
        start, end = _ends(self)
        return (end - start).norm(dim=-1) / (2.0 * self.kappa)

    @property
    def pair_costs(self) -> torch.Tensor:
        """Cone cost ``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos theta)`` of each particle,
        ``(K,)``."""
        return _cone_cost(self.h0, self.h1, self.angle, self.kappa)


def _ends(plan: HKPlan) -> tuple[torch.Tensor, torch.Tensor]:
    return _endpoints(plan.x, plan.y, plan.src, plan.dst)


def _endpoints(x, y, src, dst) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end of each particle, ``(K, d)`` each: a decay ends, a growth starts, where it
    stands."""
    has_src = (src >= 0).unsqueeze(-1)
    has_dst = (dst >= 0).unsqueeze(-1)
    xs = x[src.clamp_min(0)]
    yd = y[dst.clamp_min(0)]
    return torch.where(has_src, xs, yd), torch.where(has_dst, yd, xs)


def _cone_cost(
    h0: torch.Tensor, h1: torch.Tensor, theta: torch.Tensor, kappa: float
) -> torch.Tensor:
    """``4 kappa^2 (h0 + h1 - 2 sqrt(h0 h1) cos theta)``, written without cancellation."""
    r0, r1 = h0.sqrt(), h1.sqrt()
    return 4.0 * kappa**2 * ((r0 - r1) ** 2 + 4.0 * r0 * r1 * torch.sin(0.5 * theta) ** 2)
