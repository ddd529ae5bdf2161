""":func:`markov_distance` and its result."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import reduce

import torch

from ..errors import InputError, check_int
from ..result import scalar
from ._action import _Action
from ._checks import (
    FLOOR,
    _check_probability,
    _check_rates,
    _check_tensor,
    _components,
    _floor,
    _initial_path,
    _match_components,
    _tolerance,
)
from ._newton import _newton

__all__ = ["FLOOR", "MarkovGeodesic", "markov_distance"]


@dataclass(frozen=True)
class MarkovGeodesic:
    """The result of :func:`markov_distance`.

    Attributes
    ----------
    distance : float
        ``W(rho0, rho1) = sqrt(value)``.
    value : Tensor
        ``W^2``, the minimal discrete action: a scalar tensor in the dtype and on the device of
        the inputs (the shared result protocol, :mod:`lagrangian_ot.result`;
        ``float(geo.value)`` is the number).
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
        squared Newton decrement, see the docstring of :mod:`lagrangian_ot.markov`): an estimate of
        the relative excess of ``value`` over the discrete minimum; 0 when nothing was solved (equal
        endpoints or ``n_times=1``).
    converged : bool
        ``residual <= tol``.
    info : dict
        ``iterations`` and ``residuals`` (``relative_excess``: ``residual``).
    """

    distance: float
    value: torch.Tensor
    path: torch.Tensor
    flux: torch.Tensor
    iterations: int
    residual: float
    converged: bool = True
    info: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not isinstance(self.value, torch.Tensor):
            object.__setattr__(self, "value", scalar(self.value, self.path))
        self.info.setdefault("iterations", self.iterations)
        self.info.setdefault("residuals", {"relative_excess": self.residual})


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
    docstring of :mod:`lagrangian_ot.markov` for the conventions, the discretisation and the solver.
    The result converges to the continuous-time distance as ``O(1 / n_times^2)`` for smooth
    geodesics (from below: the mobility of time-averaged densities is at least their average
    mobility), and at about first order when an endpoint has empty states. The graph of the rates
    may be disconnected if both endpoints put the same mass on each of its components.

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
        ``distance`` (a float), ``value = distance^2`` (a scalar tensor), the ``path (T + 1, n)``
        and ``flux (T, n, n)`` (antisymmetric), in the dtype and on the device of the inputs.

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
    >>> from lagrangian_ot.markov import markov_distance
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
        value=scalar(value, path.to(dtype)),
        path=path.to(dtype),
        flux=action.flux(path).to(dtype),
        iterations=iterations,
        residual=residual,
        converged=residual <= tol,
    )
