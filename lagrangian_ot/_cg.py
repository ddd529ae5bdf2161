"""Preconditioned conjugate gradients, on one or many symmetric positive definite systems at once.

Used by the Newton steps of :func:`~lagrangian_ot.hk_plan` (one system, Jacobi
preconditioner) and by :func:`~lagrangian_ot.dynamic.least_action_velocity` (one system
per time step, advanced together in one tensor, DCT preconditioner).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["pcg"]


def _inner(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-system inner products ``(B, 1, ..., 1)`` of ``x, y (B, ...)``."""
    return (x * y).flatten(1).sum(1).reshape((-1,) + (1,) * (x.dim() - 1))


def pcg(
    apply: Callable[[torch.Tensor], torch.Tensor],
    precondition: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    rtol: float,
    max_iter: int,
) -> tuple[torch.Tensor, int, bool]:
    """Solve ``A x = b`` for the systems ``b (B, ...)`` (one per leading index) by conjugate
    gradients.

    ``apply`` computes ``A p`` and ``precondition`` ``M^-1 r`` for a whole batch. A system
    stops (is frozen) when its residual reaches ``|r| <= rtol |b|``, or when it loses positive
    curvature (round-off on a nearly singular direction): it then keeps the iterate so far,
    or, at the first iteration, the preconditioned residual ``M^-1 b`` (an ascent direction,
    never inf or NaN).

    Returns ``(x, iterations, converged)``: ``converged`` is whether every system reached
    ``rtol``.

    Examples
    --------
    >>> import torch
    >>> A = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> b = torch.ones(1, 2, dtype=torch.float64)
    >>> x, its, ok = pcg(lambda p: p @ A, lambda r: r / A.diagonal(), b, 1e-12, 10)
    >>> [round(v, 6) for v in x[0].tolist()], its, ok
    ([0.181818, 0.272727], 2, True)
    """
    x = torch.zeros_like(b)
    r = b.clone()
    target = rtol * _inner(b, b).sqrt()
    z = precondition(r)
    p = z
    rz = _inner(r, z)
    active = _inner(r, r).sqrt() > target
    lost = torch.zeros_like(active)
    it = 0
    while it < max_iter and bool(active.any()):
        q = apply(p)
        curvature = _inner(p, q)
        broke = active & ~(curvature > 0)
        if bool(broke.any()):
            if it == 0:
                x = torch.where(broke, z, x)
            lost, active = lost | broke, active & ~broke
        alpha = torch.where(active, rz / torch.where(curvature > 0, curvature, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * q
        it += 1
        active = active & (_inner(r, r).sqrt() > target)
        if not bool(active.any()):
            break
        z = precondition(r)
        rz_new = _inner(r, z)
        beta = torch.where(active & (rz != 0), rz_new / torch.where(rz != 0, rz, 1.0), 0.0)
        p = z + beta * p
        rz = rz_new
    return x, it, not bool((active | lost).any())
