"""What every result of the package has in common.

:class:`~lagrangian_ot.Plan`, :class:`~lagrangian_ot.HKPlan`,
:class:`~lagrangian_ot.dynamic.DynamicResult` and :class:`~lagrangian_ot.markov.MarkovGeodesic`
all carry

- ``value``: the optimal value found (a scalar tensor: ``W2^2`` of a plan, ``WFR^2`` of a
  semi-coupling or a grid geodesic, the squared Markov distance), in the floating dtype and on
  the device of the inputs (``float(result.value)`` gives the number);
- ``converged``: a bool, whether the solver reached its tolerance;
- ``info``: a dict with at least ``iterations`` (an int) and ``residuals`` (a dict of the
  stopping residuals by name, floats), beside the solver's own details.

Examples
--------
>>> import torch
>>> from lagrangian_ot import Result, match
>>> plan = match(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]))
>>> isinstance(plan, Result), float(plan.value), plan.converged, sorted(plan.info)[:2]
(True, 4.0, True, ['augmentations', 'edges'])
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["Result", "scalar", "upper_bound"]


@runtime_checkable
class Result(Protocol):
    """The shared result protocol (module docstring)."""

    @property
    def value(self) -> torch.Tensor: ...

    @property
    def converged(self) -> bool: ...

    @property
    def info(self) -> dict[str, Any]: ...


def scalar(value, like: torch.Tensor | None = None) -> torch.Tensor:
    """``value`` as a scalar tensor in the floating dtype and on the device of ``like`` (float64 on
    the CPU without it); a tensor is returned as it is."""
    if isinstance(value, torch.Tensor):
        return value
    if like is None or not like.is_floating_point():
        return torch.tensor(float(value), dtype=torch.float64)
    return torch.tensor(float(value), dtype=like.dtype, device=like.device)


def upper_bound(value: float, like: torch.Tensor | None) -> torch.Tensor:
    """A certified bound as a scalar tensor like ``like`` (float64 without it), rounded up when
    the dtype cannot hold it: still a bound."""
    v = float(value)
    bound = torch.as_tensor(v, dtype=like.dtype if like is not None else torch.float64)
    if float(bound) < v:
        bound = torch.nextafter(bound, torch.tensor(float("inf"), dtype=bound.dtype))
    return bound.to(like.device) if like is not None else bound
