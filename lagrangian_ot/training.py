"""Optimal transport inside PyTorch training code.

- :func:`ot_pairs` / :class:`OTPairs`: minibatch OT couplings for flow matching,
  pairing two batches of samples by an exact optimal permutation (or by
  sampling the entropic plan), on the input's device, without gradients
  through the pairing.
- :func:`w2_loss`: a differentiable ``W2^2`` between point clouds; its
  gradient comes from the optimal plan and potentials (envelope theorem).
"""

from __future__ import annotations

import torch

from . import _assignment
from .errors import InputError, all_finite
from .match import match


@torch.no_grad()
def _permutations(a: torch.Tensor, b: torch.Tensor, method: str, generator, blur) -> torch.Tensor:
    """``a, b (B, n, D)`` -> target index for every source, ``(B, n)``."""
    B, n, D = a.shape
    if method == "exact":
        # large low-dimensional batches: the multiscale solver
        if D <= 3 and n > _assignment.DENSE_LIMIT:
            return torch.stack([match(a[i], b[i], method="exact").permutation for i in range(B)])
        return _assignment.batch_permutations(a, b)
    # sinkhorn: sample a partner per source from its row of the entropic plan
    out = torch.empty(B, n, dtype=torch.long, device=a.device)
    for i in range(B):
        plan = match(a[i].double(), b[i].double(), method="sinkhorn", blur=blur)
        P = plan.dense()  # (n, n)
        out[i] = (
            torch.multinomial(P / P.sum(1, keepdim=True), 1, generator=generator)
            .reshape(-1)
            .to(a.device)
        )
    return out


def ot_pairs(
    x0: torch.Tensor,
    x1: torch.Tensor,
    *,
    method: str = "exact",
    dim: int = 0,
    seed: int | None = None,
    blur: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair two minibatches by optimal transport (cost ``|x0_i - x1_j|^2``).

    Parameters
    ----------
    x0, x1 : Tensor
        Samples of the same shape ``(*batch, N, *features)``; pairs are made
        along ``dim`` (default 0), independently for every index of the
        dimensions before it; the dimensions after it are flattened into
        feature vectors (images, any size).
    method : {"exact", "sinkhorn"}
        ``"exact"``: an optimal permutation (certified solver; deterministic).
        ``"sinkhorn"``: each ``x0_i`` gets a partner sampled from row ``i`` of
        the entropic plan (``blur`` as in :func:`match`), with ``seed``.

    Returns
    -------
    ``(x0, x1_matched)``: ``x0`` unchanged and ``x1`` reordered along ``dim``
    so that ``x1_matched[..., i, ...]`` is the partner of ``x0[..., i, ...]``.
    Gradients flow through the values, not through the choice of pairs.

    Examples
    --------
    >>> import torch
    >>> x0 = torch.tensor([[0.0], [1.0], [2.0]]); x1 = torch.tensor([[2.1], [0.1], [1.1]])
    >>> [round(v, 4) for v in ot_pairs(x0, x1)[1].flatten().tolist()]
    [0.1, 1.1, 2.1]
    """
    if method not in ("exact", "sinkhorn"):
        raise InputError(f"unknown method {method!r}; expected 'exact' or 'sinkhorn'")
    if not isinstance(x0, torch.Tensor) or not isinstance(x1, torch.Tensor):
        raise InputError("ot_pairs takes two tensors")
    if x0.shape != x1.shape:
        raise InputError(f"x0 {tuple(x0.shape)} and x1 {tuple(x1.shape)} must have the same shape")
    if x0.dim() == 0 or not x0.is_floating_point() or not x1.is_floating_point():
        raise InputError("ot_pairs takes floating tensors with at least one dimension")
    if x0.device != x1.device:
        raise InputError(f"x0 is on {x0.device} but x1 is on {x1.device}")
    dim = dim % x0.dim()
    n = x0.shape[dim]
    if n == 0:
        return x0, x1
    lead = x0.shape[:dim]
    feats = 1
    for size in x0.shape[dim + 1 :]:
        feats *= size
    a = x0.detach().reshape(-1, n, feats)  # (B, n, D)
    b = x1.detach().reshape(-1, n, feats)
    # the exact path checks its costs
    if method != "exact" and not (all_finite(a) and all_finite(b)):
        raise InputError("ot_pairs: the samples contain NaN or infinite values")
    gen = None
    if seed is not None:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
    perm = _permutations(a, b, method, gen, blur).to(x1.device)  # (B, n)
    index = perm.reshape(*lead, n, *([1] * (x1.dim() - dim - 1))).expand_as(x1)
    return x0, torch.gather(x1, dim, index)


class OTPairs:
    """:func:`ot_pairs` as an object, for a training step or a ``collate_fn``.

    >>> pair = OTPairs(method="exact")
    >>> x0, x1 = pair(torch.randn(8, 2), torch.randn(8, 2))
    """

    def __init__(
        self,
        method: str = "exact",
        *,
        dim: int = 0,
        seed: int | None = None,
        blur: float | None = None,
    ):
        if method not in ("exact", "sinkhorn"):
            raise InputError(f"unknown method {method!r}; expected 'exact' or 'sinkhorn'")
        self.method, self.dim, self.seed, self.blur = method, dim, seed, blur
        self._calls = 0

    def __call__(self, x0: torch.Tensor, x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seed = None if self.seed is None else self.seed + self._calls
        self._calls += 1
        return ot_pairs(x0, x1, method=self.method, dim=self.dim, seed=seed, blur=self.blur)

    def collate(self, batch):
        """``collate_fn`` for a loader yielding ``(x0, x1)`` pairs: stacks, then pairs."""
        x0 = torch.stack([item[0] for item in batch])
        x1 = torch.stack([item[1] for item in batch])
        return self(x0, x1)


def w2_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    a: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    *,
    method: str = "exact",
    blur: float | None = None,
) -> torch.Tensor:
    """Differentiable ``W2^2`` between weighted clouds (cost ``|x - y|^2``, no 1/2).

    The plan is computed without gradients; the value ``sum_k mass_k |x_src - y_dst|^2``
    is then differentiated with the plan held fixed, which is the gradient of
    ``W2^2`` (envelope theorem): ``dW/dx_i = 2 (a_i x_i - sum_j pi_ij y_j)``.
    Gradients in the weights are the dual potentials, ``dW/da = f``, ``dW/db = g``
    (defined up to a constant, which cancels for perturbations keeping the totals).
    ``method="sinkhorn"`` uses the entropic plan instead (with its potentials).
    Batched clouds ``(B, n, d)`` give ``(B,)``.
    """
    with torch.no_grad():
        plan = match(x.detach(), y.detach(), None if a is None else a.detach(),
                     None if b is None else b.detach(), method=method, blur=blur)  # fmt: skip
    xs = torch.take_along_dim(x, plan.src.unsqueeze(-1), dim=-2)  # (..., K, d)
    yd = torch.take_along_dim(y, plan.dst.unsqueeze(-1), dim=-2)
    value = (plan.mass.to(x.dtype) * ((xs - yd) ** 2).sum(-1)).sum(-1)  # (...,)
    if plan.potentials is not None and (a is not None or b is not None):
        f, g = plan.potentials
        extra = 0.0
        if a is not None:
            extra = extra + (a * f.to(a.dtype)).sum(-1)
        if b is not None:
            extra = extra + (b * g.to(b.dtype)).sum(-1)
        value = value + (extra - extra.detach())  # same value, gradients f and g in the weights
    return value
