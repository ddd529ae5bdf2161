"""The dynamic side of a :class:`HKPlan`: travelling Diracs (positions, masses, velocities,
sources) and their action."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError, check_int, check_times
from ._plan import HKPlan, _ends


def _state(
    plan: HKPlan, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions, masses, velocities, sources at times ``t (T,)``:
    ``(T, K, d), (T, K), (T, K, d), (T, K)``."""
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
    limit = torch.where(
        px > 0, tt * r1 / torch.where(px > 0, px, torch.ones_like(px)), torch.zeros_like(px)
    )
    frac = torch.where(theta > 0, torch.atan2(py, px) / safe_theta, limit)
    points = start + frac[..., None] * delta  # (T, K, d)
    speed = r0 * r1 * torch.sinc(theta / math.pi)  # sqrt(h0 h1) sin(theta) / theta
    moving = h > 0
    rate = torch.where(
        moving, speed / torch.where(moving, h, torch.ones_like(h)), torch.zeros_like(h)
    )
    velocities = rate[..., None] * delta
    return points, h, velocities, source


def hk_interpolate(
    plan: HKPlan, t
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Particles of the WFR geodesic at time(s) ``t``: positions, masses, velocities, sources.

    Each row of the plan is a travelling Dirac (docstring of :mod:`lagrangian_ot.hk`): mass
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
    >>> round(float(z[0, 0]), 6), round(float(h[0]), 6), round(float(s[0]), 6)  # midpoint, lighter
    (0.5, 0.938791, 0.0)
    """
    if not isinstance(plan, HKPlan):
        raise InputError(f"plan must be an HKPlan (from hk_plan), got {type(plan).__name__}")
    tt, scalar = check_times(
        t, "t", hint=": the travelling-Dirac path is not extrapolated", dtype=plan.h0.dtype
    )
    tt = tt.to(plan.h0.device)
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
        src=plan.src, dst=plan.dst, kappa=plan.kappa, value=plan.value, static=plan.static,
        lower=plan.lower, gap=plan.gap, method=plan.method, info=plan.info, **d,
    )  # fmt: skip
