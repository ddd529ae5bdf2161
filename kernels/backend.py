"""Backend choice: torch (blocked, any device) or KeOps (CUDA by default)."""

from __future__ import annotations

import functools
import importlib.util

import torch

BACKENDS = ("auto", "torch", "keops", "fft")


@functools.lru_cache(maxsize=1)
def keops_installed() -> bool:
    """Whether ``pykeops`` can be found (it is not imported here: importing it is slow)."""
    return importlib.util.find_spec("pykeops") is not None


def resolve_backend(backend: str, device: torch.device) -> str:
    """Return ``"torch"`` or ``"keops"`` for ``backend`` on ``device``.

    ``"auto"`` is the blocked torch code on every device; KeOps runs where it
    is asked for (``backend="keops"``). On CPU the blocked torch sums are
    faster than KeOps' CPU code; on CUDA, pykeops 2.3 crashed the process
    (a segmentation fault, which no fallback can catch) with CUDA 13 and
    torch 2.11 on an H200, so it is not chosen behind a user's back.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "fft":
        return "torch"  # off grids, FFT has nothing to offer: exact sums
    if backend == "auto":
        return "torch"
    if backend == "keops" and not keops_installed():
        raise RuntimeError("backend='keops' needs pykeops: pip install pykeops")
    return backend


def available_backends() -> dict[str, bool]:
    """Which backends can run here (KeOps is reported installed, not compiled)."""
    return {
        "torch": True,
        "keops": keops_installed(),
        "cuda": torch.cuda.is_available(),
    }


def row_block(n_cols: int, bytes_per_entry: int = 8, budget: int = 1 << 25) -> int:
    """Rows per block so that one block of ``n_cols`` entries stays under ``budget`` bytes."""
    return max(1, budget // max(1, n_cols * bytes_per_entry))


def keops_probe(timeout: float = 600.0) -> str:
    """Compile and run KeOps' own test in a child process; a one-line verdict.

    A crash there (pykeops 2.3 segfaulted under CUDA 13) is reported instead of ending the caller.
    """
    import subprocess
    import sys

    code = "import pykeops; pykeops.test_torch_bindings()"
    try:
        r = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"failed: no answer within {timeout:.0f} s"
    if r.returncode == 0:
        return "compiles and runs"
    if r.returncode < 0:
        return (
            f"crashed (signal {-r.returncode}); keep the default backend='auto', "
            "which does not use KeOps"
        )
    last = (r.stderr.strip().splitlines() or ["no message"])[-1]
    return f"failed: {last}"
