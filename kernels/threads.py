"""How many CPU threads a computation gets: one for small work, the pool only where it pays.

torch's intra-op pool (OpenMP) cuts every operation above a few ten thousand
elements across all cores and waits for the slowest at a barrier. When another
program keeps one core busy, the thread on that core loses its time slice
(milliseconds) and every small operation waits for it: a grid solver making
thousands of operations on 10^4 - 10^6 elements ran 30x slower
(``scripts/bench_threads.py`` measures it). Passive waiting
(``OMP_WAIT_POLICY=passive``) did not help when measured: the barrier still
waits for the descheduled thread. One thread per ``GRAIN`` elements of the
largest operation keeps a busy core's cost near 2x; below that size a second
thread gained little even without the busy core (small element-wise products,
FFTs and matrix products measured on 2 cores).

The policy never raises the thread count above the one in force
(``torch.set_num_threads`` or ``OMP_NUM_THREADS``), so a user's setting is an
upper bound, and it changes nothing for work on a GPU.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch

GRAIN = 1 << 20  # elements per thread of the largest operation (8 MB of float64)
# set by limit_threads(..., native=)
_NATIVE = contextvars.ContextVar("lagot_native_threads", default=None)

F = TypeVar("F", bound=Callable)


def available_cpus() -> int:
    """Cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def threads_for(elements: int) -> int:
    """Threads for work whose largest operation has ``elements`` elements.

    ``1`` below ``2 * GRAIN``, then one per ``GRAIN``, at most the threads in force.
    """
    cap = max(1, min(torch.get_num_threads(), available_cpus()))
    return max(1, min(cap, int(elements) // GRAIN))


def native_threads() -> int:
    """Threads of the native kernels' own pools: torch's setting, or the one kept by
    ``limit_threads(..., native=True)``; at most the cores this process may use."""
    kept = _NATIVE.get()
    return max(1, min(torch.get_num_threads() if kept is None else kept, available_cpus()))


@contextlib.contextmanager
def limit_threads(n: int, native: bool = False) -> Iterator[int]:
    """Run the block with at most ``n`` torch threads (restored after); yields the count used.

    ``native=True`` keeps the native kernels at the count in force before (they split large
    work into many pieces, so a busy core costs them little): for loops whose torch
    operations are small next to their native ones.
    """
    before = torch.get_num_threads()
    token = _NATIVE.set(native_threads()) if native else None
    n = max(1, min(int(n), before))
    if n != before:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            torch.set_num_threads(before)
        if token is not None:
            _NATIVE.reset(token)


def _largest_cpu_tensor(values) -> int | None:
    """Elements of the largest tensor among ``values``; None when one of them is not on the CPU."""
    largest = 0
    for v in values:
        if isinstance(v, torch.Tensor):
            if v.device.type != "cpu":
                return None
            largest = max(largest, v.numel())
    return largest


def fit_threads(work: Callable[..., int] | None = None) -> Callable[[F], F]:
    """Decorator: run the function with :func:`threads_for` threads.

    ``work(*args, **kwargs)`` gives the elements of the function's largest
    operation; by default, the largest tensor argument. Functions given a GPU
    tensor run unchanged.

    Examples
    --------
    >>> @fit_threads(lambda x, steps: x.numel() * steps)
    ... def smooth(x, steps):
    ...     return torch.get_num_threads()
    >>> smooth(torch.zeros(64, 64), 32)
    1
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            n = _threads_for_call(work, args, kwargs)
            threads = limit_threads(n) if n else contextlib.nullcontext()
            with _warnings_from(sys._getframe(1)), threads:
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return wrap


def _threads_for_call(work, args, kwargs) -> int | None:
    """Threads for one call; None to leave them as they are (GPU tensors, arguments ``work`` cannot
    read)."""
    largest = _largest_cpu_tensor((*args, *kwargs.values()))
    if largest is None:
        return None
    if work is None:
        return threads_for(largest)
    try:
        return threads_for(int(work(*args, **kwargs)))
    except Exception:  # bad arguments: the function itself reports them
        return None


@contextlib.contextmanager
def _warnings_from(caller) -> Iterator[None]:
    """Warnings raised inside are issued again at ``caller``'s line, as if no wrapper stood between
    (a solver's ``stacklevel`` points at its caller, which is this module's wrapper)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record each one; the caller's filters decide below
        yield
    here = os.path.normcase(__file__)
    for w in caught:
        if os.path.normcase(w.filename) == here:
            registry = caller.f_globals.setdefault("__warningregistry__", {})
            warnings.warn_explicit(w.message, w.category, caller.f_code.co_filename,
                                   caller.f_lineno, module=caller.f_globals.get("__name__"),
                                   registry=registry)  # fmt: skip
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno or 0)
