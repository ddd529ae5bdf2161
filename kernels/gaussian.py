"""Gaussian sums ``S(q) = sum_k w_k G_sigma(q - z_k)``.

``G_sigma`` is the normalised Gaussian with standard deviation ``sigma`` (a
scalar or one value per axis): ``G(r) = prod_a exp(-r_a^2 / 2 sigma_a^2) / sqrt(2 pi) sigma_a``.
Weights carry channels, so one pass gives a density (``w = mass``) and a
momentum (``w = mass * velocity``).

On a tensor-product grid the kernel factorises over axes and the sum is a
chain of small matrix products: ``S[a, b] = sum_k G0[a, k] G1[b, k] w_k``.
That is the exact sum, at the cost of a matrix multiply instead of
``(#grid points) x K`` exponentials.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .backend import resolve_backend, row_block


def _sigmas(sigma, d: int, like: torch.Tensor) -> torch.Tensor:
    s = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    return s.expand(d) if s.numel() == 1 else s


def gaussian_sum(
    queries: torch.Tensor,
    points: torch.Tensor,
    weights: torch.Tensor,
    sigma,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """Gaussian sums at arbitrary query points.

    ``queries (Q, d)``, ``points (..., K, d)``, ``weights (..., K, c)`` -> ``(..., Q, c)``.
    """
    d = points.shape[-1]
    s = _sigmas(sigma, d, points)  # (d,)
    norm = 1.0 / (math.pow(2 * math.pi, d / 2) * float(torch.prod(s)))
    centre = points.detach().reshape(-1, d).mean(0)  # distances by expansion lose digits far from 0
    q = (queries - centre) / s  # (Q, d)
    z = (points - centre) / s  # (..., K, d)
    if resolve_backend(backend, points.device) == "keops":
        return norm * _gauss_keops(q, z, weights)
    batch = z.shape[:-2]
    out = torch.empty(
        *batch, q.shape[0], weights.shape[-1], dtype=weights.dtype, device=weights.device
    )
    step = row_block(
        z.shape[-2] * max(1, math.prod(batch)), bytes_per_entry=4 * weights.element_size()
    )
    zz = (z * z).sum(-1).unsqueeze(-2)  # (..., 1, K)
    for s0 in range(0, q.shape[0], step):
        qb = q[s0 : s0 + step]  # (b, d)
        r2 = (qb * qb).sum(-1, keepdim=True) + zz - 2.0 * qb @ z.transpose(-1, -2)  # (..., b, K)
        out[..., s0 : s0 + step, :] = torch.exp(-0.5 * r2.clamp_min_(0.0)) @ weights  # (..., b, c)
    return out * norm


def _gauss_keops(q: torch.Tensor, z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    from pykeops.torch import LazyTensor

    batch = z.shape[:-2]
    zb = z.reshape(-1, *z.shape[-2:])  # (B, K, d)
    wb = w.reshape(-1, *w.shape[-2:])  # (B, K, c)
    q_i = LazyTensor(q[None, :, None, :].contiguous())  # (1, Q, 1, d)
    z_j = LazyTensor(zb[:, None, :, :].contiguous())  # (B, 1, K, d)
    w_j = LazyTensor(wb[:, None, :, :].contiguous())  # (B, 1, K, c)
    k_ij = (-0.5 * ((q_i - z_j) ** 2).sum(-1)).exp()  # (B, Q, K) symbolic
    out = (k_ij * w_j).sum(dim=2)  # (B, Q, c)
    return out.reshape(*batch, q.shape[0], w.shape[-1])


FFT_WORK = 2e8  # exact separable sums above this many (particle x cell x channel) terms go to FFT
# On CUDA the separable sums are large matrix products: 100,000 particles x 5 times on
# 512^2 took 3.6 ms exact vs 12 ms by FFT on an H200, so FFT waits for much larger work.
FFT_WORK_CUDA = 1e12


def _fft_pays(axes, points, weights, sigma) -> bool:
    """Binning + FFT (error under 1e-3) once the exact sum would cost more than ``FFT_WORK``
    terms (``FFT_WORK_CUDA`` on CUDA).

    Not when the bandwidth is so small against the grid step that the binning
    grid would be huge (then the exact sums are cheap per cell anyway).
    """
    from .fft import MAX_BYTES, RATIO, fine_bytes, plan_size

    cells = math.prod(len(ax) for ax in axes)
    batch = math.prod(points.shape[:-2]) if points.dim() > 2 else 1
    work = FFT_WORK_CUDA if points.device.type == "cuda" else FFT_WORK
    if cells * points.shape[-2] * weights.shape[-1] * batch <= work or any(
        len(ax) < 2 for ax in axes
    ):
        return False
    fine = plan_size(axes, sigma, points.shape[-1], RATIO)
    return fine_bytes(fine, batch * weights.shape[-1], points.dtype) <= MAX_BYTES // 4


def gaussian_sum_grid(
    axes: Sequence[torch.Tensor],
    points: torch.Tensor,
    weights: torch.Tensor,
    sigma,
    *,
    backend: str = "auto",
) -> torch.Tensor:
    """Gaussian sums on the tensor-product grid ``axes[0] x ... x axes[d-1]``.

    ``axes``: d 1-D tensors of lengths ``N_a``; ``points (..., K, d)``,
    ``weights (..., K, c)`` -> ``(..., N_0, ..., N_{d-1}, c)``.
    ``backend``: ``"torch"`` (and ``"auto"`` for small problems) uses the
    separable product form (exact, matrix multiplies); ``"fft"`` bins the
    particles and convolves by FFT (relative error under 1e-3 in the max norm,
    chosen by ``"auto"`` when the exact sum would be expensive); ``"keops"``
    sums point by point through KeOps.
    """
    d = points.shape[-1]
    if len(axes) != d:
        raise ValueError(f"grid has {len(axes)} axes but points have dimension {d}")
    if backend == "fft" or (backend == "auto" and _fft_pays(axes, points, weights, sigma)):
        from .fft import gaussian_sum_fft

        return gaussian_sum_fft(axes, points, weights, sigma)
    axes = [ax.to(dtype=points.dtype) for ax in axes]
    if resolve_backend(backend, points.device) == "keops" and backend == "keops":
        mesh = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)  # (*shape, d)
        shape = mesh.shape[:-1]
        # (..., Q, c)
        out = gaussian_sum(mesh.reshape(-1, d), points, weights, sigma, backend="keops")
        return out.reshape(*out.shape[:-2], *shape, out.shape[-1])
    s = _sigmas(sigma, d, points)  # (d,)
    batch, K, c = points.shape[:-2], points.shape[-2], weights.shape[-1]
    shape = [len(ax) for ax in axes]
    # (..., c, *shape)
    out = torch.zeros(*batch, c, *shape, dtype=weights.dtype, device=weights.device)
    # block over particles so the factor matrices stay small
    per_particle = sum(shape) + c * shape[0] + (math.prod(shape[1:]) if d > 2 else 0)
    step = row_block(
        per_particle * max(1, math.prod(batch)),
        bytes_per_entry=weights.element_size(),
        budget=1 << 27,
    )
    for k0 in range(0, K, step):
        zb = points[..., k0 : k0 + step, :]  # (..., b, d)
        wb = weights[..., k0 : k0 + step, :]  # (..., b, c)
        factors = [
            torch.exp(-0.5 * ((ax[:, None] - zb[..., None, :, a]) / s[a]) ** 2)
            / (math.sqrt(2 * math.pi) * s[a])
            for a, ax in enumerate(axes)
        ]  # each (..., N_a, b)
        left = factors[0].unsqueeze(-3) * wb.transpose(-1, -2).unsqueeze(-2)  # (..., c, N_0, b)
        if d == 1:
            out += left.sum(-1)
            continue
        right = factors[1]  # (..., N_1, b)
        for f in factors[2:]:
            # (..., N_1 * ... * N_a, b)
            right = (right.unsqueeze(-2) * f.unsqueeze(-3)).flatten(-3, -2)
        prod = left @ right.transpose(-1, -2).unsqueeze(-3)  # (..., c, N_0, N_1 * ...)
        out += prod.reshape(*batch, c, *shape)
    return torch.movedim(out, -d - 1, -1)  # (..., *shape, c)
