"""The transport plan: one object carrying the coupling, its cost and its certificate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .errors import InputError
from .result import upper_bound

_DENSE_LIMIT = 10**8


def take(points: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``points (..., n, d)``, ``index (..., K)`` -> ``points[..., index, :]`` of shape
    ``(..., K, d)``."""
    return torch.take_along_dim(points, index.unsqueeze(-1), dim=-2)


@dataclass(frozen=True)
class Plan:
    """A sparse coupling ``pi = sum_k mass_k delta_(x_src[k], y_dst[k])``.

    Batched plans carry the batch in leading dimensions of every field
    (``x (B, n, d)``, ``src (B, K)``, ``cost (B,)``); entries with zero mass pad
    batches whose supports differ in size.

    Attributes
    ----------
    x, y : Tensor
        The two clouds, ``(n, d)`` and ``(m, d)``.
    src, dst, mass : Tensor
        Support of the plan, ``(K,)`` each, sorted by ``src`` then ``dst``.
    cost : Tensor
        ``sum_k mass_k |x_src[k] - y_dst[k]|^2`` (no 1/2), a scalar tensor
        (batched: ``(B,)``), in the dtype and on the device of the clouds.
    method : str
        ``"exact"`` or ``"sinkhorn"``.
    gap : Tensor or None
        Certified bound on ``cost - optimum`` (exact: from dual potentials
        checked on all pairs), a scalar tensor like ``cost`` (batched: one
        bound for every problem); None when unknown. Both are tensors so that
        they compare, print and convert alike: ``float(plan.gap)``,
        ``f"{plan.gap:.1e}"`` and ``plan.gap <= 1e-9`` work as they did when
        the gap was a float (a float given to the constructor is converted).
    potentials : (Tensor, Tensor) or None
        Dual potentials ``(f, g)`` with ``f_i + g_j <= |x_i - y_j|^2`` (exact), or
        the entropic potentials (Sinkhorn), in the cost ``|x - y|^2``.
    info : dict
        Solver details (blur, dropped mass, ...), with ``iterations`` (pivots and
        augmentations of the exact solver, Sinkhorn iterations) and ``residuals``
        (``marginal``, ``gap``).
    value : Tensor
        ``cost`` under the name every result shares (:mod:`lagrangian_ot.result`).
    """

    x: torch.Tensor
    y: torch.Tensor
    src: torch.Tensor
    dst: torch.Tensor
    mass: torch.Tensor
    cost: torch.Tensor
    method: str
    gap: float | None = None
    potentials: tuple[torch.Tensor, torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        like = self.x if isinstance(self.x, torch.Tensor) else None
        if not isinstance(self.cost, torch.Tensor) and like is not None:
            object.__setattr__(
                self, "cost", torch.as_tensor(self.cost, dtype=like.dtype, device=like.device)
            )
        if self.gap is not None and not isinstance(self.gap, torch.Tensor):
            ref = self.cost if isinstance(self.cost, torch.Tensor) else like
            object.__setattr__(self, "gap", upper_bound(self.gap, ref))  # rounded up: still a bound

        if "iterations" not in self.info:  # the shared result protocol (lagrangian_ot.result)
            self.info["iterations"] = int(
                self.info.get("pivots", 0) + self.info.get("augmentations", 0)
            )
        if "residuals" not in self.info:
            residuals = {}
            if "marginal_error" in self.info:
                residuals["marginal"] = float(self.info["marginal_error"])
            if self.gap is not None and self.gap.dim() == 0:
                residuals["gap"] = float(self.gap)
            self.info["residuals"] = residuals

    @property
    def value(self) -> torch.Tensor:
        """The plan's value ``cost`` (the shared result protocol, :mod:`lagrangian_ot.result`)."""
        return self.cost

    def __getitem__(self, i: int) -> Plan:
        """Problem ``i`` of a batched plan, as an unbatched plan (padding dropped)."""
        if self.src.dim() < 2:
            raise InputError("only batched plans can be indexed")
        keep = self.mass[i] > 0
        pots = None if self.potentials is None else (self.potentials[0][i], self.potentials[1][i])
        gap = self.gap
        return Plan(
            x=self.x[i], y=self.y[i], src=self.src[i][keep], dst=self.dst[i][keep],
            mass=self.mass[i][keep], cost=self.cost[i], method=self.method, gap=gap,
            potentials=pots, info=dict(self.info),
        )  # fmt: skip

    def __len__(self) -> int:
        if self.src.dim() < 2:
            raise TypeError(
                "an unbatched plan has no length; use plan.src.shape[0] for its support"
            )
        return self.src.shape[0]

    @property
    def converged(self) -> bool:
        """Whether the solver reached its tolerance (exact plans: always, with their
        certificate)."""
        info = self.info.get("batch", [self.info]) if "batch" in self.info else [self.info]
        return all(bool(i.get("converged", True)) for i in info)

    @property
    def n(self) -> int:
        """Number of source points."""
        return self.x.shape[-2]

    @property
    def m(self) -> int:
        """Number of target points."""
        return self.y.shape[-2]

    @property
    def is_permutation(self) -> bool:
        """True when ``n == m`` and every source sends all its mass to one distinct target."""
        if self.n != self.m or self.src.shape[-1] != self.n:
            return False
        ar = torch.arange(self.n, device=self.src.device)
        if not bool((self.src == ar).all()):
            return False
        seen = torch.zeros(*self.dst.shape[:-1], self.m, dtype=torch.long, device=self.dst.device)
        seen.scatter_add_(-1, self.dst, torch.ones_like(self.dst))
        return bool((seen == 1).all())

    @property
    def permutation(self) -> torch.Tensor | None:
        """Target index per source ``(n,)`` when the plan is a permutation, else None."""
        return self.dst if self.is_permutation else None

    @property
    def velocity(self) -> torch.Tensor:
        """Displacement ``y[dst] - x[src]`` of each pair, ``(K, d)``."""
        return take(self.y, self.dst) - take(self.x, self.src)

    def dense(self) -> torch.Tensor:
        """The plan as a dense ``(n, m)`` matrix (small problems only)."""
        if self.n * self.m > _DENSE_LIMIT:
            raise InputError(
                f"dense() of a {self.n} x {self.m} plan would not fit; use src, dst, mass"
            )
        batch = self.mass.shape[:-1]
        out = torch.zeros(*batch, self.n * self.m, dtype=self.mass.dtype, device=self.mass.device)
        out.scatter_add_(-1, self.src * self.m + self.dst, self.mass)
        return out.reshape(*batch, self.n, self.m)

    def marginals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Row and column sums ``(a, b)`` of the plan."""
        batch = self.mass.shape[:-1]
        a = torch.zeros(*batch, self.n, dtype=self.mass.dtype, device=self.mass.device)
        b = torch.zeros(*batch, self.m, dtype=self.mass.dtype, device=self.mass.device)
        return a.scatter_add_(-1, self.src, self.mass), b.scatter_add_(-1, self.dst, self.mass)

    def barycentric_map(self) -> torch.Tensor:
        """``T(x_i) = sum_j pi_ij y_j / sum_j pi_ij``, shape ``(n, d)``.

        Rows without mass map to themselves.
        """
        a, _ = self.marginals()
        weighted = take(self.y, self.dst) * self.mass.unsqueeze(-1)  # (..., K, d)
        acc = torch.zeros_like(self.x)
        acc.scatter_add_(-2, self.src.unsqueeze(-1).expand_as(weighted), weighted)  # (..., n, d)
        has = (a > 0).unsqueeze(-1)
        return torch.where(has, acc / a.clamp_min(torch.finfo(a.dtype).tiny).unsqueeze(-1), self.x)
