"""Minimal-energy velocity of a prescribed density path on a grid.

Given densities ``rho_0, ..., rho_T`` at the cell centres of a :class:`~lagrangian_ot.Grid`
at times ``k dt``, :func:`least_action_velocity` finds, at every mid-time
``k + 1/2``, the flux of least kinetic energy that carries ``rho_k`` to ``rho_{k+1}``:

    minimise  sum_faces |m|^2 / w   subject to   (rho_{k+1} - rho_k) / dt + div m = 0,

whose solution is ``m = w grad phi`` with ``-div(w grad phi) = d_t rho`` (REFERENCE.md,
section 2). With ``kappa`` (Wasserstein-Fisher-Rao) a source ``s = rho g`` is allowed at
cost ``kappa^2 rho g^2`` and ``-div(w grad psi) + rho psi / kappa^2 = d_t rho``,
``g = psi / kappa^2``. :func:`dacorogna_moser_velocity` gives the classical
Dacorogna-Moser flux ``m = grad psi``, ``-Laplace psi = d_t rho``, for comparison.

Discretisation (staggered, finite volumes):

- ``rho_mid = (rho_k + rho_{k+1}) / 2`` and ``d_t rho = (rho_{k+1} - rho_k) / dt`` at the
  cell centres: second order at the mid-time.
- ``phi`` at cell centres; ``grad phi`` and the flux ``m`` on the faces between two cells,
  zero flux through the walls (Neumann).
- Face weights ``w``: the arithmetic mean of the two neighbouring cells of ``rho_mid``, plus a
  floor ``floor * max(rho_mid)`` (default ``1e-6``) so that the operator stays definite where
  the density vanishes. The arithmetic mean (not the harmonic one) lets mass flow into empty
  cells, which is what a moving density does at its front; the harmonic mean would close
  every face next to an empty cell. It is also the mean of the staggered Benamou-Brenier
  discretisation and second order for smooth densities.
- ``div m`` is the adjoint of ``-grad``: the discrete continuity equation
  ``d_t rho + div m = s`` then holds to solver tolerance, and the discrete action
  ``sum |m|^2 / w`` of the result is the least among all fluxes that satisfy it (the
  Dacorogna-Moser flux included, whose action is measured with the same weights).

Solver: conjugate gradients batched over all time steps (one system per step, all advanced
together in one tensor), preconditioned by ``S (-Laplace + 1/kappa^2)^+ S`` (one batched DCT
solve per iteration; ``1/kappa^2 = 0`` when balanced) with the Jacobi scaling
``S = diag(D)^{-1/2}``, ``D = diag(-div w grad) / diag(-Laplace)`` the mean face weight around
each cell. ``D^{1/2} (-Laplace) D^{1/2}`` matches ``-div(w grad)`` on the diagonal and, for
smooth ``w``, up to a zeroth-order term, so the preconditioner follows the density across its
whole range (six orders of magnitude with the floor). Measured on Gaussians, two Gaussians,
sharp-edged disks and white-noise densities in 1-D to 3-D (64^2, 24^3, 256 cells), to a
relative residual of 1e-8: 11-69 iterations, against 19-3000+ for the unscaled
``(-Laplace)^{-1} / mean(rho)`` (which stalls on smooth densities with empty regions) and
10-420 for the scaling by ``rho^{-1/2}`` itself (which fails at sharp edges and on rough
densities).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from .._cg import pcg
from ..errors import InputError, check_int, check_positive
from ..grid import Grid
from ..kernels.dct import laplace_eigenvalues, neumann_solve
from ._staggered import _average, centre_mean, div, grad, with_walls

__all__ = ["VelocityField", "dacorogna_moser_velocity", "least_action_velocity"]

MASS_TOLERANCE = 1e-6  # relative mass change per step tolerated by the balanced solver
_TOL_FLOOR = {torch.float32: 1e-5, torch.float64: 1e-13}  # reachable CG tolerances


@dataclass(frozen=True)
class VelocityField:
    """A velocity field (and growth rate) of a density path, at the mid-times.

    All tensors are on the device and in the dtype of the input path; ``T`` is the
    number of time steps and ``d`` the number of axes of the grid.

    Attributes
    ----------
    velocity : torch.Tensor
        ``(T, *shape, d)``: velocity at the cell centres (mean of the two face values
        along each axis, zero on the walls), at times ``(k + 1/2) dt``.
    potential : torch.Tensor
        ``(T, *shape)``: the potential, zero mean per step. Least action: ``phi`` with
        ``v = grad phi`` (``psi`` with ``g = psi / kappa^2`` for WFR). Dacorogna-Moser:
        ``psi`` with ``m = grad psi``.
    growth : torch.Tensor or None
        ``(T, *shape)``: growth rate ``g = psi / kappa^2`` (WFR), None when balanced.
    momentum : torch.Tensor
        ``(T, *shape, d)``: momentum ``rho v`` at the cell centres (mean of face fluxes).
    flux : tuple of torch.Tensor
        The face fluxes ``m_a``, one per axis, ``(T, ..., n_a + 1, ...)`` (faces normal to axis
        ``a``, the two wall faces included, where they are zero). With ``div m`` their
        differences divided by the spacing, ``d_t rho + div m = source`` holds.
    source : torch.Tensor or None
        ``(T, *shape)``: ``s = rho_mid * growth`` (WFR), None when balanced.
    action : float
        ``sum_k dt * int (sum_faces |m|^2 / w + kappa^2 rho_mid g^2) dx`` (no 1/2).
    action_rate : torch.Tensor
        ``(T,)``: the same per unit time at each step (``int rho |v|^2 (+ kappa^2 rho g^2)``).
    residual : float
        ``|d_t rho + div m - s| / |d_t rho|`` (Euclidean norms over the whole path, or the
        absolute norm when the path is static). Balanced: it includes the mass change of the
        path that was removed before solving (at most ``1e-6`` relative per step).
    iterations : int
        Conjugate-gradient iterations (1 for the direct Dacorogna-Moser solve).
    times : torch.Tensor
        ``(T,)``: the mid-times ``(k + 1/2) dt``.
    """

    velocity: torch.Tensor
    potential: torch.Tensor
    growth: torch.Tensor | None
    momentum: torch.Tensor
    flux: tuple[torch.Tensor, ...]
    source: torch.Tensor | None
    action: float
    action_rate: torch.Tensor
    residual: float
    iterations: int
    times: torch.Tensor


# ---------------------------------------------------------------------------
# input checks


def _check_path(rho_path, grid: Grid) -> torch.Tensor:
    if not isinstance(grid, Grid):
        raise InputError(f"grid must be a lagrangian_ot.Grid, got {type(grid).__name__}")
    rho = torch.as_tensor(rho_path).detach()
    if rho.is_complex():
        raise InputError("rho_path must be real, got a complex tensor")
    if rho.dtype not in (torch.float32, torch.float64):
        rho = rho.to(torch.float64 if rho.dtype == torch.float64 else torch.float32)
    if rho.dim() != grid.dim + 1 or tuple(rho.shape[1:]) != grid.shape or rho.shape[0] < 2:
        shape = ", ".join(map(str, grid.shape))
        raise InputError(
            f"rho_path must have shape (T + 1, *grid.shape) = (T + 1, {shape}) with T >= 1, "
            f"got {tuple(rho.shape)}"
        )
    if not bool(torch.isfinite(rho).all()):
        raise InputError("rho_path contains NaN or infinite values")
    if bool((rho < 0).any()):
        raise InputError("rho_path has negative values; densities must be nonnegative")
    return rho


def _check_mass(rho: torch.Tensor) -> None:
    """Raise when some step changes the total mass by more than ``MASS_TOLERANCE``."""
    mass = rho.double().flatten(1).sum(1)
    change = (mass[1:] - mass[:-1]).abs() / torch.maximum(mass[1:], mass[:-1]).clamp_min(1e-300)
    worst = int(change.argmax())
    if float(change[worst]) > MASS_TOLERANCE:
        raise InputError(
            f"rho_path does not conserve mass (step {worst} changes it by a relative "
            f"{float(change[worst]):.2e}); pass kappa= for the unbalanced (WFR) velocity "
            "with growth"
        )


# ---------------------------------------------------------------------------
# solvers


def _weights(rho_mid: torch.Tensor, floor: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Floored cell densities ``a`` and face weights (arithmetic means of ``a``)."""
    tiny = torch.finfo(rho_mid.dtype).tiny
    top = rho_mid.flatten(1).amax(1).clamp_min(tiny).reshape((-1,) + (1,) * (rho_mid.dim() - 1))
    cells = rho_mid + floor * top
    return cells, [_average(cells, 1 + a) for a in range(rho_mid.dim() - 1)]


def _jacobi_scale(faces: list[torch.Tensor], cells: torch.Tensor, spacing) -> torch.Tensor:
    """``(diag(-div w grad) / diag(-Laplace))^{-1/2}`` per cell: the preconditioner's scaling.

    The ratio is the mean face weight around each cell (``cells`` on a one-cell grid).
    """
    ones = [torch.ones_like(w) for w in faces]
    weighted = sum(centre_mean(w, 1 + a) / h**2 for a, (w, h) in enumerate(zip(faces, spacing)))
    plain = sum(centre_mean(w, 1 + a) / h**2 for a, (w, h) in enumerate(zip(ones, spacing)))
    return torch.where(plain > 0, weighted / torch.where(plain > 0, plain, 1.0), cells).rsqrt()


def _prepare(rho: torch.Tensor, dt: float):
    rho_mid = 0.5 * (rho[1:] + rho[:-1])
    dtrho = (rho[1:] - rho[:-1]) / dt
    return rho_mid, dtrho


def _result(flux, faces, rho_mid, dtrho, potential, growth, kappa, grid, dt, iterations):
    """Assemble a :class:`VelocityField` from interior face fluxes."""
    spacing = grid.spacing
    vel_faces = [f / w for f, w in zip(flux, faces)]
    velocity = torch.stack([centre_mean(v, 1 + a) for a, v in enumerate(vel_faces)], dim=-1)
    momentum = torch.stack([centre_mean(f, 1 + a) for a, f in enumerate(flux)], dim=-1)
    rate = sum((f * v).flatten(1).sum(1) for f, v in zip(flux, vel_faces))
    source = None
    residual = dtrho + div(flux, spacing, walls=False)
    if growth is not None:
        source = rho_mid * growth
        rate = rate + kappa**2 * (source * growth).flatten(1).sum(1)
        residual = residual - source
    rate = rate * grid.cell_volume
    scale = float(torch.linalg.vector_norm(dtrho))
    res = float(torch.linalg.vector_norm(residual))
    times = (torch.arange(dtrho.shape[0], dtype=dtrho.dtype, device=dtrho.device) + 0.5) * dt
    return VelocityField(
        velocity=velocity,
        potential=potential,
        growth=growth,
        momentum=momentum,
        flux=tuple(with_walls(f, 1 + a) for a, f in enumerate(flux)),
        source=source,
        action=float(rate.sum()) * dt,
        action_rate=rate,
        residual=res / scale if scale > 0 else res,
        iterations=iterations,
        times=times,
    )


def least_action_velocity(
    rho_path,
    grid: Grid,
    dt: float,
    *,
    kappa: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 2000,
    floor: float = 1e-6,
) -> VelocityField:
    """Minimal-energy velocity (and growth rate with ``kappa``) of a prescribed density path.

    At every mid-time ``(k + 1/2) dt`` solves ``-div(rho_mid grad phi) = d_t rho`` (Neumann)
    and sets ``v = grad phi``; with ``kappa`` (Wasserstein-Fisher-Rao) solves
    ``-div(rho_mid grad psi) + rho_mid psi / kappa^2 = d_t rho``, ``v = grad psi``,
    ``g = psi / kappa^2``. See the module docstring for the discretisation and solver.

    Parameters
    ----------
    rho_path : torch.Tensor
        ``(T + 1, *grid.shape)``: nonnegative densities at the cell centres at times
        ``k dt``. float32 or float64 (other dtypes are converted to float32); the results
        have its dtype and device.
    grid : Grid
        The grid (any number of axes).
    dt : float
        Time step, > 0.
    kappa : float, optional
        Length scale of the WFR growth cost (> 0). Without it the path must conserve mass
        (relative change per step at most ``1e-6``; the rest is removed before solving).
    tol : float
        Relative residual ``|r| / |d_t rho|`` at which conjugate gradients stop, per step
        (at least ``1e-5`` in float32).
    max_iter : int
        Most conjugate-gradient iterations (a RuntimeWarning says when they run out).
    floor : float
        Face weights are ``mean(rho_mid) + floor * max(rho_mid)`` per step, > 0.

    Returns
    -------
    VelocityField

    Raises
    ------
    InputError
        Bad shapes, NaN, negative densities, ``dt <= 0``, ``kappa <= 0``, or a path that does
        not conserve mass without ``kappa``.

    Examples
    --------
    >>> import torch
    >>> from lagrangian_ot import Grid
    >>> grid = Grid((-1.0,), (1.0,), (128,))
    >>> x = grid.axes[0]
    >>> path = torch.stack([torch.exp(-((x - 0.5 * t) ** 2) / 0.02) for t in (0.0, 0.02, 0.04)])
    >>> out = least_action_velocity(path, grid, 0.02)
    >>> out.velocity.shape
    torch.Size([2, 128, 1])
    >>> round(float(out.velocity[0, 64, 0]), 2)  # the translation speed
    0.5
    >>> out.residual < 1e-8
    True
    """
    rho = _check_path(rho_path, grid)
    dt = check_positive(dt, "dt")
    tol = check_positive(tol, "tol")
    floor = check_positive(floor, "floor")
    max_iter = check_int(max_iter, "max_iter", 1)
    if kappa is not None:
        kappa = check_positive(kappa, "kappa")
    else:
        _check_mass(rho)
    tol = max(tol, _TOL_FLOOR[rho.dtype])

    rho_mid, dtrho = _prepare(rho, dt)
    cells, faces = _weights(rho_mid, floor)
    spacing = grid.spacing
    shift = 0.0 if kappa is None else 1.0 / kappa**2
    reaction = None if kappa is None else rho_mid * shift
    lam = laplace_eigenvalues(grid.shape, spacing, dtype=rho.dtype, device=rho.device)
    scale = _jacobi_scale(faces, cells, spacing)

    def apply(u):
        out = -div([w * g for w, g in zip(faces, grad(u, spacing))], spacing, walls=False)
        return out if reaction is None else out + reaction * u

    def precondition(r):
        return scale * neumann_solve(scale * r, lam, shift, batch=1)

    b = dtrho
    if kappa is None:  # compatible right-hand side: zero mean per step
        b = dtrho - dtrho.flatten(1).mean(1).reshape((-1,) + (1,) * grid.dim)
    phi, iterations, converged = pcg(apply, precondition, b, tol, max_iter)
    if not converged:
        warnings.warn(
            f"least_action_velocity: conjugate gradients did not reach tol={tol:.1e} in "
            f"{max_iter} iterations; raise max_iter or the floor",
            RuntimeWarning,
            stacklevel=2,
        )
    growth = None
    if kappa is None:
        phi = phi - phi.flatten(1).mean(1).reshape((-1,) + (1,) * grid.dim)
    else:
        growth = phi * shift
    flux = [w * g for w, g in zip(faces, grad(phi, spacing))]
    return _result(flux, faces, rho_mid, dtrho, phi, growth, kappa, grid, dt, iterations)


def dacorogna_moser_velocity(
    rho_path, grid: Grid, dt: float, *, floor: float = 1e-6
) -> VelocityField:
    """Dacorogna-Moser velocity of a mass-conserving density path, for comparison.

    At every mid-time solves ``-Laplace psi = d_t rho`` (Neumann, one batched DCT solve) and
    takes the gradient flux ``m = grad psi`` on the faces, so ``v = m / w`` with the face
    weights of :func:`least_action_velocity` (same ``floor``). The discrete continuity
    equation holds to round-off, and the action ``sum |m|^2 / w`` is never below the least
    action of the same path.

    Parameters
    ----------
    rho_path : torch.Tensor
        ``(T + 1, *grid.shape)`` nonnegative densities at times ``k dt`` (mass conserving).
    grid : Grid
        The grid.
    dt : float
        Time step, > 0.
    floor : float
        Relative floor of the face weights, > 0.

    Returns
    -------
    VelocityField
        ``potential`` is ``psi`` (the flux potential), ``growth`` and ``source`` are None.

    Examples
    --------
    >>> import torch
    >>> from lagrangian_ot import Grid
    >>> grid = Grid((-1.0, -1.0), (1.0, 1.0), (32, 32))
    >>> x, y = torch.meshgrid(*grid.axes, indexing="ij")
    >>> path = torch.stack([torch.exp(-((x - t) ** 2 + y**2) / 0.05) for t in (0.0, 0.05)])
    >>> dm = dacorogna_moser_velocity(path, grid, 0.05)
    >>> la = least_action_velocity(path, grid, 0.05)
    >>> la.action <= dm.action
    True
    """
    rho = _check_path(rho_path, grid)
    dt = check_positive(dt, "dt")
    floor = check_positive(floor, "floor")
    _check_mass(rho)
    rho_mid, dtrho = _prepare(rho, dt)
    _, faces = _weights(rho_mid, floor)
    lam = laplace_eigenvalues(grid.shape, grid.spacing, dtype=rho.dtype, device=rho.device)
    b = dtrho - dtrho.flatten(1).mean(1).reshape((-1,) + (1,) * grid.dim)
    psi = neumann_solve(b, lam, 0.0, batch=1)
    flux = grad(psi, grid.spacing)
    return _result(flux, faces, rho_mid, dtrho, psi, None, None, grid, dt, 1)
