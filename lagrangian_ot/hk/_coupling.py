""":func:`hk_plan`: input checks, the solve, the Liero-Mielke-Savare semi-coupling of the plan
and its bounds (the package docstring)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from .._geometry import diameter
from ..errors import InputError, check_cloud, check_int, check_positive
from ..kernels.threads import fit_threads
from ._costs import _Costs, _has_partner
from ._plan import HKPlan, _cone_cost, _endpoints
from ._solver import _lower_bound, _solve, _sparse_plan

EPS_FLOOR = 1e-11  # eps is at least this fraction of 4 kappa^2 (Newton systems stay solvable)
DEFAULT_BLUR = 1e-3  # default blur, relative to min(diameter, pi kappa)
RESIDUAL_WARN = 1e-4  # a final marginal residual above this is not converged (and warns)
ROW_CAP = 64  # default row_cap: entries kept per row of the plan's sparse form


def _check(
    x, y, a, b, kappa
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    for name, cloud in (("x", x), ("y", y)):
        check_cloud(cloud, name)
        if cloud.dim() != 2:
            raise InputError(
                f"{name} must have shape (n, d); batches "
                f"are not supported, got {tuple(cloud.shape)}"
            )
    if x.shape[1] != y.shape[1]:
        raise InputError(
            f"x and y must have the same dimension d, got {x.shape[1]} and {y.shape[1]}"
        )
    if x.device != y.device:
        raise InputError(f"x is on {x.device} but y is on {y.device}")
    kappa = check_positive(kappa, "kappa")
    if not math.isfinite(4.0 * kappa * kappa):
        raise InputError(f"kappa = {kappa:g} is too large: its cone cost 4 kappa^2 overflows")
    masses = []
    for name, w, cloud in (("a", a, x), ("b", b, y)):
        if w is None:
            w = torch.full(
                (cloud.shape[0],), 1.0 / cloud.shape[0], dtype=cloud.dtype, device=cloud.device
            )
        w = torch.as_tensor(w, device=cloud.device)
        if w.shape != (cloud.shape[0],):
            raise InputError(
                f"{name} must have shape ({cloud.shape[0]},) "
                f"to match the cloud, got {tuple(w.shape)}"
            )
        if not w.is_floating_point():
            w = w.to(cloud.dtype)
        if not bool(torch.isfinite(w).all()):
            raise InputError(f"{name} contains NaN or infinite values")
        if bool((w < 0).any()):
            raise InputError(f"{name} has negative entries; masses must be nonnegative")
        if not bool((w > 0).any()):
            raise InputError(f"{name} is zero everywhere; give at least one positive mass")
        masses.append(w.to(cloud.dtype))
    return x, y, masses[0], masses[1], kappa


def _semi_coupling(a, b, src, dst, gamma):
    """Pairs, decays and growths of the semi-coupling induced by ``gamma`` (docstring of
    :mod:`lagrangian_ot.hk`)."""
    m = b.shape[0]
    g0 = torch.zeros_like(a).index_add_(0, src, gamma)  # P0#gamma on the kept entries
    g1 = torch.zeros_like(b).index_add_(0, dst, gamma)
    h0 = gamma * a[src] / g0[src]
    h1 = gamma * b[dst] / g1[dst]
    decay = torch.nonzero((a > 0) & (g0 == 0)).reshape(-1)
    grow = torch.nonzero((b > 0) & (g1 == 0)).reshape(-1)
    none_d = torch.full_like(decay, -1)
    none_g = torch.full_like(grow, -1)
    order = torch.argsort(src * m + dst)
    src = torch.cat([src[order], decay, none_g])
    dst = torch.cat([dst[order], none_d, grow])
    zeros = torch.zeros(decay.shape[0] + grow.shape[0], dtype=a.dtype, device=a.device)
    gamma = torch.cat([gamma[order], zeros])
    h0 = torch.cat([h0[order], a[decay], torch.zeros_like(b[grow])])
    h1 = torch.cat([h1[order], torch.zeros_like(a[decay]), b[grow]])
    return src, dst, gamma, h0, h1, g0, g1


def _static(x, y, a, b, kappa, src, dst, gamma, g0, g1) -> float:
    """``4 kappa^2 [KL(g0 | a) + KL(g1 | b) + sum gamma ell]`` for a plan supported on admissible
    pairs."""
    pairs = (src >= 0) & (dst >= 0)
    s, t, gam = src[pairs], dst[pairs], gamma[pairs]
    theta = (x[s] - y[t]).norm(dim=-1) / (2.0 * kappa)
    ell = -2.0 * torch.log1p(-2.0 * torch.sin(0.5 * theta) ** 2)

    def kl(p, q):
        return (torch.xlogy(p, p) - torch.xlogy(p, q) - p + q).sum()

    return 4.0 * kappa**2 * float(kl(g0, a) + kl(g1, b) + (gam * ell).sum())


@fit_threads(lambda x, y, *_, **__: x.shape[-2] * y.shape[-2])  # one thread for small clouds
def hk_plan(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None,
    b: torch.Tensor | None,
    kappa: float,
    *,
    blur: float | None = None,
    scaling: float = 0.9,
    tol: float = 1e-9,
    max_iter: int = 500,
    row_cap: int = ROW_CAP,
    progress: bool | None = None,
) -> HKPlan:
    """Optimal Wasserstein-Fisher-Rao semi-coupling between ``sum a_i delta_x_i`` and
    ``sum b_j delta_y_j``.

    Solves the logarithmic entropy-transport problem (docstring of :mod:`lagrangian_ot.hk`) by
    annealed log-domain unbalanced Sinkhorn and builds the Liero-Mielke-Savare semi-coupling of its
    plan: travelling particles for the pairs, pure decay and growth for the uncovered points.

    Parameters
    ----------
    x, y : Tensor
        Point clouds ``(n, d)`` and ``(m, d)``.
    a, b : Tensor or None
        Nonnegative masses ``(n,)`` and ``(m,)``, totals need not agree; None is ``1/n`` (``1/m``).
    kappa : float
        The Fisher-Rao length scale (finite, > 0): no mass travels ``pi kappa`` or farther.
    blur : float, optional
        Entropic blur, a length: ``eps = 2 blur^2`` in the units of ``|x - y|^2``.
        Default ``1e-3 min(diameter, pi kappa)`` (diameter of the points that can be paired);
        ``eps`` is at least ``1e-11 * 4 kappa^2``. The value's entropic bias is far below
        ``eps`` (docstring of :mod:`lagrangian_ot.hk`, Accuracy); ``plan.gap`` bounds it.
    scaling : float
        Annealing factor of ``eps`` per iteration, in (0, 1).
    tol : float
        Stop when the first-order residual of the marginals (relative L1) is below ``tol``.
    max_iter : int
        Cap on the Newton steps per level of ``eps`` (a ``RuntimeWarning`` says when the
        final residual stays above ``1e-4``).
    progress : bool or None
        Draw the solve's steps on stderr (None: only when stderr is a terminal).
    row_cap : int
        At most this many entries per source point are kept in the plan; entries below
        ``1e-12`` of their row's largest are dropped too (``info["dropped_mass"]``).
        The semi-coupling is built from the kept entries, so its marginals stay exact.

    Returns
    -------
    HKPlan
        In the dtype and on the device of ``x`` (computed in float64).

    Examples
    --------
    >>> import math, torch
    >>> x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])
    >>> plan = hk_plan(x, y, torch.tensor([1.0]), torch.tensor([4.0]), kappa=1.0)
    >>> closed = 4 * (1 + 4 - 2 * 2 * math.cos(0.5))  # the two-Dirac formula
    >>> abs(float(plan.value) - closed) < 1e-5, plan.h0.tolist(), plan.h1.tolist()
    (True, [1.0], [4.0])
    """
    x, y, a, b, kappa = _check(x, y, a, b, kappa)
    if blur is not None:
        blur = check_positive(blur, "blur")
    scaling = float(scaling)
    if not 0.0 < scaling < 1.0:
        raise InputError(f"scaling must be in (0, 1), got {scaling}")
    tol = check_positive(tol, "tol")
    max_iter, row_cap = check_int(max_iter, "max_iter", 1), check_int(row_cap, "row_cap", 1)
    dtype = x.dtype
    x64, y64, a64, b64 = (t.detach().double() for t in (x, y, a, b))
    rho = 4.0 * kappa**2
    reach = math.pi * kappa
    # admissible sets: positive mass and a partner of positive mass nearer than pi kappa
    near = _has_partner(x64, y64, b64 > 0, reach)
    act_a = (a64 > 0) & near
    act_b = (b64 > 0) & _has_partner(y64, x64, act_a, reach)
    ia, ib = torch.nonzero(act_a).reshape(-1), torch.nonzero(act_b).reshape(-1)
    info: dict[str, Any] = {"kappa": kappa, "active": (int(ia.numel()), int(ib.numel()))}
    if ia.numel() == 0:
        src = dst = torch.zeros(0, dtype=torch.long, device=x.device)
        gamma = torch.zeros(0, dtype=torch.float64, device=x.device)
        lower, blur_used, eps = rho * float(a64.sum() + b64.sum()), blur, None
        info.update(residual=0.0, dropped_mass=0.0)
    else:
        xa, yb, aa, bb = x64[ia], y64[ib], a64[ia], b64[ib]
        scale = min(diameter(xa, yb), reach)
        blur_used = DEFAULT_BLUR * (scale or min(1.0, reach)) if blur is None else blur
        eps = max(2.0 * blur_used**2, EPS_FLOOR * rho)
        costs = _Costs(xa, yb, kappa)
        f, g, solver = _solve(
            costs, aa, bb, rho, eps, scale**2, scaling, tol, max_iter, row_cap, progress
        )
        residual = solver["residual"]
        if residual > RESIDUAL_WARN:
            warnings.warn(
                f"hk_plan: the solver stopped with a marginal residual of {residual:.2g} "
                f"(blur={blur_used:.3g}); raise max_iter or blur",
                RuntimeWarning,
                stacklevel=2,
            )
        s, t, gamma, dropped = _sparse_plan(costs, aa, bb, f, g, eps, row_cap)
        src, dst = ia[s], ib[t]
        inactive = float(a64[~act_a].sum() + b64[~act_b].sum())
        lower = _lower_bound(costs, f, aa, bb, rho) + rho * inactive
        info.update(solver, dropped_mass=dropped, potentials=(f.to(dtype), g.to(dtype)))
    src, dst, gamma, h0, h1, g0, g1 = _semi_coupling(a64, b64, src, dst, gamma)
    static = _static(x64, y64, a64, b64, kappa, src, dst, gamma, g0, g1)
    start, end = _endpoints(x64, y64, src, dst)
    value = float(_cone_cost(h0, h1, (end - start).norm(dim=-1) / (2.0 * kappa), kappa).sum())
    info.update(blur=blur_used, epsilon=eps)
    info["iterations"] = int(info.get("sinkhorn_updates", 0) + info.get("newton_steps", 0))
    info["residuals"] = {"marginal": float(info["residual"])}
    info["converged"] = info["residual"] <= max(tol, RESIDUAL_WARN)

    def scalar(v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, device=x.device)

    return HKPlan(
        x=x, y=y, a=a, b=b, kappa=kappa, src=src, dst=dst, gamma=gamma.to(dtype),
        h0=h0.to(dtype), h1=h1.to(dtype), value=scalar(value), static=scalar(static),
        lower=scalar(lower),
        gap=max(0.0, value - lower),  # a scalar tensor, rounded up (HKPlan)
        method="sinkhorn", info=info,
    )  # fmt: skip
