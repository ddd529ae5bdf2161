"""Eulerian fields of a particle cloud by Gaussian kernel smoothing.

For particles ``Z_k`` with masses ``mass_k`` and velocities ``V_k``:

    rho(x) = sum_k mass_k G_sigma(x - Z_k),     m(x) = sum_k mass_k V_k G_sigma(x - Z_k),
    v(x) = m(x) / rho(x)  (Nadaraya-Watson) where rho is not negligible.

``G_sigma`` is the normalised Gaussian of standard deviation ``sigma`` (a scalar,
or one value per axis), so ``int rho = sum_k mass_k``. Along McCann
characteristics these fields satisfy ``d_t rho + div m = 0`` exactly.

Fields are evaluated on a :class:`~lagrangian_ot.Grid` (returns ``(..., *grid.shape)``)
or at query points ``(Q, d)`` (returns ``(..., Q)``).

Backends (``backend=``, the list and the choice are :mod:`lagrangian_ot.kernels`'):
``"torch"``, exact sums (on grids the Gaussian factorises over axes and the sum
is a chain of matrix products; at query points, blocked sums); ``"fft"``, linear
binning on a grid of at least four bins per standard deviation and FFT
convolution (grids only, relative error under 1e-3 in the max norm; at query
points the exact sums); ``"keops"``, exact sums streamed by KeOps (only when
asked for: see ``kernels.backend.resolve_backend``); ``"auto"``: on grids, the
exact separable sums until they would exceed about 2e8 (particle x cell x
channel) terms on the CPU (1e12 on CUDA), FFT beyond; at query points the
blocked torch sums, on every device.
"""

from __future__ import annotations

import math

import torch

from .errors import InputError, check_positive
from .grid import Grid
from .kernels import BACKENDS, gaussian_sum, gaussian_sum_grid


def _check(points, mass, where, sigma, backend, velocity=None):
    if not isinstance(points, torch.Tensor) or points.dim() < 2:
        raise InputError(
            "points must be a tensor of shape (..., K, d), "
            f"got {getattr(points, 'shape', type(points))}"
        )
    if not points.is_floating_point():
        raise InputError(f"points must be floating, got {points.dtype}")
    K, d = points.shape[-2], points.shape[-1]
    if K == 0:
        raise InputError("points is empty: no particles to smooth")
    if not bool(torch.isfinite(points).all()):
        raise InputError("points contain NaN or infinite values")
    mass = torch.as_tensor(mass, dtype=points.dtype, device=points.device)
    try:
        mass = torch.broadcast_to(mass, points.shape[:-1])
    except RuntimeError:
        raise InputError(
            f"mass {tuple(mass.shape)} does not match points {tuple(points.shape[:-1])}"
        ) from None
    if not bool(torch.isfinite(mass).all()):
        raise InputError("mass contains NaN or infinite values")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    s = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
    if s.numel() not in (1, d):
        raise InputError(f"sigma must be a number or {d} numbers (one per axis), got {s.numel()}")
    for v in s.tolist():
        check_positive(v, "sigma")
    if isinstance(where, Grid):
        if where.dim != d:
            raise InputError(f"grid has {where.dim} axes but points have dimension {d}")
    elif isinstance(where, torch.Tensor):
        if where.dim() != 2 or where.shape[-1] != d:
            raise InputError(f"queries must have shape (Q, {d}), got {tuple(where.shape)}")
    else:
        raise InputError(
            f"fields are evaluated on a Grid or at query points (Q, d), got {type(where).__name__}"
        )
    if velocity is not None:
        velocity = torch.as_tensor(velocity, dtype=points.dtype, device=points.device)
        try:
            velocity = torch.broadcast_to(velocity, points.shape)
        except RuntimeError:
            raise InputError(
                f"velocity {tuple(velocity.shape)} does not match points {tuple(points.shape)}"
            ) from None
        if not bool(torch.isfinite(velocity).all()):
            raise InputError("velocity contains NaN or infinite values")
    sig = s.item() if s.numel() == 1 else s.to(points.dtype)
    return mass, sig, velocity


def _smooth(points, weights, where, sigma, backend) -> torch.Tensor:
    """``(..., K, d)``, ``(..., K, c)`` -> ``(..., *grid.shape, c)`` or ``(..., Q, c)``."""
    if isinstance(where, Grid):
        cells = math.prod(where.shape) * math.prod(weights.shape[:-2]) * weights.shape[-1]
        if cells * weights.element_size() > 8 << 30:
            raise InputError(
                f"fields on this grid would need {cells * weights.element_size() / 2**30:.1f} GiB"
            )
        # float64: FFT reads the spacing from them
        axes = [ax.to(device=points.device) for ax in where.axes]
        try:
            return gaussian_sum_grid(axes, points, weights, sigma, backend=backend)
        except ValueError as exc:  # a grid too large for memory, said before allocating
            raise InputError(str(exc)) from None
    q = where.to(device=points.device, dtype=points.dtype)
    return gaussian_sum(q, points, weights, sigma, backend=backend)


def density(points, mass, where, sigma, *, backend: str = "auto") -> torch.Tensor:
    """Kernel-smoothed density ``rho = sum_k mass_k G_sigma(. - Z_k)``.

    ``points (..., K, d)``, ``mass (K,)`` or ``(..., K)``; ``where`` a Grid or
    queries ``(Q, d)`` -> ``(..., *grid.shape)`` or ``(..., Q)``. ``backend``: one of
    ``kernels.BACKENDS`` (module docstring).
    """
    mass, sig, _ = _check(points, mass, where, sigma, backend)
    return _smooth(points, mass.unsqueeze(-1), where, sig, backend)[..., 0]


def momentum(points, mass, velocity, where, sigma, *, backend: str = "auto") -> torch.Tensor:
    """Kernel-smoothed momentum ``m = sum_k mass_k V_k G_sigma(. - Z_k)``,
    ``(..., *grid.shape, d)``."""
    mass, sig, vel = _check(points, mass, where, sigma, backend, velocity)
    return _smooth(points, mass.unsqueeze(-1) * vel, where, sig, backend)


def density_and_momentum(points, mass, velocity, where, sigma, *, backend: str = "auto"):
    """``(rho, m)`` in one pass over the particles."""
    mass, sig, vel = _check(points, mass, where, sigma, backend, velocity)
    w = torch.cat([mass.unsqueeze(-1), mass.unsqueeze(-1) * vel], dim=-1)  # (..., K, 1 + d)
    out = _smooth(points, w, where, sig, backend)
    return out[..., 0], out[..., 1:]


def velocity(
    points, mass, velocity, where, sigma, *, floor: float = 1e-3, backend: str = "auto"
) -> torch.Tensor:
    """Nadaraya-Watson velocity ``v = m / rho``; zero where ``rho < floor * max(rho)``.

    Returns ``(..., *grid.shape, d)`` or ``(..., Q, d)``.
    """
    if not (0 <= float(floor) < 1):
        raise InputError(f"floor must be in [0, 1), got {floor}")
    rho, m = density_and_momentum(points, mass, velocity, where, sigma, backend=backend)
    spatial = tuple(range(-where.dim, 0)) if isinstance(where, Grid) else (-1,)
    peak = rho.abs().amax(dim=spatial, keepdim=True)  # (..., 1, ..., 1)
    ok = rho > float(floor) * peak
    safe = torch.where(ok, rho, torch.ones_like(rho))
    return torch.where(ok.unsqueeze(-1), m / safe.unsqueeze(-1), torch.zeros_like(m))
