"""``match``: optimal plans between point clouds, exact or entropic."""

from __future__ import annotations

import torch

from . import _assignment, _entropic, _exact
from ._progress import Progress
from .errors import InputError, check_cloud, check_int, check_positive, check_weights
from .kernels.threads import fit_threads
from .plan import Plan

METHODS = ("auto", "exact", "sinkhorn")
AUTO_EXACT_LIMIT = 200_000  # auto: exact up to this many points per cloud


def _match_one(x, y, a, b, method, blur, reach, backend, tol, max_iter, progress) -> Plan:
    dtype = x.dtype
    x, y, a, b = x.detach(), y.detach(), a.detach(), b.detach()  # plans are not differentiated
    if method == "exact":
        with Progress(1, enabled=progress) as bar:
            bar.step(f"exact plan, {x.shape[0]:,} x {y.shape[0]:,} points")
            sol = _exact.solve(x, y, a, b, backend=backend)
        cost = torch.tensor(sol.cost, dtype=torch.float64, device=x.device)
        return Plan(
            x=x, y=y, src=sol.src, dst=sol.dst, mass=sol.mass.to(dtype),
            cost=cost.to(dtype), method="exact", gap=sol.gap,
            potentials=(sol.f.to(dtype), sol.g.to(dtype)), info=sol.info,
        )  # fmt: skip
    blur = _entropic.default_blur(x, y) if blur is None else blur
    src, dst, mass, f, g, cost, info = _entropic.entropic_plan(
        x.double(),
        y.double(),
        a.double(),
        b.double(),
        blur=blur,
        reach=reach,
        tol=tol,
        max_iter=max_iter,
        progress=progress,
    )
    cost = torch.tensor(cost, dtype=torch.float64, device=x.device)
    return Plan(
        x=x, y=y, src=src, dst=dst, mass=mass.to(dtype), cost=cost.to(dtype), method="sinkhorn",
        gap=None, potentials=(f.to(dtype), g.to(dtype)), info=info,
    )  # fmt: skip


def _match_batch_assignment(x, y, a) -> Plan:
    """Batched equal-size uniform problems: one optimal permutation per problem."""
    x, y, a = x.detach(), y.detach(), a.detach()
    B, n, _ = x.shape
    perm, f, g, gaps = _assignment.solve_batch_assignment(x, y)
    src = torch.arange(n, device=x.device).expand(B, n)
    mass = a.to(x.dtype)  # (B, n), uniform
    cost = (
        mass.double()
        * ((x.double() - torch.take_along_dim(y.double(), perm[..., None], dim=1)) ** 2).sum(-1)
    ).sum(-1)
    total = a.sum(-1, keepdim=True).double()  # potentials scale with the total mass
    return Plan(
        x=x, y=y, src=src, dst=perm, mass=mass, cost=cost.to(x.dtype), method="exact",
        gap=float((gaps * total[:, 0]).max()),
        potentials=((f * total).to(x.dtype), (g * total).to(x.dtype)),
        info={"batched": "dense assignment"},
    )  # fmt: skip


def _stack(plans: list[Plan], x: torch.Tensor, y: torch.Tensor) -> Plan:
    """Batch plans, padding supports of different sizes with zero-mass entries."""
    K = max(p.src.shape[0] for p in plans)

    def pad(t, fill=0):
        return torch.cat([t, t.new_full((K - t.shape[0],), fill)])

    pots = None
    if all(p.potentials is not None for p in plans):
        pots = (
            torch.stack([p.potentials[0] for p in plans]),
            torch.stack([p.potentials[1] for p in plans]),
        )
    gaps = [p.gap for p in plans]
    return Plan(
        x=x, y=y,
        src=torch.stack([pad(p.src) for p in plans]),
        dst=torch.stack([pad(p.dst) for p in plans]),
        mass=torch.stack([pad(p.mass) for p in plans]),
        cost=torch.stack([p.cost for p in plans]),
        method=plans[0].method,
        gap=None if any(g is None for g in gaps) else max(gaps),
        potentials=pots,
        info={"batch": [p.info for p in plans]},
    )  # fmt: skip


# one thread for small clouds
@fit_threads(lambda x, y, *_, **__: x.shape[-3:-1].numel() * y.shape[-2])
def match(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    method: str = "auto",
    blur: float | None = None,
    reach: float | None = None,
    backend: str = "auto",
    tol: float = 1e-4,
    max_iter: int = 10_000,
    progress: bool | None = None,
) -> Plan:
    """Optimal transport plan between two point clouds for the cost ``|x - y|^2``.

    Parameters
    ----------
    x, y : Tensor
        Clouds ``(n, d)`` and ``(m, d)``, or batches ``(B, n, d)`` and ``(B, m, d)``.
    a, b : Tensor, optional
        Nonnegative weights ``(n,)`` and ``(m,)`` (batched: ``(B, n)``, ``(B, m)``);
        uniform ``1/n`` and ``1/m`` by default. Balanced problems need equal totals.
    method : {"auto", "exact", "sinkhorn"}
        ``"exact"``: an optimal plan of the discrete problem, certified by dual
        potentials checked on all pairs (``plan.gap``); equal sizes with uniform
        weights give a permutation. ``"sinkhorn"``: the entropic plan of blur
        ``blur`` (``eps = 2 blur^2``), iterated until its marginals are within ``tol``,
        kept sparse and rounded onto the marginals (``plan.info`` says how much mass
        moved; ``plan.converged`` says whether ``tol`` was reached).
        ``"auto"``: exact unless a cloud has more than 200,000 points.
    blur : float, optional
        Sinkhorn blur (a length), default 1% of the diameter of the clouds and at most
        10 nearest-neighbour spacings (so a plan's size grows like the number of points).
    reach : float, optional
        Sinkhorn only: relax the marginals by ``2 reach^2 KL`` (unbalanced).
    backend : {"auto", "torch", "keops"}
        Backend of the exact solver's all-pairs reductions: ``"auto"`` (native code on
        CPU, blocked torch elsewhere), ``"torch"`` or ``"keops"``.
    tol : float
        Sinkhorn only: the L1 error of the plan's marginals, relative to the total mass,
        at which the iterations stop (default ``1e-4``).
    max_iter : int
        Sinkhorn only: iteration cap at the final blur; stopping there warns.
    progress : bool or None
        Draw the solve's progress on stderr (None: only when stderr is a terminal).

    Returns
    -------
    Plan

    Examples
    --------
    >>> import torch
    >>> from lagrangian_ot import match
    >>> x = torch.tensor([[0.0], [1.0]]); y = torch.tensor([[1.1], [0.1]])
    >>> plan = match(x, y, method="exact")
    >>> plan.permutation.tolist(), round(float(plan.cost), 6)
    ([1, 0], 0.01)
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    check_cloud(x, "x")
    check_cloud(y, "y")
    if x.dim() != y.dim() or x.shape[-1] != y.shape[-1] or x.shape[:-2] != y.shape[:-2]:
        raise InputError(
            f"x {tuple(x.shape)} and y {tuple(y.shape)} must share batch and point dimensions"
        )
    if x.device != y.device:
        raise InputError(f"x is on {x.device} but y is on {y.device}")
    y = y.to(x.dtype)
    a = check_weights(a, x, "a")
    b = check_weights(b, y, "b")
    if blur is not None:
        blur = check_positive(blur, "blur")
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter", 1)
    if reach is not None:
        reach = check_positive(reach, "reach")
        if method == "exact":
            raise InputError("reach (unbalanced transport) needs method='sinkhorn'")
        method = "sinkhorn"
    if method == "auto":
        method = "exact" if max(x.shape[-2], y.shape[-2]) <= AUTO_EXACT_LIMIT else "sinkhorn"
    if reach is None:
        ta, tb = a.sum(-1).double(), b.sum(-1).double()
        if bool(((ta - tb).abs() > 1e-6 * ta).any()):
            raise InputError(
                f"a and b have different totals ({float(ta.max()):.6g} vs {float(tb.max()):.6g}); "
                "normalise them, or pass reach= for unbalanced transport"
            )
    if x.dim() == 3:
        if x.shape[0] == 0:
            raise InputError("the batch is empty (B = 0)")
        uniform = bool((a == a[..., :1]).all()) and bool((b == b[..., :1]).all())
        if (
            method == "exact"
            and uniform
            and x.shape[1] == y.shape[1]
            and x.shape[1] <= _assignment.DENSE_LIMIT
        ):
            return _match_batch_assignment(x, y, a)
        plans = [
            _match_one(x[i], y[i], a[i], b[i], method, blur, reach, backend, tol, max_iter, False)
            for i in range(x.shape[0])
        ]
        return _stack(plans, x, y)
    return _match_one(x, y, a, b, method, blur, reach, backend, tol, max_iter, progress)
