"""Unbalanced transport on grids: entropic barycentre paths, balanced and KL-relaxed.

:func:`barycenter_path` interpolates two densities by weighted entropic
barycentres (iterative Bregman projections, Benamou et al. 2015), and with
``reach`` by their unbalanced version, whose marginals are relaxed by ``rho KL``
(Chizat et al. 2018), ``rho = 2 reach^2``. Conventions as everywhere in the
package: cost ``|x - y|^2`` (no 1/2), ``eps = 2 blur^2``, and the heat kernel
``K_ij = exp(-|x_i - x_j|^2 / eps) / Z`` whose rows sum to one on the grid's
lattice (``Z`` from :func:`kernel_log_scale`, about ``(pi eps)^(d/2) / dx``):
the entropy is relative to the Lebesgue measure, so the relaxed path keeps the
masses of its ends (POT's ``barycenter_unbalanced`` with the cost
``|x - y|^2 - eps log(1 / Z)`` computes the same; its plain ``exp(-M / eps)``
would inflate the mass of the ends by about ``Z``).

All iterations run in the log domain with the Gaussian kernel applied axis by
axis (it factorises on a tensor grid: ``kernels.softmin.GridKernel``), so small
blurs do not underflow, in the project's one Sinkhorn loop (``_sinkhorn.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from . import _sinkhorn
from ._progress import Progress
from .errors import InputError, check_int, check_positive, check_times, warn_user
from .grid import Grid, check_density_pair
from .kernels.softmin import GridKernel
from .kernels.threads import fit_threads


def kernel_log_scale(grid: Grid, eps: float) -> float:
    """The log of the factor that makes the Gaussian kernel's rows sum to one on this grid's
    lattice: ``-sum_a log sum_k exp(-(k h_a)^2 / eps)`` (``dx / (pi eps)^(d/2)`` when the
    steps ``h_a`` are small against the blur)."""
    total = 0.0
    for h in grid.spacing:
        reach = int(math.ceil(12.0 * math.sqrt(eps) / h)) + 1
        k = torch.arange(-reach, reach + 1, dtype=torch.float64)
        total -= float(torch.logsumexp(-((k * h) ** 2) / eps, dim=0))
    return total


@fit_threads(lambda alpha, *_, **__: alpha.numel() * max(alpha.shape) * 10)  # its largest logsumexp
def barycenter_path(
    alpha: torch.Tensor,
    beta: torch.Tensor,
    grid: Grid,
    times: Sequence[float] | torch.Tensor = (0.0, 0.25, 0.5, 0.75, 1.0),
    *,
    blur: float,
    reach: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 20_000,
    progress: bool | None = None,
) -> torch.Tensor:
    """Entropic barycentres of ``alpha`` and ``beta`` with weights ``(1 - t, t)``.

    Parameters
    ----------
    alpha, beta : Tensor
        Nonnegative densities on ``grid`` (shape ``grid.shape``; 1-D or 2-D grids,
        any dimension works); their masses are ``sum * grid.cell_volume``.
    grid : Grid
        The grid of both densities and of the result.
    times : sequence of float or Tensor
        Times in [0, 1].
    blur : float
        Entropic blur (a length): ``eps = 2 blur^2``.
    reach : float, optional
        None: balanced barycentres (equal masses needed; mass is conserved).
        A length: marginals relaxed by ``rho KL`` with ``rho = 2 reach^2``; the
        mass of the path may dip between the ends.
    tol : float
        Stop when the couplings' column marginals agree with the barycentres to ``tol``
        (L1, relative to the total mass); the Sinkhorn loop of ``match`` with a moving
        column marginal (iterative Bregman projections).
    max_iter : int
        Iteration cap (a ``RuntimeWarning`` says when it stops there).
    progress : bool or None
        Draw the iterations on stderr (None: only when stderr is a terminal).

    Returns
    -------
    Tensor ``(T, *grid.shape)``: the densities along the path (same dtype and
    device as ``alpha``). ``path.info``-like details are not attached; the
    result's masses are ``path.sum(dims) * grid.cell_volume``.
    """
    alpha, beta = check_density_pair(alpha, beta, grid, ("alpha", "beta"))
    blur = check_positive(blur, "blur")
    eps = 2.0 * blur**2
    ts, _ = check_times(times, "times")
    vol = grid.cell_volume
    mass_a, mass_b = float(alpha.sum()) * vol, float(beta.sum()) * vol
    if reach is None and abs(mass_a - mass_b) > 1e-6 * max(mass_a, mass_b):
        raise InputError(
            f"alpha and beta have different masses ({mass_a:.6g} vs {mass_b:.6g}); "
            "normalise them, or pass reach= for the unbalanced path"
        )
    max_iter = check_int(max_iter, "max_iter", 1)
    tol = check_positive(tol, "tol")
    rho = None if reach is None else 2.0 * check_positive(reach, "reach") ** 2
    fi = 1.0 if rho is None else rho / (rho + eps)
    dev, dtype = alpha.device, alpha.dtype
    work = torch.float64
    d = len(grid.shape)
    shift = eps * kernel_log_scale(grid, eps) / d  # the heat kernel's factor, spread over the axes
    kernel = GridKernel(
        [((ax[:, None] - ax[None, :]) ** 2 - shift).to(dev, work) for ax in grid.axes], grid.shape
    )
    T = ts.numel()
    w = torch.stack([1 - ts, ts], dim=1).to(dev, work).reshape((T, 2) + (1,) * d)  # (T, 2, 1...)
    logw = w.log()
    # plan k at time t: u_i K_ij v_j, u = (p_k / K v)^fi (KL-relaxed rows; fi = 1 balanced), in the
    # loop's terms u = a e^(f/eps) with log a = fi log p_k, and v = e^(h/eps), h = g + eps log q
    log_p = torch.stack([alpha, beta]).to(work).log()  # (2, *shape); -inf off the support
    log_a = (fi * log_p).expand(T, 2, *grid.shape)

    def barycentre(g_raw):  # log q from the columns' soft-minima (log K^T u = -g_raw / eps)
        if rho is None:  # balanced: geometric mean
            return -(w * g_raw).sum(1, keepdim=True) / eps
        # power mean
        return torch.logsumexp(logw - (1 - fi) * g_raw / eps, dim=1, keepdim=True) / (1 - fi)

    def target(g_raw):
        return (fi * barycentre(g_raw)).expand_as(g_raw)

    zero = torch.zeros((T, 2, *grid.shape), dtype=work, device=dev)
    with Progress(max_iter, enabled=progress, unit="it") as bar:
        res = _sinkhorn.converge(
            kernel, log_a, zero, zero, zero, eps, rho, tol, max_iter, target=target,
            translation=False, progress=bar,
        )  # fmt: skip
    # a density: the kernel carries the cell volume
    path = barycentre(kernel.cols(res.f + eps * log_a, eps))[:, 0].exp()
    if not bool(torch.isfinite(path).all()):
        raise RuntimeError("barycenter_path: non-finite values (try a larger blur)")
    if not res.converged:
        warn_user(
            f"barycenter_path stopped at max_iter={max_iter}: "
            f"the couplings' marginals are {res.error:.2e} "
            f"from the barycentres (tol {tol:.0e}); raise max_iter or use a larger blur"
        )
    return path.to(dtype)


def gaussian_mixture(
    grid_axis: torch.Tensor, components: Sequence[tuple[float, float, float]]
) -> torch.Tensor:
    """``sum_k w_k N(mu_k, s_k)`` evaluated on ``grid_axis`` (1-D): components ``(w, mu, s)``."""
    x = grid_axis.double()
    out = torch.zeros_like(x)
    for weight, mu, s in components:
        out += weight * torch.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))
    return out


# The seed's 1-D figure (REFERENCE.md section 3)
SEED_GRID = Grid((-3.0,), (3.0,), (260,))
SEED_ALPHA = ((0.88, -1.25, 0.17), (0.12, 0.72, 0.20))
SEED_BETA = ((0.12, -0.72, 0.20), (0.88, 1.25, 0.17))

__all__ = ["barycenter_path", "gaussian_mixture", "kernel_log_scale"]
