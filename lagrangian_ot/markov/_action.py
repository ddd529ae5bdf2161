"""The logarithmic mean and the discrete action of a path, with its gradient and Hessian."""

from __future__ import annotations

import math

import torch

_SERIES = 0.1  # |log a - log b| below which theta(a, b) is evaluated by its Taylor series


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
    theta = _log_mean_derivatives(torch.where(empty, 1.0, a), torch.where(empty, 1.0, b), order=0)[
        0
    ]
    return torch.where(empty, 0.0, theta)


def _log_mean_derivatives(
    a: torch.Tensor, b: torch.Tensor, order: int = 2
) -> tuple[torch.Tensor, ...]:
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
