"""Errors raised for bad input, and the checks that raise them."""

from __future__ import annotations

import numbers
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where a check needs it: `lagot --help` runs without it
    import torch


class InputError(ValueError):
    """Bad input: the message says what was wrong and what to do."""


def all_finite(t: torch.Tensor) -> bool:
    """No NaN or infinity in ``t``: a finite sum says so in one pass; otherwise look element by
    element (a sum can also overflow)."""
    import torch

    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def check_cloud(x: torch.Tensor, name: str) -> torch.Tensor:
    """A point cloud ``(n, d)`` or a batch ``(B, n, d)`` of finite floats, ``n >= 1``."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise InputError(
            f"{name} must be a torch.Tensor of shape (n, d) or (B, n, d), got {type(x).__name__}"
        )
    if x.dim() not in (2, 3):
        raise InputError(f"{name} must have shape (n, d) or (B, n, d), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating tensor, got {x.dtype}")
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise InputError(f"{name} is empty: shape {tuple(x.shape)}")
    if not all_finite(x):
        raise InputError(f"{name} contains NaN or infinite values")
    return x


def check_weights(a: torch.Tensor | None, x: torch.Tensor, name: str) -> torch.Tensor:
    """Nonnegative finite weights matching the cloud ``x``; uniform ``1/n`` when None."""
    import torch

    n = x.shape[-2]
    if a is None:
        return torch.full(x.shape[:-1], 1.0 / n, dtype=x.dtype, device=x.device)
    a = torch.as_tensor(a, device=x.device)
    if a.shape != x.shape[:-1]:
        raise InputError(
            f"{name} must have shape {tuple(x.shape[:-1])} to match the cloud, got {tuple(a.shape)}"
        )
    if not all_finite(a):
        raise InputError(f"{name} contains NaN or infinite values")
    if bool((a < 0).any()):
        raise InputError(f"{name} has negative entries; weights must be nonnegative")
    if bool((a.sum(-1) <= 0).any()):
        raise InputError(f"{name} sums to zero; give at least one positive weight")
    return a.to(x.dtype)


def check_positive(value: float, name: str) -> float:
    """A finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not (v > 0 and v < float("inf")):
        raise InputError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """An integer (Python, NumPy or a 0-d integer tensor; not a bool) in ``[low, high]`` (no upper
    bound when ``high`` is None)."""
    torch = sys.modules.get("torch")  # a tensor exists only where torch is imported
    if (
        torch is not None
        and isinstance(value, torch.Tensor)
        and value.dim() == 0
        and not (value.is_floating_point() or value.is_complex())
    ):
        # a bool tensor stays a (refused) bool
        value = bool(value) if value.dtype == torch.bool else int(value)
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and low <= value and (high is None or value <= high):
        return int(value)
    span = f">= {low}" if high is None else f"from {low} to {high}"
    raise InputError(f"{name} must be an integer {span}, got {value!r}")


def check_times(
    t, name: str = "t", *, extrapolate: bool = False, hint: str = "", dtype=None, device=None
):
    """Times as a 1-D tensor, and whether a single time was given: ``(tensor (T,), scalar)``.

    ``t`` is a number, a sequence of numbers or a 0-d / 1-D tensor; at least one time, all
    finite and, unless ``extrapolate``, in [0, 1] (``hint`` is appended to that message).
    The tensor is in ``dtype`` (default float64) on ``device`` (default: where ``t`` is).
    """
    import torch

    try:
        tt = torch.as_tensor(t, dtype=dtype or torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise InputError(
            f"{name} must be a number or a 1-D sequence of numbers in [0, 1], got {t!r}"
        ) from None
    if tt.dim() > 1:
        raise InputError(
            f"{name} must be a float or a 1-D tensor of times, got shape {tuple(tt.shape)}"
        )
    scalar = tt.dim() == 0
    tt = tt.reshape(-1)
    if tt.numel() == 0:
        raise InputError(f"{name} is empty: give at least one time in [0, 1]")
    if not bool(torch.isfinite(tt).all()):
        where = "" if extrapolate else ": times are finite numbers in [0, 1]"
        raise InputError(f"{name} contains NaN or infinite values{where}")
    outside = (tt < 0) | (tt > 1)
    if not extrapolate and bool(outside.any()):
        raise InputError(f"{name} must be in [0, 1], got {float(tt[outside][0]):g}{hint}")
    return (tt if device is None else tt.to(device)), scalar


def warn_user(message: str, category: type[Warning] = RuntimeWarning) -> None:
    """Issue a warning at the first caller outside this package (and its kernels), however deep
    inside the library it is raised: the user sees their own line."""
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__))
    kernels = os.path.join(os.path.dirname(package), "kernels")
    level, frame = 2, sys._getframe(1)  # stacklevel 2: the caller of this function
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        (package, kernels)
    ):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
