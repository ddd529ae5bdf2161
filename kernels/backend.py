"""Backend choice: torch (blocked, any device) or KeOps (CUDA by default)."""

from __future__ import annotations

import functools
import importlib.util
import warnings

import torch

BACKENDS = ("auto", "torch", "keops", "fft")


@functools.lru_cache(maxsize=1)
def keops_installed() -> bool:
    """Whether ``pykeops`` can be found (it is not imported here: importing it is slow)."""
    return importlib.util.find_spec("pykeops") is not None


_keops_failure: list[str] = []  # the first KeOps error met where "auto" had chosen it


def keops_failed(backend: str, error: Exception) -> None:
    """Record a KeOps failure. Raises it again unless ``backend`` was ``"auto"``:
    then warns once, and ``"auto"`` means torch from now on."""
    if backend != "auto":
        raise error
    if not _keops_failure:
        _keops_failure.append(f"{type(error).__name__}: {error}".splitlines()[0][:300])
        warnings.warn(
            f"KeOps failed ({_keops_failure[0]}); falling back to the blocked torch reductions. "
            "Pass backend='keops' to see the error, or backend='torch' to silence this.",
            RuntimeWarning,
            stacklevel=3,
        )


def resolve_backend(backend: str, device: torch.device) -> str:
    """Return ``"torch"`` or ``"keops"`` for ``backend`` on ``device``.

    ``"auto"`` is KeOps on CUDA when pykeops is installed, torch otherwise: on
    CPU the blocked torch sums are faster than KeOps' CPU code.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "fft":
        return "torch"  # off grids, FFT has nothing to offer: exact sums
    if backend == "auto":
        return "keops" if device.type == "cuda" and keops_installed() and not _keops_failure else "torch"
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
