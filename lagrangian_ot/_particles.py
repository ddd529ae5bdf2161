"""The particles of a plan, balanced or not: what the figures, animations and panels draw.

Row ``k`` of a :class:`~lagrangian_ot.Plan` is a particle of mass ``plan.mass[k]`` moving at
constant velocity from ``x[src[k]]`` to ``y[dst[k]]`` (:func:`~lagrangian_ot.mccann`). Row ``k``
of an :class:`~lagrangian_ot.HKPlan` moves along the segment from ``plan.start[k]`` to
``plan.end[k]`` while its mass changes from ``h0[k]`` to ``h1[k]``
(:func:`~lagrangian_ot.hk_interpolate`); a particle without a source grows in place, one
without a target fades in place. Everything drawn from a plan goes through :func:`at`, so the
pictures of both kinds are the same code.
"""

from __future__ import annotations

import torch

from ._geometry import default_sigma
from .errors import InputError
from .hk import HKPlan, hk_interpolate
from .interpolate import mccann
from .plan import Plan

__all__ = ["at", "check", "displacement", "fades", "sigma_of"]


def check(plan, what: str = "figures") -> None:
    """Raise :class:`InputError` unless ``plan`` is one 2-D :class:`Plan` or :class:`HKPlan`."""
    if not isinstance(plan, (Plan, HKPlan)):
        raise InputError(f"expected a Plan or an HKPlan, got {type(plan).__name__}")
    if plan.src.dim() != 1:
        raise InputError(f"{what} take one plan; take problem i of a batched plan with plan[i]")
    if plan.x.shape[-1] != 2:
        raise InputError(f"{what} are drawn for 2-D clouds, got dimension {plan.x.shape[-1]}")


def fades(plan) -> bool:
    """Whether the particles' masses change in time (then frames share one opacity scale)."""
    return isinstance(plan, HKPlan)


def at(plan, t) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions, masses and velocities of the particles at time(s) ``t``.

    ``(K, d), (K,), (K, d)`` for a float ``t``; with a leading ``T`` for a 1-D tensor of times
    (the masses and velocities of a :class:`Plan` do not depend on ``t``: they are expanded).
    """
    if isinstance(plan, HKPlan):
        points, masses, velocities, _ = hk_interpolate(plan, t)
        return points, masses, velocities
    points = mccann(plan, t)
    if points.dim() == plan.velocity.dim():
        return points, plan.mass, plan.velocity
    steps = points.shape[0]
    return (
        points,
        plan.mass.expand(steps, *plan.mass.shape),
        plan.velocity.expand(steps, *plan.velocity.shape),
    )


def displacement(plan) -> torch.Tensor:
    """``(K, d)``: where each particle goes from ``t = 0`` to ``t = 1`` (zero where it only
    grows or fades); the arrows of the figures point along it."""
    if isinstance(plan, HKPlan):
        return plan.end - plan.start
    return plan.velocity


def sigma_of(plan) -> float:
    """The default kernel bandwidth: about the spacing of the source points (for an
    :class:`HKPlan` the smaller spacing of its two clouds, which may differ in size)."""
    if isinstance(plan, HKPlan):
        return min(default_sigma(plan.x), default_sigma(plan.y))
    return default_sigma(plan.x)
