"""The discrete transport distance of a reversible Markov chain (Maas 2011, Mielke 2011).

A finite chain on ``n`` states has jump rates ``K(x, y) >= 0`` (the diagonal is ignored) and
is reversible with respect to a positive probability vector ``pi``:
``pi_x K(x, y) = pi_y K(y, x)``. Conventions, used everywhere below:

* ``rho0``, ``rho1`` and the path ``p_t`` are probability vectors (masses, not densities);
  their densities with respect to ``pi`` are ``r_x = p_x / pi_x``;
* the edge weights are ``w_xy = pi_x K(x, y)`` (symmetric), and the edges are the unordered
  pairs ``{x, y}`` with ``w_xy > 0``;
* ``theta(a, b) = (a - b) / (log a - log b)`` is the logarithmic mean, ``theta(a, a) = a``,
  ``theta(a, 0) = 0``;
* a flux ``J_xy(t) = -J_yx(t)`` moves the path by the continuity equation
  ``d/dt p_x + sum_y J_xy = 0``;
* the action is ``A = int_0^1 sum_{edges {x, y}} J_xy^2 / (w_xy theta(r_x, r_y)) dt`` and
  ``W(rho0, rho1)^2 = min A`` over the paths from ``rho0`` to ``rho1``.

This is the distance of Maas (2011), whose action ``1/2 sum_{x, y} (psi_x - psi_y)^2
theta(r_x, r_y) K(x, y) pi_x`` (ordered pairs, hence the 1/2) is the same number, and for which
the heat flow is the gradient flow of the relative entropy (Maas 2011; Erbar and Maas 2012). On
the two-point chain ``pi = (1/2, 1/2)``, ``K(1, 2) = K(2, 1) = 1``, it is
``W((r, 1 - r), (s, 1 - s)) = |int_s^r du / sqrt(theta(u, 1 - u))|``.

Discretisation (time-staggered, ``T = n_times`` intervals of length ``dt = 1 / T``): the path is
kept at the nodes ``t_k = k dt``, ``k = 0..T``, the flux is constant on each interval
``[t_k, t_{k+1}]``, the continuity equation holds exactly as ``(p_{k+1} - p_k) / dt +
sum_y J_xy = 0``, and the mobility of an interval is the logarithmic mean of the *time-averaged*
densities, ``theta((r_x^k + r_x^{k+1}) / 2, (r_y^k + r_y^{k+1}) / 2)``. Each term ``J^2 /
theta(a, b)`` is jointly convex (``theta`` is concave and 1-homogeneous) and the averages are
linear, so the discrete problem is convex; it is second order in ``dt`` for smooth geodesics.
For a fixed path, the optimal flux on an interval is ``J_xy = c_xy (phi_x - phi_y)`` with
``c = w theta`` and ``phi`` solving the weighted graph Laplacian ``L_c phi = -(p_{k+1} - p_k) /
dt``, so the action reduces to ``sum_k delta_k^T L_{c_k}^+ delta_k / dt``,
``delta_k = p_{k+1} - p_k``: a smooth convex function of the interior nodes alone.

Solver: a primal barrier method in float64 on the device of the inputs. Damped Newton steps
minimise ``A(p) - mu sum_{k, x} log p_k(x)`` over the interior nodes, with the exact Hessian
(block tridiagonal in time; factored as one matrix when small, by block Cholesky otherwise), on
the affine set where every node keeps the mass of the endpoints on each connected component
(the heaviest state of each component is eliminated). Steps stop short of ``p = 0`` and are
backtracked until the barrier function decreases (Armijo). ``mu`` starts at ``A / (10 N)``
(``N`` the number of positivity constraints) and is divided by 10 whenever the Newton decrement
``lambda`` is small against ``N mu``; since ``A(p_mu) - min A <= N mu`` at the barrier's minimiser,
the run stops when ``(N mu + lambda^2 / 2) / A <= tol``, which estimates the relative excess of
the returned action over the discrete minimum. Newton's method, rather than a first-order
splitting, because the problems are small (``(T - 1) (n - 1)`` unknowns) and the logarithmic
mean is badly conditioned near empty states: the iteration count stays in the tens.

Endpoints with empty states are supported: if a density ``p_x / pi_x`` of either endpoint is
below :data:`FLOOR`, both endpoints are mixed with ``pi`` by ``FLOOR``. The continuum geodesic
then leaves (or reaches) the empty states with an unbounded second derivative, and the
discretisation error decays at about first order in ``dt`` instead of second.

References
----------
J. Maas, "Gradient flows of the entropy for finite Markov chains", J. Funct. Anal. 261 (2011).
M. Erbar and J. Maas, "Ricci curvature of finite Markov chains via convexity of the entropy",
Arch. Ration. Mech. Anal. 206 (2012).
A. Mielke, "A gradient structure for reaction-diffusion systems and for energy-drift-diffusion
systems", Nonlinearity 24 (2011).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import reduce

import numpy as np
import torch

from ..errors import InputError, check_int

__all__ = ["FLOOR", "MarkovGeodesic", "log_mean", "markov_distance"]

FLOOR = 1e-9
"""If a density ``p_x / pi_x`` of either endpoint is below this, both are replaced by
``(1 - FLOOR) p + FLOOR pi`` (both, so that they keep equal masses on every component). This
moves them by at most ``2 FLOOR`` in total variation, and the distance by about
``FLOOR sqrt(log(1 / FLOOR))``."""

_DENSE_LIMIT = 512  # reduced Newton systems up to this size are factored as one dense matrix
_SERIES = 0.1  # |log a - log b| below which theta(a, b) is evaluated by its Taylor series


@dataclass(frozen=True)
class MarkovGeodesic:
    """The result of :func:`markov_distance`.

    Attributes
    ----------
    distance : float
        ``W(rho0, rho1) = sqrt(value)``.
    value : float
        ``W^2``, the minimal discrete action.
    path : Tensor
        ``(T + 1, n)``: the probability vectors ``p_k`` at the times ``k / T``; ``path[0]`` and
        ``path[-1]`` are ``rho0`` and ``rho1`` (mixed with ``pi`` if they have zeros, see
        :data:`FLOOR`).
    flux : Tensor
        ``(T, n, n)``, antisymmetric: ``flux[k, x, y] = J_xy`` on ``[k / T, (k + 1) / T]``,
        zero off the edges, with ``(path[k + 1] - path[k]) * T + flux[k].sum(1) = 0``.
    iterations : int
        Newton steps taken.
    residual : float
        ``(N mu + lambda^2 / 2) / value`` at the returned path (barrier gap bound plus half the
        squared Newton decrement, see the module docstring): an estimate of the relative excess
        of ``value`` over the discrete minimum; 0 when nothing was solved (equal endpoints or
        ``n_times=1``).
    """

    distance: float
    value: float
    path: torch.Tensor
    flux: torch.Tensor
    iterations: int
    residual: float


# ---------------------------------------------------------------------------------------------
# input checks


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
    """A nonnegative vector of length ``n`` summing to 1 within ``tol``, as float64, renormalised."""
    if p.shape[0] != n:
        raise InputError(f"{name} has length {p.shape[0]}, but rho0 has length {n}")
    if bool((p < 0).any()):
        raise InputError(f"{name} has negative entries (smallest {float(p.min()):.3g}); masses must be >= 0")
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
        raise InputError(f"rates has negative off-diagonal entries (K({x}, {y}) = {float(k[x, y]):.3g})")
    flow = pi[:, None] * k
    gap = (flow - flow.T).abs()
    bad = gap > tol * torch.maximum(flow, flow.T)
    if bool(bad.any()):
        x, y = (int(i) for i in torch.nonzero(bad)[0])
        raise InputError(
            f"rates are not reversible with respect to pi: pi_x K(x, y) = {float(flow[x, y]):.6g} but "
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
            shown = str(nodes.tolist()) if len(nodes) <= 8 else str(nodes[:8].tolist())[:-1] + ", ...]"
            raise InputError(
                f"rho0 and rho1 put different masses ({m0:.6g} vs {m1:.6g}) on the states {shown}, "
                "which no edge joins to the others: the distance is infinite"
            )
        p1[nodes] = p1[nodes] * (m0 / m1) if m1 > 0 else m0 / len(nodes)
        proj[nodes[:, None], nodes[None, :]] = 1.0 / len(nodes)
    return proj, p1


def _initial_path(p0: torch.Tensor, p1: torch.Tensor, pi: torch.Tensor, label: torch.Tensor, steps: int):
    """``(T + 1, n)``: the straight path, pulled towards ``pi`` (rescaled to the mass of ``p0`` on
    every component) by ``sin(pi t) / 2``, so that no interior node starts near zero."""
    count = int(label.max()) + 1
    mass = p0.new_zeros(count).index_add(0, label, p0)
    nu = pi * (mass / p0.new_zeros(count).index_add(0, label, pi))[label]
    s = torch.linspace(0.0, 1.0, steps + 1, dtype=p0.dtype, device=p0.device)[:, None]
    pull = 0.5 * torch.sin(math.pi * s)
    pull[[0, -1]] = 0.0
    return (1.0 - pull) * ((1.0 - s) * p0 + s * p1) + pull * nu


def _floor(p0: torch.Tensor, p1: torch.Tensor, pi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both endpoints mixed with ``pi`` by :data:`FLOOR` if either has a density below it (both,
    so that they keep equal masses on every component)."""
    if float(torch.minimum(p0, p1).div(pi).min()) < FLOOR:
        return (1.0 - FLOOR) * p0 + FLOOR * pi, (1.0 - FLOOR) * p1 + FLOOR * pi
    return p0, p1


# ---------------------------------------------------------------------------------------------
# the discrete action


def _series(x: torch.Tensor, coefficients: tuple[float, ...]) -> torch.Tensor:
    out = torch.full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        out = out * x + c
    return out


# Taylor coefficients at x = 0 of (x - 1 + e^-x) / x^2 and of its derivative
_D1 = tuple((-1) ** k / math.factorial(k) for k in range(2, 11))
_D2 = tuple((-1) ** k * (k - 2) / math.factorial(k) for k in range(3, 12))


def log_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The logarithmic mean ``(a - b) / (log a - log b)`` of nonnegative tensors (``a`` when
    ``a = b``, 0 when either is 0), accurate near ``a = b``.

    Examples
    --------
    >>> import torch
    >>> float(log_mean(torch.tensor(2.0), torch.tensor(2.0)))
    2.0
    >>> round(float(log_mean(torch.tensor(1.0), torch.tensor(math.e))), 6)
    1.718282
    >>> log_mean(torch.tensor([0.0, 3.0]), torch.tensor([0.0, 0.0])).tolist()
    [0.0, 0.0]
    """
    empty = (a == 0) | (b == 0)
    theta = _log_mean_derivatives(torch.where(empty, 1.0, a), torch.where(empty, 1.0, b), order=0)[0]
    return torch.where(empty, 0.0, theta)


def _log_mean_derivatives(a: torch.Tensor, b: torch.Tensor, order: int = 2) -> tuple[torch.Tensor, ...]:
    """``theta``, and with ``order=2`` also ``d theta / da``, ``d^2 theta / da^2`` and
    ``d^2 theta / da db``, at positive ``(a, b)``.

    With ``x = log(a / b)``: ``theta_a = (x - 1 + e^-x) / x^2 =: g(x)``, ``theta_aa = g'(x) / a``
    and ``theta_ab = -g'(x) / b`` (``theta`` is 1-homogeneous); near ``x = 0`` all are evaluated
    by Taylor series (``theta = sqrt(a b) sinh(x / 2) / (x / 2)``), which avoids cancellations.
    """
    x = torch.log(a) - torch.log(b)
    near = x.abs() < _SERIES
    xs = torch.where(near, torch.ones_like(x), x)
    y2 = 0.25 * x * x
    theta_near = torch.sqrt(a * b) * _series(y2, (1.0, 1.0 / 6.0, 1.0 / 120.0, 1.0 / 5040.0))
    theta = torch.where(near, theta_near, (a - b) / xs)
    if order == 0:
        return (theta,)
    em1 = torch.expm1(-xs)
    g = torch.where(near, _series(x, _D1), (xs + em1) / xs**2)
    dg = torch.where(near, _series(x, _D2), (-2.0 * xs - (xs + 2.0) * em1) / xs**3)
    return theta, g, dg / a, -dg / b


class _Action:
    """The reduced action ``sum_k delta_k^T L_k^+ delta_k / dt`` of a path, with its gradient and
    block-tridiagonal Hessian in the interior nodes.

    On one interval, with ``rbar = (p_k + p_{k+1}) / (2 pi)``, ``c = w theta(rbar_x, rbar_y)``,
    ``S = L_c + P`` (``P`` the averaging projector on the components, which makes ``S``
    invertible without changing ``delta^T L_c^+ delta`` for ``delta`` of zero mass on each
    component), ``phi = S^{-1} delta`` and ``g_xy = phi_x - phi_y``, the action is
    ``f = delta . phi / dt``, and in the variables ``(delta, rbar)``::

        f_delta = 2 phi / dt                 f_rbar_x = -sum_y w_xy theta_a(x, y) g_xy^2 / dt
        f_delta,delta = 2 S^-1 / dt          f_delta,rbar = -2 S^-1 B / dt
        f_rbar,rbar = (2 B^T S^-1 B - G) / dt

    with ``B_xy = w_xy g_xy theta_a(y, x)``, ``B_xx = sum_y w_xy g_xy theta_a(x, y)``,
    ``G_xy = w_xy theta_ab(x, y) g_xy^2``, ``G_xx = sum_y w_xy theta_aa(x, y) g_xy^2``.
    """

    def __init__(self, w: torch.Tensor, pi: torch.Tensor, proj: torch.Tensor, dt: float):
        self.w, self.pi, self.proj, self.dt = w, pi, proj, dt

    def _mobility(self, path: torch.Tensor, order: int) -> tuple[torch.Tensor, ...]:
        rbar = 0.5 * (path[:-1] + path[1:]) / self.pi
        n = rbar.shape[1]
        a = rbar[:, :, None].expand(-1, -1, n)
        return _log_mean_derivatives(a, a.transpose(1, 2), order=order)

    def _system(self, theta: torch.Tensor) -> torch.Tensor:
        c = self.w * theta
        return torch.diag_embed(c.sum(2)) - c + self.proj

    def value(self, path: torch.Tensor) -> float:
        (theta,) = self._mobility(path, order=0)
        delta = path[1:] - path[:-1]
        phi = torch.linalg.solve(self._system(theta), delta)
        return float((delta * phi).sum()) / self.dt

    def derivatives(self, path: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gradient ``(T - 1, n)`` in the interior nodes, diagonal blocks ``(T - 1, n, n)`` and
        sub-diagonal blocks ``(T - 2, n, n)`` (``d^2 A / dp_{k+1} dp_k``) of the Hessian."""
        theta, t1, t11, t12 = self._mobility(path, order=2)
        w, dt = self.w, self.dt
        inv = torch.linalg.inv(self._system(theta))
        delta = path[1:] - path[:-1]
        phi = (inv @ delta[:, :, None])[:, :, 0]
        g = phi[:, :, None] - phi[:, None, :]
        wt1g = w * t1 * g
        f_d = 2.0 * phi / dt
        f_r = -(wt1g * g).sum(2) / dt
        b = torch.diag_embed(wt1g.sum(2)) + w * t1.transpose(1, 2) * g
        big_g = torch.diag_embed((w * t11 * g * g).sum(2)) + w * t12 * g * g
        sb = inv @ b
        f_dd = 2.0 * inv / dt
        f_dr = -2.0 * sb / dt
        f_rr = (2.0 * b.transpose(1, 2) @ sb - big_g) / dt
        # back to (p_k, p_{k+1}): delta = p_{k+1} - p_k, rbar = d (p_k + p_{k+1}), d = 1 / (2 pi)
        d = 0.5 / self.pi
        x = f_dr * d
        y = d[:, None] * f_rr * d
        grad_a, grad_b = -f_d + d * f_r, f_d + d * f_r
        h_aa = f_dd - x - x.transpose(1, 2) + y
        h_bb = f_dd + x + x.transpose(1, 2) + y
        h_ba = -f_dd + x - x.transpose(1, 2) + y  # rows p_{k+1}, columns p_k
        return grad_b[:-1] + grad_a[1:], h_bb[:-1] + h_aa[1:], h_ba[1:-1]

    def flux(self, path: torch.Tensor) -> torch.Tensor:
        """The optimal flux ``(T, n, n)`` of each interval for this path."""
        (theta,) = self._mobility(path, order=0)
        delta = (path[1:] - path[:-1]) / self.dt
        phi = -torch.linalg.solve(self._system(theta), delta)
        return self.w * theta * (phi[:, :, None] - phi[:, None, :])


# ---------------------------------------------------------------------------------------------
# Newton's method


def _block_cholesky(diag: torch.Tensor, sub: torch.Tensor) -> tuple[list, list] | None:
    """Factor the SPD block-tridiagonal matrix; None if it is not positive definite."""
    chol, couple = [], []
    for i in range(diag.shape[0]):
        block = diag[i]
        if i > 0:
            c = torch.linalg.solve_triangular(chol[-1], sub[i - 1].T, upper=False).T  # B L^{-T}
            couple.append(c)
            block = block - c @ c.T
        factor, info = torch.linalg.cholesky_ex(block)
        if int(info) != 0:
            return None
        chol.append(factor)
    return chol, couple


def _block_solve(chol: list, couple: list, rhs: torch.Tensor) -> torch.Tensor:
    m = len(chol)
    y = []
    for i in range(m):
        b = rhs[i] if i == 0 else rhs[i] - couple[i - 1] @ y[-1]
        y.append(torch.linalg.solve_triangular(chol[i], b[:, None], upper=False)[:, 0])
    x = [None] * m
    for i in reversed(range(m)):
        b = y[i] if i == m - 1 else y[i] - couple[i].T @ x[i + 1]
        x[i] = torch.linalg.solve_triangular(chol[i].T, b[:, None], upper=True)[:, 0]
    return torch.stack(x)


def _references(inner: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``(T - 1, n)``: at each interior node, the heaviest state of each state's component."""
    count = int(label.max()) + 1
    members = label[None, :] == torch.arange(count, device=label.device)[:, None]  # (C, n)
    heavy = torch.where(members, inner[:, None, :], -math.inf).argmax(2)  # (T - 1, C)
    return heavy[:, label]


def _tangent_basis(ref: torch.Tensor, count: int, dtype: torch.dtype) -> torch.Tensor:
    """``(T - 1, n, n - count)``: at each interior node, a basis of the moves that keep the mass of
    each of the ``count`` components, ``e_x - e_ref(x)`` for the states that are not references
    (eliminating the heaviest state keeps the light, stiff ones well scaled)."""
    steps, n = ref.shape
    eye = torch.eye(n, dtype=dtype, device=ref.device)
    full = eye - torch.nn.functional.one_hot(ref, n).to(dtype).transpose(1, 2)
    is_ref = ref == torch.arange(n, device=ref.device)
    keep = torch.argsort(is_ref.to(torch.int8), dim=1, stable=True)[:, : n - count]
    return torch.gather(full, 2, keep[:, None, :].expand(steps, n, n - count))


def _newton_direction(gradient, diag, sub, basis) -> torch.Tensor:
    """The Newton step ``(T - 1, n)`` in the span of ``basis`` (the reduced Hessian is block
    tridiagonal: factored whole up to :data:`_DENSE_LIMIT` unknowns, by blocks beyond)."""
    zt = basis.transpose(1, 2)
    r_diag = zt @ diag @ basis
    r_sub = zt[1:] @ sub @ basis[:-1]
    rhs = -(zt @ gradient[:, :, None])[:, :, 0]
    if r_diag.shape[1] == 0:
        return torch.zeros_like(gradient)
    if r_diag.shape[0] * r_diag.shape[1] <= _DENSE_LIMIT:
        solve = _dense_solver(r_diag, r_sub)
    else:
        solve = _block_solver(r_diag, r_sub)
    return (basis @ solve(rhs)[:, :, None])[:, :, 0]


def _damped(factor, matrix: torch.Tensor):
    """Factor ``matrix + mu diag(matrix)`` (one matrix or a batch of blocks) with the smallest ``mu``
    in ``0, 1e-10, 1e-9, ...`` that works (Levenberg-Marquardt damping, only needed if rounding
    makes ``matrix`` indefinite)."""
    result = factor(matrix)
    mu = 1e-10
    while result is None:
        if mu > 1e6:  # pragma: no cover - the action is convex; this is a safeguard
            raise RuntimeError("markov_distance: the Newton system is not positive definite")
        result = factor(matrix + torch.diag_embed(mu * matrix.diagonal(dim1=-2, dim2=-1).abs()))
        mu *= 10.0
    return result


def _cholesky(matrix: torch.Tensor) -> torch.Tensor | None:
    factor, info = torch.linalg.cholesky_ex(matrix)
    return None if int(info) != 0 else factor


def _dense_solver(diag: torch.Tensor, sub: torch.Tensor):
    """Assemble the block-tridiagonal matrix and factor it at once (few, large LAPACK calls)."""
    steps, m, _ = diag.shape
    big = diag.new_zeros(steps, m, steps, m)
    k = torch.arange(steps, device=diag.device)
    big[k, :, k, :] = diag
    big[k[1:], :, k[:-1], :] = sub
    big[k[:-1], :, k[1:], :] = sub.transpose(1, 2)
    big = big.reshape(steps * m, steps * m)
    factor = _damped(_cholesky, big)

    def solve(rhs: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(rhs.reshape(-1, 1), factor).reshape(steps, m)

    return solve


def _block_solver(diag: torch.Tensor, sub: torch.Tensor):
    """Block Cholesky, ``O(T m^3)``, for systems too large to assemble."""
    factors = _damped(lambda d: _block_cholesky(d, sub), diag)
    return lambda rhs: _block_solve(*factors, rhs)


def _max_step(inner: torch.Tensor, step: torch.Tensor) -> float:
    """The largest ``s <= 1`` keeping ``inner + s step`` at least 1/100 of ``inner`` (so positive)."""
    shrinking = step < 0
    if not bool(shrinking.any()):
        return 1.0
    return min(1.0, float((-0.99 * inner[shrinking] / step[shrinking]).min()))


class _Barrier:
    """``A(p) - mu sum log p`` over the interior nodes, and its Newton steps."""

    def __init__(self, action: _Action, components: int):
        self.action, self.components = action, components

    def value(self, path: torch.Tensor, mu: float) -> float:
        return self.action.value(path) - mu * float(torch.log(path[1:-1]).sum())

    def step(self, path: torch.Tensor, derivatives, mu: float, ref: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The Newton step and ``lambda^2 / 2`` (half the squared Newton decrement)."""
        gradient, diag, sub = derivatives
        inner = path[1:-1]
        gradient = gradient - mu / inner
        diag = diag + torch.diag_embed(mu / inner**2)
        basis = _tangent_basis(ref, self.components, inner.dtype)
        step = _newton_direction(gradient, diag, sub, basis)
        return step, max(-0.5 * float((gradient * step).sum()), 0.0)


def _newton(
    action: _Action, path: torch.Tensor, label: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, int, float]:
    """Minimise the action over the interior nodes of ``path`` by a barrier method: damped Newton
    steps on ``A(p) - mu sum_{k, x} log p_k(x)``, ``mu`` divided by 10 whenever the Newton decrement
    is below the barrier's own gap bound, until the bound on ``A(p) - min A``, ``N mu +
    lambda^2 / 2`` (``N`` positivity constraints), is at most ``tol A(p)``."""
    barrier = _Barrier(action, int(label.max()) + 1)
    count = path[1:-1].numel()
    value = action.value(path)
    mu = 0.1 * value / count
    residual = math.inf
    for it in range(max_iter + 1):
        derivatives = action.derivatives(path)
        ref = _references(path[1:-1], label)
        while True:
            step, half_decrement = barrier.step(path, derivatives, mu, ref)
            residual = (count * mu + half_decrement) / value
            floor = 0.5 * tol * value / count
            if residual <= tol or it == max_iter:
                return path, it, residual
            if half_decrement > 0.5 * count * mu or mu <= floor:
                break
            mu = max(0.1 * mu, floor)
        current = barrier.value(path, mu)
        s = _max_step(path[1:-1], step)
        while True:
            trial = torch.cat([path[:1], path[1:-1] + s * step, path[-1:]])
            new = barrier.value(trial, mu)
            if math.isfinite(new) and new <= current - 2e-4 * s * half_decrement:
                break
            s *= 0.5
            if s < 1e-12:  # pragma: no cover - no decrease above rounding: as good as it gets
                return path, it, residual
        path, value = trial, action.value(trial)
    return path, max_iter, residual  # pragma: no cover - the loop returns


# ---------------------------------------------------------------------------------------------
# the public function


def markov_distance(
    rho0: torch.Tensor,
    rho1: torch.Tensor,
    rates: torch.Tensor,
    pi: torch.Tensor,
    *,
    n_times: int = 32,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> MarkovGeodesic:
    """The transport distance ``W(rho0, rho1)`` of a reversible Markov chain, and its geodesic.

    The discrete dynamic distance of Maas (2011) with the logarithmic-mean mobility; see the
    module docstring for the conventions, the discretisation and the solver. The result
    converges to the continuous-time distance as ``O(1 / n_times^2)`` for smooth geodesics
    (from below: the mobility of time-averaged densities is at least their average mobility),
    and at about first order when an endpoint has empty states. The graph of the rates may be
    disconnected if both endpoints put the same mass on each of its components.

    Parameters
    ----------
    rho0, rho1 : Tensor
        ``(n,)`` probability vectors (masses, nonnegative, summing to 1). Zero entries are
        allowed: then both endpoints are replaced by ``(1 - FLOOR) rho + FLOOR pi``
        (:data:`FLOOR` ``= 1e-9``).
    rates : Tensor
        ``(n, n)`` jump rates ``K(x, y) >= 0``; the diagonal is ignored (a generator matrix with
        ``-sum_y K(x, y)`` there is fine). Must satisfy ``pi_x K(x, y) = pi_y K(y, x)``.
    pi : Tensor
        ``(n,)`` the reversible probability vector, positive, summing to 1.
    n_times : int
        Number ``T`` of time intervals; the path has ``T + 1`` nodes.
    tol : float
        Stop when the barrier's gap bound plus the Newton decrement estimate that the action
        exceeds its discrete minimum by less than ``tol`` relatively
        (:attr:`MarkovGeodesic.residual`; ``0`` runs all ``max_iter`` steps). The
        discretisation error is far larger (about ``1e-5`` at ``n_times=32`` for smooth
        geodesics).
    max_iter : int
        Most Newton steps; if they do not reach ``tol``, a ``RuntimeWarning`` says so.

    Returns
    -------
    MarkovGeodesic
        ``distance``, ``value = distance^2``, the ``path (T + 1, n)`` and ``flux (T, n, n)``
        (antisymmetric), in the dtype and on the device of the inputs.

    Raises
    ------
    InputError
        Wrong shapes or types, NaN, negative masses or rates, masses that do not sum to 1,
        ``pi`` not positive, rates not reversible with respect to ``pi``, or endpoints that put
        different masses on a connected component of the graph of the rates (infinite
        distance).

    Examples
    --------
    Two states, rate 1 each way, ``pi`` uniform: from ``(0.8, 0.2)`` to ``(0.3, 0.7)`` the exact
    distance is ``int_0.3^0.8 du / sqrt(theta(u, 1 - u)) = 0.71939``.

    >>> import torch
    >>> from lagrangian_ot.dynamic.markov import markov_distance
    >>> pi = torch.tensor([0.5, 0.5], dtype=torch.float64)
    >>> rates = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> rho0 = torch.tensor([0.8, 0.2], dtype=torch.float64)
    >>> rho1 = torch.tensor([0.3, 0.7], dtype=torch.float64)
    >>> geo = markov_distance(rho0, rho1, rates, pi, n_times=16)
    >>> round(geo.distance, 4)
    0.7193
    >>> geo.path.shape, geo.flux.shape
    (torch.Size([17, 2]), torch.Size([16, 2, 2]))
    >>> float(((geo.path[1:] - geo.path[:-1]) * 16 + geo.flux.sum(2)).abs().max()) < 1e-12
    True
    """
    for x, name in ((rho0, "rho0"), (rho1, "rho1"), (pi, "pi")):
        _check_tensor(x, name, 1)
    _check_tensor(rates, "rates", 2)
    device = rho0.device
    for x, name in ((rho1, "rho1"), (rates, "rates"), (pi, "pi")):
        if x.device != device:
            raise InputError(f"{name} is on {x.device} but rho0 is on {device}")
    dtype = reduce(torch.promote_types, (rho1.dtype, rates.dtype, pi.dtype), rho0.dtype)
    n_times, max_iter = check_int(n_times, "n_times", 1), check_int(max_iter, "max_iter", 0)
    if not (isinstance(tol, (int, float)) and tol >= 0 and math.isfinite(tol)):
        raise InputError(f"tol must be a finite number >= 0, got {tol!r}")

    n = rho0.shape[0]
    check = _tolerance(dtype)
    if pi.shape[0] != n:
        raise InputError(f"pi has length {pi.shape[0]}, but rho0 has length {n}")
    if not bool((pi > 0).all()):
        raise InputError(f"pi must be positive, but its smallest entry is {float(pi.min()):.3g}")
    pi64 = _check_probability(pi, "pi", n, check)
    p0 = _check_probability(rho0, "rho0", n, check)
    p1 = _check_probability(rho1, "rho1", n, check)
    w = _check_rates(rates, pi64, check)
    label = _components(w)
    proj, p1 = _match_components(p0, p1, label, check)
    p0, p1 = _floor(p0, p1, pi64)

    label_t = torch.as_tensor(label, device=device)
    action = _Action(w, pi64, proj, 1.0 / n_times)
    if torch.equal(p0, p1):
        path, iterations, residual = p0.expand(n_times + 1, n).clone(), 0, 0.0
    else:
        path = _initial_path(p0, p1, pi64, label_t, n_times)
        iterations, residual = 0, 0.0
        if n_times > 1:
            path, iterations, residual = _newton(action, path, label_t, tol, max_iter)
    if residual > tol:
        warnings.warn(
            f"markov_distance stopped after {iterations} Newton steps with a relative residual of "
            f"{residual:.2g} > tol = {tol:.2g}; raise max_iter or tol",
            RuntimeWarning,
            stacklevel=2,
        )
    value = max(action.value(path), 0.0)
    return MarkovGeodesic(
        distance=math.sqrt(value),
        value=value,
        path=path.to(dtype),
        flux=action.flux(path).to(dtype),
        iterations=iterations,
        residual=residual,
    )
