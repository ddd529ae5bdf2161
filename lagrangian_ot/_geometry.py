"""Sizes of point clouds: the diameter that sets every solver's scale, and the particle
spacing that sets the figures' default bandwidth."""

from __future__ import annotations

import torch

__all__ = ["default_sigma", "diameter"]


def diameter(*clouds: torch.Tensor) -> float:
    """Diagonal of the bounding box of all the points of ``clouds`` (each ``(..., n, d)``) together.

    Examples
    --------
    >>> import torch
    >>> diameter(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 1.0]]))
    5.0
    """
    pts = torch.cat([c.reshape(-1, c.shape[-1]) for c in clouds])
    return float((pts.amax(0) - pts.amin(0)).norm())


def default_sigma(points: torch.Tensor) -> float:
    """Kernel bandwidth for densities of particles: about their spacing, never below 1/80 of their
    extent.

    ``points (K, d)``; spacing estimated as ``(area / K)^(1/d)`` of the bounding box.
    """
    p = points.detach().double().cpu().reshape(-1, points.shape[-1])
    span = (p.max(0).values - p.min(0).values).clamp_min(1e-12)
    extent = float(span.max())
    spacing = float(torch.prod(span)) ** (1 / p.shape[1]) / max(p.shape[0], 1) ** (1 / p.shape[1])
    return max(1.1 * spacing, extent / 80)
