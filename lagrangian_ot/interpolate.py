"""McCann (displacement) interpolation of a plan."""

from __future__ import annotations

import torch

from .errors import check_times
from .plan import Plan, take


def mccann(plan: Plan, t, *, extrapolate: bool = False) -> torch.Tensor:
    """Particles ``Z_t = (1 - t) x[src] + t y[dst]`` of the plan at time(s) ``t``.

    Particle ``k`` carries ``plan.mass[k]`` and moves with constant velocity
    ``plan.velocity[k]``; for an optimal plan this is the Benamou-Brenier
    geodesic between the two clouds.

    Parameters
    ----------
    plan : Plan
    t : float or Tensor
        A time in [0, 1], or a 1-D tensor of ``T`` times.
    extrapolate : bool
        Allow times outside [0, 1] (the particles continue on their straight
        lines, which is no longer a geodesic between the two clouds). Without
        it such times are refused: ``mccann(plan, 1.5)`` is usually a mistake.

    Returns
    -------
    Tensor
        ``(K, d)`` for a float, ``(T, K, d)`` for ``T`` times (batched plans:
        ``(T, B, K, d)``), in the dtype and on the device of ``plan.x``.

    Examples
    --------
    >>> import torch
    >>> from lagrangian_ot import match, mccann
    >>> plan = match(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
    >>> mccann(plan, torch.tensor([0.0, 0.5, 1.0]))[:, 0, 0].tolist()
    [0.0, 1.0, 2.0]
    """
    x0 = take(plan.x, plan.src)  # (..., K, d)
    x1 = take(plan.y, plan.dst)  # (..., K, d)
    hint = "; pass extrapolate=True to continue the lines beyond"
    # in float64
    single = isinstance(t, (int, float)) or (isinstance(t, torch.Tensor) and t.dim() == 0)
    t, scalar = check_times(
        t, "t", extrapolate=extrapolate, hint=hint, dtype=None if single else x0.dtype
    )
    if scalar:
        return torch.lerp(x0, x1, float(t[0]))
    tt = t.to(x0.device).reshape(-1, *([1] * x0.dim()))  # (T, 1, ..., 1)
    return x0 + tt * (x1 - x0)  # (T, ..., K, d)
