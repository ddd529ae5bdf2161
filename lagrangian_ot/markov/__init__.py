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

**Where it lives.** :mod:`._checks` validates the chain and the endpoints (components,
the floor, the initial path), :mod:`._action` holds the logarithmic mean and the discrete
action with its derivatives, :mod:`._newton` the barrier method, :mod:`._distance` the result
type and :func:`markov_distance`. (Until 0.2 this lived in ``lagrangian_ot.dynamic.markov``,
which still imports with a ``DeprecationWarning``: the distance uses no grid.)
"""

from ._action import log_mean
from ._distance import FLOOR, MarkovGeodesic, markov_distance

__all__ = ["FLOOR", "MarkovGeodesic", "log_mean", "markov_distance"]
