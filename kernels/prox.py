"""Per-cell proximal maps of the actions ``|m|^2 / rho`` (Benamou-Brenier) and
``|m|^2 / ((sqrt a + sqrt b) / 2)^2`` (a time step's two end densities ``a, b``; WFR near
the ends of the path).

On the CPU C loops (``native/prox.c``, ``native/prox_fr.c``) run Newton's method cell by
cell with their own stopping tests; elsewhere the same iterations run as whole-tensor torch
operations until every cell has converged.
"""

from __future__ import annotations

import torch

from . import native

NEWTON_MAX = 60


def _tolerance(dtype) -> float:
    return 8 * torch.finfo(dtype).eps


def prox_w2_torch(
    r: torch.Tensor, m: torch.Tensor, gamma: float, start: torch.Tensor | None = None
):
    """Whole-tensor Newton iteration (any device)."""
    q = gamma * (m * m).sum(0)
    x = r.clamp(min=0)
    if start is not None:  # where m~ = 0 the root is max(r, 0) itself
        x = torch.where(q > 0, torch.maximum(x, start), x)
    tol = _tolerance(r.dtype)
    for _ in range(NEWTON_MAX):
        g = x + 2 * gamma
        f = (x - r) * g * g - q
        df = g * (3 * x + 2 * gamma - 2 * r)
        step = torch.where(q > 0, f / df.clamp(min=torch.finfo(r.dtype).tiny), 0.0)
        x = x - step
        if bool((step.abs() <= tol * (x.abs() + gamma)).all()):
            break
    rho = x.clamp(min=0)
    return rho, m * (rho / (rho + 2 * gamma))


def prox_w2(r: torch.Tensor, m: torch.Tensor, gamma: float, start: torch.Tensor | None = None):
    """``argmin gamma |m|^2 / rho + |rho - r|^2 / 2 + |m - m~|^2 / 2`` per cell.

    ``r (N...)`` centred densities, ``m (k, N...)`` the momentum-like parts,
    ``start`` an optional guess for the density (the previous result).
    """
    if r.device.type == "cpu" and r.dtype in (torch.float32, torch.float64):
        return native.prox_w2(r, m, float(gamma), start, NEWTON_MAX, _tolerance(r.dtype))
    return prox_w2_torch(r, m, gamma, start)


FR_MAX_ITER = 100


def _largest_root(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Largest root of ``x^3 - a x - c`` for ``c >= 0``, by Newton's method from its right."""
    x = a.clamp(min=0).sqrt() + c.pow(1.0 / 3.0)
    for _ in range(FR_MAX_ITER):
        df = 3 * x * x - a
        step = torch.where(df > 0, (x * x * x - a * x - c) / torch.where(df > 0, df, 1.0), 0.0)
        x = x - step
        if bool((step.abs() <= 1e-15 * x).all()):
            break
    return x


def prox_fr_torch(
    a: torch.Tensor,
    b: torch.Tensor,
    s: torch.Tensor,
    gamma: float,
    ends: tuple[torch.Tensor, torch.Tensor] | None,
    tol: float,
):
    """Whole-tensor version of ``native/prox_fr.c``: the bracketed search on ``c`` for every
    cell at once, without the warm start (any device; float64 arithmetic)."""
    dtype = a.dtype
    a, b, s = (t.double() for t in (a, b, s))
    q = gamma * (s * s).sum(0)
    fix_a = torch.zeros_like(a, dtype=torch.bool)
    fix_b = torch.zeros_like(fix_a)
    xa, yb = torch.zeros_like(a), torch.zeros_like(a)
    if ends is not None:
        fix_a[0], fix_b[-1] = True, True
        xa[0] = ends[0].double().clamp(min=0).sqrt()
        yb[-1] = ends[1].double().clamp(min=0).sqrt()
    none = torch.full_like(a, -1.0)
    sa = torch.where(fix_a, torch.where(xa > 0, -1.0, 0.0), torch.where(a < 0, -1 / a, none))
    sb = torch.where(fix_b, torch.where(yb > 0, -1.0, 0.0), torch.where(b < 0, -1 / b, none))
    origin = (sa >= 0) & (sb >= 0) & (q / (16 * gamma * gamma) * (sa + sb) <= 1)
    active = (q > 0) & ~origin
    d0 = 8 * gamma / 3
    lo, hi = torch.zeros_like(a), q * (2 * gamma / 3) ** 0.5 / (2 * d0 * d0)
    active &= hi > 0  # below that, as q = 0
    cw = 0.5 * (lo + hi)
    done = ~active

    def roots(cv):
        x = torch.where(fix_a, xa, _largest_root(a, cv))
        return x, torch.where(fix_b, yb, _largest_root(b, cv))

    for _ in range(FR_MAX_ITER):
        x, y = roots(cw)
        half = 0.5 * (x + y)
        den = half * half + 2 * gamma
        g = cw - q * half / (2 * den * den)
        dphi = 1 / (den * den) - 4 * half * half / den**3
        ex, ey = 3 * x * x - a, 3 * y * y - b
        dx = torch.where(fix_a | ~(ex > 0), 0.0, 1 / torch.where(ex > 0, ex, 1.0))
        dy = torch.where(fix_b | ~(ey > 0), 0.0, 1 / torch.where(ey > 0, ey, 1.0))
        dg = 1 - 0.25 * q * dphi * (dx + dy)
        lo = torch.where(~done & (g < 0), cw, lo)
        hi = torch.where(~done & (g >= 0), cw, hi)
        nxt = cw - g / dg
        close = (g == 0) | ((dg > 0) & ((nxt - cw).abs() <= tol * cw))
        inside = (dg > 0) & (nxt > lo) & (nxt < hi)
        nxt = torch.where(close | inside, nxt, 0.5 * (lo + hi))
        cw = torch.where(done, cw, nxt)
        done = done | close | (hi - lo <= tol * hi)
        if bool(done.all()):
            break
    cw = torch.where(active, cw, 0.0)
    x, y = roots(cw)
    x = torch.where(active, x, torch.where(fix_a, xa, a.clamp(min=0).sqrt()))
    y = torch.where(active, y, torch.where(fix_b, yb, b.clamp(min=0).sqrt()))
    x, y = torch.where(origin & (q > 0), 0.0, x), torch.where(origin & (q > 0), 0.0, y)
    h = 0.25 * (x + y) ** 2
    ra = torch.where(fix_a, xa * xa, x * x)
    rb = torch.where(fix_b, yb * yb, y * y)
    if ends is not None:  # the given densities come back exactly
        ra[0], rb[-1] = ends[0].double().clamp(min=0), ends[1].double().clamp(min=0)
    bad = a.isnan() | b.isnan() | q.isnan()  # NaN stays visible to the caller, as in C
    out = tuple(torch.where(bad, float("nan"), t) for t in (ra, rb, s * (h / (h + 2 * gamma))))
    return tuple(t.to(dtype) for t in out)


def prox_fr(
    a: torch.Tensor,
    b: torch.Tensor,
    s: torch.Tensor,
    gamma: float,
    ends: tuple[torch.Tensor, torch.Tensor] | None,
    start: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """``argmin gamma |s|^2 / h(a, b) + |a - a~|^2 / 2 + |b - b~|^2 / 2 + |s - s~|^2 / 2`` per
    cell, ``h(a, b) = ((sqrt a + sqrt b) / 2)^2``.

    ``a, b (T, N...)``: the densities at the two ends of every time step; ``s (k, T, N...)``:
    what the action divides by their mean (momenta and source); ``ends``: the given end
    densities ``(N...)``, which keep ``a`` on the first row and ``b`` on the last fixed;
    ``start``: a guess for ``(a, b)`` (the previous call's result), used on the CPU. Returns
    ``(a, b, s)``.
    """
    tol = 1e-12 if a.dtype == torch.float64 else 1e-6
    if a.device.type == "cpu" and a.dtype in (torch.float32, torch.float64):
        return native.prox_fr(a, b, s, float(gamma), ends, start, FR_MAX_ITER, tol)
    return prox_fr_torch(a, b, s, gamma, ends, tol)
