"""Input checks of :func:`~lagrangian_ot.markov.markov_distance`: the chain, the endpoints, the
connected components of the graph of the rates, and the starting path."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError

FLOOR = 1e-9
"""If a density ``p_x / pi_x`` of either endpoint is below this, both are replaced by
``(1 - FLOOR) p + FLOOR pi`` (both, so that they keep equal masses on every component). This
moves them by at most ``2 FLOOR`` in total variation, and the distance by about
``FLOOR sqrt(log(1 / FLOOR))``."""


def _tolerance(dtype: torch.dtype) -> float:
    """How far a float vector of this dtype may be from summing to 1 (and rates from reversible)."""
    return min(1e-3, max(1e-9, 100.0 * torch.finfo(dtype).eps))


def _check_tensor(x, name: str, dim: int) -> torch.Tensor:
    shape = "(n,)" if dim == 1 else "(n, n)"
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}")
    if x.dim() != dim:
        raise InputError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating tensor, got {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name} contains NaN or infinite values")
    return x


def _check_probability(p: torch.Tensor, name: str, n: int, tol: float) -> torch.Tensor:
    """A nonnegative vector of length ``n`` summing to 1 within ``tol``, as float64,
    renormalised."""
    if p.shape[0] != n:
        raise InputError(f"{name} has length {p.shape[0]}, but rho0 has length {n}")
    if bool((p < 0).any()):
        raise InputError(
            f"{name} has negative entries (smallest {float(p.min()):.3g}); masses must be >= 0"
        )
    p = p.double()
    total = float(p.sum())
    if abs(total - 1.0) > tol:
        raise InputError(f"{name} sums to {total:.6g}, not 1; divide by its sum")
    return p / total


def _check_rates(rates: torch.Tensor, pi: torch.Tensor, tol: float) -> torch.Tensor:
    """The symmetric edge weights ``w_xy = pi_x K(x, y)`` (zero diagonal), float64."""
    n = pi.shape[0]
    if tuple(rates.shape) != (n, n):
        raise InputError(f"rates must have shape ({n}, {n}) to match pi, got {tuple(rates.shape)}")
    k = rates.double().clone()
    k.fill_diagonal_(0.0)
    if bool((k < 0).any()):
        x, y = np.unravel_index(int(torch.argmin(k)), (n, n))
        raise InputError(
            f"rates has negative off-diagonal entries (K({x}, {y}) = {float(k[x, y]):.3g})"
        )
    flow = pi[:, None] * k
    gap = (flow - flow.T).abs()
    bad = gap > tol * torch.maximum(flow, flow.T)
    if bool(bad.any()):
        x, y = (int(i) for i in torch.nonzero(bad)[0])
        raise InputError(
            "rates are not reversible with respect to pi: "
            f"pi_x K(x, y) = {float(flow[x, y]):.6g} but "
            f"pi_y K(y, x) = {float(flow[y, x]):.6g} for (x, y) = ({x}, {y})"
        )
    return 0.5 * (flow + flow.T)


def _components(w: torch.Tensor) -> np.ndarray:
    """The connected component of each state in the graph ``w > 0``, labelled 0, 1, ..."""
    adjacent = (w > 0).cpu().numpy()
    n = adjacent.shape[0]
    label = np.full(n, -1)
    count = 0
    for start in range(n):
        if label[start] >= 0:
            continue
        label[start] = count
        stack = [start]
        while stack:
            x = stack.pop()
            for y in np.flatnonzero(adjacent[x] & (label < 0)):
                label[y] = count
                stack.append(int(y))
        count += 1
    return label


def _match_components(
    p0: torch.Tensor, p1: torch.Tensor, label: np.ndarray, tol: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The averaging projector onto functions constant on each component, ``(n, n)``, and ``p1``
    rescaled on each component to carry exactly the mass of ``p0`` there (which must agree)."""
    n = label.shape[0]
    proj = torch.zeros(n, n, dtype=torch.float64, device=p0.device)
    p1 = p1.clone()
    for c in range(int(label.max()) + 1):
        nodes = torch.as_tensor(np.flatnonzero(label == c), device=p0.device)
        m0, m1 = float(p0[nodes].sum()), float(p1[nodes].sum())
        if abs(m0 - m1) > tol:
            shown = (
                str(nodes.tolist()) if len(nodes) <= 8 else str(nodes[:8].tolist())[:-1] + ", ...]"
            )
            raise InputError(
                f"rho0 and rho1 put different masses ({m0:.6g} vs {m1:.6g}) on the states {shown}, "
                "which no edge joins to the others: the distance is infinite"
            )
        p1[nodes] = p1[nodes] * (m0 / m1) if m1 > 0 else m0 / len(nodes)
        proj[nodes[:, None], nodes[None, :]] = 1.0 / len(nodes)
    return proj, p1


def _initial_path(
    p0: torch.Tensor, p1: torch.Tensor, pi: torch.Tensor, label: torch.Tensor, steps: int
):
    """``(T + 1, n)``: the straight path, pulled towards ``pi`` (rescaled to the mass of ``p0`` on
    every component) by ``sin(pi t) / 2``, so that no interior node starts near zero."""
    count = int(label.max()) + 1
    mass = p0.new_zeros(count).index_add(0, label, p0)
    nu = pi * (mass / p0.new_zeros(count).index_add(0, label, pi))[label]
    s = torch.linspace(0.0, 1.0, steps + 1, dtype=p0.dtype, device=p0.device)[:, None]
    pull = 0.5 * torch.sin(math.pi * s)
    pull[[0, -1]] = 0.0
    return (1.0 - pull) * ((1.0 - s) * p0 + s * p1) + pull * nu


def _floor(
    p0: torch.Tensor, p1: torch.Tensor, pi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both endpoints mixed with ``pi`` by :data:`FLOOR` if either has a density below it (both,
    so that they keep equal masses on every component)."""
    if float(torch.minimum(p0, p1).div(pi).min()) < FLOOR:
        return (1.0 - FLOOR) * p0 + FLOOR * pi, (1.0 - FLOOR) * p1 + FLOOR * pi
    return p0, p1
