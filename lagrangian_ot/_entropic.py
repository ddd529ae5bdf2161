"""Entropic plans between point clouds: potentials, a sparse plan on the marginals, its values.

1. **Potentials** by the Sinkhorn loop (``_sinkhorn.py``) on one of three kernels
   (``kernels/softmin.py``): the stored cost matrix for small problems, the multiscale
   truncated kernels for large clouds in 2-D and 3-D (``_multiscale.py``), else the cost
   recomputed in row blocks for the annealing and, at the final blur, the pairs within
   reach of the potentials, stored (:func:`_truncated`). ``blur`` is annealed from the
   diameter, halved per step.
2. **Sparse plan.** Per row, the entries of ``pi_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)``
   above ``tol / 10`` of the row's mass divided by its number of candidate pairs, so
   what is left out is at most ``tol / 10`` of each row (``info["dropped_mass"]``),
   streamed over all pairs of the kernel. A large blur spreads each row over many
   partners: the plan has as many entries as it needs (``PLAN_LIMIT`` at most).
3. **Rounding onto the marginals** (balanced problems; Altschuler, Weed and Rigollet 2017):
   rows scaled down to at most ``a``, columns to at most ``b``, and the missing mass (at
   most about ``tol`` of the total) placed by the north-west corner rule on the points
   sorted along their first coordinate, so the plan's marginals, computed from its own
   support, are ``a`` and ``b`` to round-off. ``info["rounded_mass"]`` says how much moved.
4. **Values**, streamed over the same pairs: the entropic plan's transport cost
   ``<C, pi>`` and the entropic value ``<C, pi> + eps KL(pi | a x b)``.
"""

from __future__ import annotations

import math

import torch

from . import _sinkhorn
from ._geometry import diameter
from ._multiscale import TRUNCATION, Multiscale
from ._progress import Progress
from .errors import InputError, warn_user
from .kernels.entries import entries_cost, merge_entries, scale_entries
from .kernels.softmin import DenseKernel, PointKernel
from .kernels.threads import limit_threads, threads_for

DENSE_PAIRS = 4_000_000  # the cost matrix is stored up to this many pairs
MULTISCALE_PAIRS = 1_000_000  # multiscale (d <= 3) above this many pairs
ROUND_ITER = 200  # iterations of the truncated solvers between checks of their patterns
SPARSE = 0.25  # a truncated point kernel is used when it keeps at most this fraction of the pairs
MARGIN = 4.0  # truncated point kernels store pairs up to (TRUNCATION + MARGIN) eps
SPACINGS = 5.0  # the default blur is at most this many nearest-neighbour spacings
PLAN_LIMIT = 200_000_000  # entries of a sparse plan, at most (about 5 GB)
RELATIVE_FLOOR = 1e-12  # a capped plan drops entries below this fraction of their row's largest


def default_blur(x: torch.Tensor, y: torch.Tensor) -> float:
    """``0.01`` of the diameter of the two clouds together, and at most ``SPACINGS^(2/d)`` times
    the mean distance from a point to its nearest neighbour in its own cloud (``1e-3`` when
    the clouds are one point).

    The second bound keeps the plan's size in proportion to the number of points: at a
    fixed blur each point of a denser cloud has more partners, and a plan of ``n`` points
    would grow like ``n^2``; at ``SPACINGS`` spacings in 2-D (the same number of partners in
    other dimensions) the plan keeps about 500 entries per point.
    """
    blur = 0.01 * diameter(x, y)
    # as many partners per point in any dimension
    spacings = SPACINGS ** (2.0 / max(x.shape[-1], 1))
    for p in (x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])):
        if p.shape[0] > 1:
            blur = min(blur, spacings * _spacing(p))
    return blur or 1e-3


def _spacing(p: torch.Tensor, sample: int = 256) -> float:
    """Mean distance from a point to its nearest distinct neighbour in ``p`` (over a fixed
    subsample of its points; repeated points are one point)."""
    idx = torch.linspace(0, p.shape[0] - 1, min(sample, p.shape[0]), device=p.device).long()
    # (s, n), exact
    d = torch.cdist(p[idx].double(), p.double(), compute_mode="donot_use_mm_for_euclid_dist")
    d[d <= 0] = float("inf")
    nearest = d.min(1).values
    nearest = nearest[torch.isfinite(nearest) & (nearest > 0)]
    return float(nearest.mean()) if nearest.numel() else float("inf")


def _schedule(diameter: float, blur: float) -> list[float]:
    """``eps`` values of the annealing: blur from the diameter, halved, down to (not including)
    ``blur``."""
    out, s = [], diameter
    while s > blur:
        out.append(2.0 * s * s)
        s *= 0.5
    return out


def potentials(x, y, a, b, blur: float, rho: float | None, tol: float, max_iter: int,
               kernel: str = "auto", progress=None):  # fmt: skip
    """Entropic potentials of ``x, a`` and ``y, b`` (float64): ``(f, g, kernel, result, orders)``.

    ``kernel``: ``"auto"``, ``"dense"``, ``"points"`` or ``"multiscale"``. The loop's torch
    operations act on the potentials (``n + m`` elements): they get the threads such
    vectors need (:func:`threads_for`) on the multiscale kernel, whose pair work is all
    native; the dense and point kernels' products keep the threads in force.
    """
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    eps = 2.0 * blur**2
    if kernel == "auto":
        # multiscale in 2-D and 3-D (in 1-D its patterns stall short of tol: the truncated points)
        kernel = "dense" if n * m <= DENSE_PAIRS else "multiscale" if 2 <= d <= 3 else "points"
        if kernel == "dense" and 2 <= d <= 3 and n * m > MULTISCALE_PAIRS:
            kernel = "multiscale"
    log_a, log_b = a.log(), b.log()
    if kernel == "multiscale":
        with limit_threads(threads_for(n + m), native=True):
            return _multiscale(x, y, a, b, blur, rho, tol, max_iter, progress)
    K = DenseKernel(_sqdist(x, y)) if kernel == "dense" else PointKernel(x, y)
    f, g = torch.zeros_like(a), torch.zeros_like(b)
    f, g, annealing = _sinkhorn.anneal(K, log_a, log_b, f, g, _schedule(diameter(x, y), blur), rho)
    info = {"kernel": kernel, "annealing_iterations": annealing}
    if kernel == "points":
        K, res, rounds = _truncated(K, log_a, log_b, f, g, eps, rho, tol, max_iter, progress)
        info.update(pattern_rounds=rounds, pairs=K.n_pairs)
    else:
        res = _sinkhorn.converge(K, log_a, log_b, f, g, eps, rho, tol, max_iter, progress=progress)
    return K, res, None, None, info


def _truncated(K: PointKernel, log_a, log_b, f, g, eps, rho, tol, max_iter, progress=None):
    """Converge at ``eps`` on the truncation of ``K`` by the potentials (Schmitzer 2019).

    The pairs with reduced cost ``C - f - g`` up to ``(TRUNCATION + MARGIN) eps`` are
    stored; the loop runs on them in rounds of ``ROUND_ITER`` iterations, after which
    one pass over all pairs checks that every pair within ``TRUNCATION eps`` of the new
    potentials is stored (else the pairs are chosen again). The plan entries left out
    are below ``e^-TRUNCATION a_i b_j``, as on the multiscale patterns. A truncation
    holding more than ``SPARSE`` of all pairs is not used; when one iteration on all pairs
    reaches ``tol``, the truncation only carries the plan. Returns the kernel the potentials
    converged on (or the plan's pairs), the loop's result and the number of patterns.
    """
    res = _sinkhorn.converge(
        K, log_a, log_b, f, g, eps, rho, tol, 1, progress=progress, single=False
    )
    if res.converged or max_iter <= 1:  # one iteration on all pairs was enough: no rounds
        # the plan's pairs
        S = K.truncate(res.f, res.g, (TRUNCATION + MARGIN) * eps, SPARSE * K.n_pairs)
        return (K if S is None else S), res, 0
    f, g = res.f, res.g
    S = K.truncate(f, g, (TRUNCATION + MARGIN) * eps, SPARSE * K.n_pairs)
    if S is None:
        res = _sinkhorn.converge(
            K, log_a, log_b, f, g, eps, rho, tol, max_iter - 1, progress=progress
        )
        res.iterations += 1
        return K, res, 0
    iterations, rounds = 1, 1
    while True:
        res = _sinkhorn.converge(S, log_a, log_b, f, g, eps, rho, tol,
                                 min(ROUND_ITER, max_iter - iterations),
                                 progress=progress)  # fmt: skip
        iterations += res.iterations
        f, g = res.f, res.g
        new = K.truncate(f, g, (TRUNCATION + MARGIN) * eps, SPARSE * K.n_pairs)
        if new is None:  # the potentials now reach too many pairs: the full kernel
            res = _sinkhorn.converge(K, log_a, log_b, f, g, eps, rho, tol,
                                     max(1, max_iter - iterations), progress=progress)  # fmt: skip
            res.iterations += iterations
            return K, res, rounds
        near = new.c - f[new.i] - g[new.j] <= TRUNCATION * eps
        complete = bool(S.contains(new.i[near], new.j[near]).all())
        if complete and res.converged:
            break
        if iterations >= max_iter:
            res.converged = False  # out of iterations, or the pattern still lacks pairs
            break
        if not complete:
            S, rounds = new, rounds + 1
    res.iterations = iterations
    return S, res, rounds


def _sqdist(x, y):
    centre = torch.cat([x, y]).mean(0)
    return torch.cdist(x - centre, y - centre).square_()


def _multiscale(x, y, a, b, blur, rho, tol, max_iter, progress=None):
    ms = Multiscale(x, y, a, b, blur)
    L = ms.n_levels
    lev = ms.level(0)
    f, g = torch.zeros_like(lev.log_a), torch.zeros_like(lev.log_b)
    annealing = 0
    for k in range(L + 1):
        if k:
            f, g, grad_f, grad_g = ms.refine(k, lev, f, g)
            lev = ms.level(k, f, g, grad_f, grad_g)
        if k < L:
            f, g, its = _sinkhorn.anneal(lev.kernel, lev.log_a, lev.log_b, f, g, [lev.eps], rho)
            annealing += its
    iterations, rounds = 0, 1
    while True:  # converge in rounds; between rounds, add the block pairs the potentials need
        res = _sinkhorn.converge(lev.kernel, lev.log_a, lev.log_b, f, g, lev.eps, rho, tol,
                                 min(ROUND_ITER, max_iter - iterations),
                                 progress=progress)  # fmt: skip
        iterations += res.iterations
        f, g = res.f, res.g
        missing = ms.missing(lev, f, g)
        if missing.shape[0] == 0 and res.converged:
            break
        if iterations >= max_iter:
            res.converged = False  # out of iterations, or the pattern still lacks pairs
            break
        if missing.shape[0]:
            lev, rounds = ms.extend(lev, missing), rounds + 1
    res.iterations = iterations
    info = {
        "kernel": "multiscale", "levels": L + 1, "pattern_rounds": rounds,
        "pairs": lev.kernel.n_pairs, "annealing_iterations": annealing,
    }  # fmt: skip
    return lev.kernel, res, lev.order_x, lev.order_y, info


def sparse_plan(kernel, f, g, log_a, log_b, eps: float, keep: float, labels=None, room: int = 0, *,
                row_cap=None):  # fmt: skip
    """Entries of the entropic plan holding ``1 - keep`` of each row's mass, and the plan's values.

    Returns ``src, dst, mass`` sorted by ``src`` then ``dst``, the mass left out, ``<C, pi>``
    and ``sum pi log(pi / (a b))`` over all the kernel's pairs. ``labels (xlab, ylab)``: the
    indices the kernel's rows and columns stand for (the multiscale kernel's point orders).
    ``room``: entries to leave room for behind the plan's arrays (where the native path
    writes them), for an in-place merge. ``row_cap=k`` keeps instead the ``k`` largest
    entries of each row down to :data:`RELATIVE_FLOOR` times the row's largest (``keep``
    unused; the kernel's chunks must be whole rows of equal width, as the dense kernels give
    them): a plan of at most ``k`` entries per row, as the HK solver builds them; its values
    are not computed (``None``).
    """
    native = getattr(kernel, "plan_entries", None)
    if native is not None and _native_plan(kernel) and row_cap is None:
        return _sparse_plan_native(kernel, f, g, log_a, log_b, eps, keep, labels, room)
    src, dst, mass = [], [], []
    dropped = cost = entropy = 0.0
    size = 0
    if row_cap is not None:  # log pi_ij = row_i + col_j - C_ij / eps: two gathers per pair
        row, col = log_a + f / eps, log_b + g / eps
    for i, j, c in kernel.pairs():
        if row_cap is not None:
            logp = row[i] + col[j] - c / eps
            s, t, q, rest = _top_entries(i, j, logp.exp(), logp, row_cap)
        else:
            arg = (f[i] + g[j] - c) / eps  # log(pi / (a b))
            logp = log_a[i] + log_b[j] + arg
            p = logp.exp()
            live = p > 0
            cost += float((p * c)[live].sum())
            entropy += float((p * arg)[live].sum())
            s, t, q, rest = _top_mass(i, j, logp, keep)
        size += s.shape[0]
        _check_size(size, eps)
        src.append(s)
        dst.append(t)
        mass.append(q)
        dropped += rest
    src, dst, mass = torch.cat(src), torch.cat(dst), torch.cat(mass)
    if row_cap is not None:
        cost = entropy = None
    if labels is not None:
        src, dst = labels[0][src], labels[1][dst]
    key = src * kernel.m + dst
    if key.numel() > 1 and not bool((key[1:] > key[:-1]).all()):
        order = torch.argsort(key)
        src, dst, mass = src[order], dst[order], mass[order]
    return src, dst, mass, dropped, cost, entropy


def _check_size(size: int, eps: float) -> None:
    if size > PLAN_LIMIT:
        raise InputError(
            f"the entropic plan at eps={eps:.3g} has more than {PLAN_LIMIT:,} entries of mass; "
            "use a smaller blur, or fewer points"
        )


def _native_plan(kernel) -> bool:
    return getattr(kernel, "_native", None) is not None


def _sparse_plan_native(kernel, f, g, log_a, log_b, eps: float, keep: float, labels=None,
                        room: int = 0):  # fmt: skip
    """:func:`sparse_plan` in native code: each row's threshold is ``keep`` times its mass (one
    soft-minimum) over its number of candidate pairs."""
    s_row, h_col = log_a + f / eps, log_b + g / eps
    log_rows = log_a + (f - kernel.rows(g + eps * log_b, eps)) / eps  # log of each row's mass
    log_cols = log_b + (g - kernel.cols(f + eps * log_a, eps)) / eps
    lthr = log_rows + math.log(keep) - kernel.row_widths().double().clamp_min(1.0).log()
    src, dst, mass, (dropped, cost, plogp) = kernel.plan_entries(
        s_row, h_col, eps, lthr, labels, room
    )
    _check_size(src.shape[0], eps)
    rows, cols = log_rows.exp(), log_cols.exp()
    ok_a, ok_b = torch.isfinite(log_a), torch.isfinite(log_b)
    # sum pi log(a_i b_j)
    cross = float((rows[ok_a] * log_a[ok_a]).sum() + (cols[ok_b] * log_b[ok_b]).sum())
    return src, dst, mass, dropped, cost, plogp - cross


def _top_mass(i, j, logp, keep: float):
    """Per row (rows are whole in a chunk), the entries of at least ``keep * total / count``:
    what is left out is at most ``keep`` of each row's mass, with no sorting."""
    n = int(i.max()) + 1 if i.numel() else 0
    p = logp.exp()
    total = torch.zeros(n, dtype=p.dtype, device=p.device).index_add_(0, i, p)
    count = torch.bincount(i, minlength=n).to(p.dtype)
    kept = (p >= (keep * total / count.clamp_min(1.0))[i]) & (p > 0)
    return i[kept], j[kept], p[kept], float(p[~kept].sum())


def _top_entries(i, j, p, logp, k: int):
    """Per row of a chunk of whole rows of equal width (row-major), the ``k`` largest entries
    down to :data:`RELATIVE_FLOOR` times the row's largest, by column; what is left out is the
    sum of the others (a row of ``-inf`` has no entries and leaves none out)."""
    rows = int(i[-1] - i[0]) + 1 if i.numel() else 0
    if rows == 0:
        return i, j, p, 0.0
    shape = (rows, i.numel() // rows)
    if rows * shape[1] != i.numel():
        raise ValueError("a row cap needs chunks of whole rows of equal width")
    logp, p = logp.reshape(shape), p.reshape(shape)
    top, at = torch.topk(logp, min(k, shape[1]), dim=1)  # (r, k)
    kept = (top >= top[:, :1] + math.log(RELATIVE_FLOOR)) & torch.isfinite(top)
    at, order = torch.where(kept, at, shape[1]).sort(dim=1)  # the kept ones first, by column
    kept = kept.gather(1, order)
    padded = torch.nn.functional.pad(p, (0, 1))  # column shape[1]: where the others point
    mass = padded.gather(1, at)
    rest = float(padded.scatter_(1, at, 0.0).sum())  # the sum of the others, without cancellation
    at = at.clamp_max(shape[1] - 1)
    return (
        i.reshape(shape).gather(1, at)[kept],
        j.reshape(shape).gather(1, at)[kept],
        mass[kept],
        rest,
    )


def round_to_marginals(src, dst, mass, a, b, x, y):
    """Altschuler-Weed-Rigollet rounding on a sparse support (module docstring, step 3).

    ``src, dst, mass`` sorted by ``src`` then ``dst``; returns the same with marginals ``a``,
    ``b`` (the north-west corner's entries merged in) and the mass that moved. ``mass`` is
    scaled in place, and the merge is in place where the arrays have room
    (:func:`~lagrangian_ot.kernels.entries.merge_entries`): no copy of a large plan.
    """
    row = torch.zeros_like(a).index_add_(0, src, mass)
    scale_entries(src, mass, (a / row.clamp_min(1e-300)).clamp(max=1.0))
    col = torch.zeros_like(b).index_add_(0, dst, mass)
    scale = (b / col.clamp_min(1e-300)).clamp(max=1.0)
    scale_entries(dst, mass, scale)
    # rows hold min(row, a) unless the columns' scaling took some of it
    row = (
        torch.zeros_like(a).index_add_(0, src, mass)
        if bool((scale < 1).any())
        else row.clamp(max=a)
    )
    da, db = (a - row).clamp_min(0.0), (b - col * scale).clamp_min(0.0)
    moved = float(da.sum())
    if moved > 0:
        ei, ej, em = _north_west(da, db, x[:, 0], y[:, 0])
        order = torch.argsort(ei * b.shape[0] + ej)
        src, dst, mass = merge_entries(
            (src, dst, mass), (ei[order], ej[order], em[order]), b.shape[0]
        )
    return src, dst, mass, moved


def _north_west(da, db, kx, ky):
    """North-west corner coupling of ``da`` and ``db`` (equal totals up to round-off), both sides
    taken in the order of the keys ``kx``, ``ky``: at most ``n + m - 1`` entries."""
    ox, oy = torch.argsort(kx), torch.argsort(ky)
    ca, cb = torch.cumsum(da[ox], 0), torch.cumsum(db[oy], 0)
    total = min(float(ca[-1]), float(cb[-1]))
    cuts = torch.unique(torch.cat([ca, cb]).clamp(max=total))
    cuts = cuts[cuts > 0]
    lo = torch.cat([cuts.new_zeros(1), cuts[:-1]])
    mid = 0.5 * (lo + cuts)
    i = torch.searchsorted(ca, mid).clamp(max=ca.shape[0] - 1)
    j = torch.searchsorted(cb, mid).clamp(max=cb.shape[0] - 1)
    w = cuts - lo
    keep = w > 0
    return ox[i[keep]], oy[j[keep]], w[keep]


def entropic_plan(x, y, a, b, *, blur: float, reach: float | None, tol: float, max_iter: int,
                  kernel="auto", progress: bool | None = False):  # fmt: skip
    """Everything ``match(method="sinkhorn")`` returns, in float64 on the inputs' device:
    ``src, dst, mass`` (sorted by ``src`` then ``dst``), ``f, g``, the cost of that plan, ``info``.

    ``progress``: draw the iterations at the final blur on stderr (None: on a terminal).
    """
    eps = 2.0 * blur**2
    rho = None if reach is None else 2.0 * reach**2
    with Progress(max_iter, enabled=progress, unit="it") as bar:
        bar.update(0, "annealing")
        K, res, ox, oy, info = potentials(x, y, a, b, blur, rho, tol, max_iter, kernel, bar)
    aa, bb = (a, b) if ox is None else (a[ox], b[oy])
    if not (
        bool(torch.isfinite(res.f[aa > 0]).all()) and bool(torch.isfinite(res.g[bb > 0]).all())
    ):
        raise RuntimeError(
            "Sinkhorn produced non-finite potentials at "
            f"blur={blur:.3g}; use a larger blur or method='exact'"
        )
    labels = None if ox is None else (ox, oy)  # the entries by the callers' indices
    room = 0 if rho is not None else x.shape[0] + y.shape[0]  # for the rounding's entries
    src, dst, mass, dropped, cost, entropy = sparse_plan(
        K, res.f, res.g, aa.log(), bb.log(), eps, tol / 10, labels, room
    )
    plan_mass = float(mass.sum()) + dropped  # of the entropic plan
    moved = 0.0
    if rho is None:
        src, dst, mass, moved = round_to_marginals(src, dst, mass, a, b, x, y)
    plan_cost = entries_cost(src, dst, mass, x, y)
    if ox is not None:  # potentials in the callers' order
        f = torch.empty_like(res.f).index_put_((ox,), res.f)
        g = torch.empty_like(res.g).index_put_((oy,), res.g)
    else:
        f, g = res.f, res.g
    info.update({
        "blur": blur, "epsilon": eps, "reach": reach, "tol": tol, "iterations": res.iterations,
        "converged": res.converged, "marginal_error": res.error, "dropped_mass": dropped,
        "rounded_mass": moved, "entropic_cost": cost,
        "entropic_value": cost + eps * (entropy - plan_mass + float(a.sum()) * float(b.sum())),
    })  # fmt: skip
    if not res.converged:
        warn_user(
            f"Sinkhorn did not converge at blur={blur:.3g}: "
            f"after {res.iterations} iterations the marginal "
            f"error is {res.error:.2e} (tol {tol:.0e}); raise max_iter, use a larger blur or tol, "
            "or method='exact'"
        )
    return src, dst, mass, f, g, plan_cost, info


def entropic_value(x, y, a=None, b=None, *, blur: float | None = None, debias: bool = False,
                   tol: float = 1e-6, max_iter: int = 10_000) -> torch.Tensor:  # fmt: skip
    """The entropic transport value ``OT_eps(a, b) = min <C, pi> + eps KL(pi | a x b)``,
    ``eps = 2 blur^2``.

    With ``debias=True``, the Sinkhorn divergence
    ``OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2`` (Feydy et al. 2019), nonnegative and zero
    for equal measures. Balanced problems (equal totals); the value comes from the converged dual
    potentials, ``<a, f> + <b, g> - eps (sum a - sum a sum b)``, computed without storing ``n x m``.
    Returns a scalar tensor in the dtype and on the device of ``x``. (GeomLoss'
    ``SamplesLoss("sinkhorn")`` uses the cost ``|x - y|^2 / 2``: its value is half of this.)
    """
    from .errors import check_cloud, check_int, check_positive, check_weights

    check_cloud(x, "x")
    check_cloud(y, "y")
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1] or x.device != y.device:
        raise InputError(
            f"x {tuple(x.shape)} and y {tuple(y.shape)} "
            "must be (n, d) and (m, d) clouds on one device"
        )
    a, b = check_weights(a, x, "a").double(), check_weights(b, y.to(x.dtype), "b").double()
    if abs(float(a.sum()) - float(b.sum())) > 1e-6 * float(a.sum()):
        raise InputError("a and b have different totals; entropic_value is for balanced problems")
    blur = default_blur(x, y) if blur is None else check_positive(blur, "blur")
    tol, max_iter = check_positive(tol, "tol"), check_int(max_iter, "max_iter", 1)
    eps = 2.0 * blur**2

    def value(p, q, u, v):
        _, res, ox, oy, _ = potentials(p, q, u, v, blur, None, tol, max_iter)
        uu, vv = (u, v) if ox is None else (u[ox], v[oy])
        if not res.converged:
            warn_user(f"entropic_value: Sinkhorn stopped at max_iter={max_iter} "
                      f"(error {res.error:.1e}); raise max_iter or use a larger blur")  # fmt: skip
        return float((uu * res.f).sum() + (vv * res.g).sum()) - eps * (
            float(u.sum()) - float(u.sum() * v.sum())
        )

    xd, yd = x.detach().double(), y.detach().to(x.dtype).double()
    out = value(xd, yd, a, b)
    if debias:
        out -= 0.5 * (value(xd, xd, a, a) + value(yd, yd, b, b))
    return torch.tensor(out, dtype=x.dtype, device=x.device)
