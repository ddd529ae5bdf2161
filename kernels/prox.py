"""Per-cell proximal map of the Benamou-Brenier action ``|m|^2 / rho``.

On the CPU a C loop (``native/prox.c``) runs Newton's method cell by cell with
its own stopping test; elsewhere the same iteration runs as whole-tensor torch
operations until every cell has converged.
"""

from __future__ import annotations

import torch

from . import native

NEWTON_MAX = 60


def _tolerance(dtype) -> float:
    return 8 * torch.finfo(dtype).eps


def prox_w2_torch(
    r: torch.Tensor, m: torch.Tensor, gamma: float, start: torch.Tensor | None = None
):
    """Whole-tensor Newton iteration (any device)."""
    q = gamma * (m * m).sum(0)
    x = r.clamp(min=0)
    if start is not None:  # where m~ = 0 the root is max(r, 0) itself
        x = torch.where(q > 0, torch.maximum(x, start), x)
    tol = _tolerance(r.dtype)
    for _ in range(NEWTON_MAX):
        g = x + 2 * gamma
        f = (x - r) * g * g - q
        df = g * (3 * x + 2 * gamma - 2 * r)
        step = torch.where(q > 0, f / df.clamp(min=torch.finfo(r.dtype).tiny), 0.0)
        x = x - step
        if bool((step.abs() <= tol * (x.abs() + gamma)).all()):
            break
    rho = x.clamp(min=0)
    return rho, m * (rho / (rho + 2 * gamma))


def prox_w2(r: torch.Tensor, m: torch.Tensor, gamma: float, start: torch.Tensor | None = None):
    """``argmin gamma |m|^2 / rho + |rho - r|^2 / 2 + |m - m~|^2 / 2`` per cell.

    ``r (N...)`` centred densities, ``m (k, N...)`` the momentum-like parts,
    ``start`` an optional guess for the density (the previous result).
    """
    if r.device.type == "cpu" and r.dtype in (torch.float32, torch.float64):
        return native.prox_w2(r, m, float(gamma), start, NEWTON_MAX, _tolerance(r.dtype))
    return prox_w2_torch(r, m, gamma, start)
