"""The main job: the Benamou-Brenier geodesic between two silhouettes, and its outputs."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ._geometry import default_sigma
from ._io import atomic_path
from .errors import InputError
from .match import match
from .plan import Plan
from .silhouette import load_silhouette

SEPARATION = 3.0  # distance between the centres of the two unit-radius shapes


@dataclass
class Geodesic:
    """The result of :func:`silhouette_geodesic`."""

    plan: Plan
    times: tuple[float, ...]
    sigma: float
    source: str
    target: str


def silhouette_geodesic(
    source, target, n: int, *, method: str = "auto", seed: int = 0, sampling: str = "poisson",
    times: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), sigma: float | None = None,
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float64, threshold="auto",
    progress=None,
) -> Geodesic:  # fmt: skip
    """Sample both silhouettes, place them side by side and match them.

    ``threshold`` is :func:`load_silhouette`'s; ``progress`` (a ``_progress.Progress``) is told each
    step.
    """
    step = progress.step if progress is not None else (lambda label: None)
    step(f"sampling {n:,} points in {os.fspath(source)}")
    x = load_silhouette(
        source, n, sampling=sampling, seed=seed, threshold=threshold, dtype=dtype
    ).to(device)
    step(f"sampling {n:,} points in {os.fspath(target)}")
    y = load_silhouette(
        target, n, sampling=sampling, seed=seed + 1, threshold=threshold, dtype=dtype
    ).to(device)
    shift = torch.tensor([SEPARATION / 2, 0.0], dtype=dtype, device=device)
    step("matching")
    plan = match(x - shift, y + shift, method=method)
    sig = float(sigma) if sigma is not None else default_sigma(plan.x)
    return Geodesic(plan, tuple(float(t) for t in times), sig, os.fspath(source), os.fspath(target))


def save_npz(geo: Geodesic, path) -> None:
    """``x, y, src, dst, mass, cost, times`` (and ``sigma, method, gap, source, target``) in one
    ``.npz``."""
    p = geo.plan
    arrays = {
        "x": p.x.detach().cpu().numpy(),
        "y": p.y.detach().cpu().numpy(),
        "src": p.src.cpu().numpy(),
        "dst": p.dst.cpu().numpy(),
        "mass": p.mass.detach().cpu().numpy(),
        "cost": np.asarray(float(p.cost)),
        "times": np.asarray(geo.times, dtype=np.float64),
        "sigma": np.asarray(geo.sigma),
        "method": np.asarray(p.method),
        "gap": np.asarray(np.nan if p.gap is None else float(p.gap)),
        "source": np.asarray(geo.source),
        "target": np.asarray(geo.target),
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def load_npz(path) -> Geodesic:
    """Read a ``geodesic.npz`` written by :func:`save_npz` (or ``lagot interpolate``) back as a
    :class:`Geodesic`: the plan and its settings, without solving anything again."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise InputError(f"{os.fspath(path)!r} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        raise InputError(
            f"{os.fspath(path)!r} is not a geodesic.npz (a NumPy .npz archive) or is damaged"
        ) from None
    missing = {"x", "y", "src", "dst", "mass", "cost", "times", "sigma", "method"} - set(arrays)
    if missing:
        raise InputError(
            f"{os.fspath(path)!r} is not a geodesic.npz: no {', '.join(sorted(missing))}"
        )
    x, y = torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"])
    src, dst = torch.from_numpy(arrays["src"]).long(), torch.from_numpy(arrays["dst"]).long()
    if x.dim() != 2 or y.dim() != 2 or src.shape != dst.shape or len(src) != len(arrays["mass"]):
        raise InputError(f"{os.fspath(path)!r}: inconsistent array shapes")
    mass = arrays["mass"]
    if (
        not (
            np.isfinite(arrays["x"]).all()
            and np.isfinite(arrays["y"]).all()
            and np.isfinite(mass).all()
        )
        or (mass < 0).any()
    ):
        raise InputError(f"{os.fspath(path)!r}: non-finite points or masses, or negative masses")
    if len(src) and (
        int(src.min()) < 0
        or int(src.max()) >= len(x)
        or int(dst.min()) < 0
        or int(dst.max()) >= len(y)
    ):
        raise InputError(f"{os.fspath(path)!r}: plan indices out of range")
    gap = float(arrays["gap"]) if "gap" in arrays else float("nan")
    plan = Plan(
        x=x, y=y, src=src, dst=dst, mass=torch.from_numpy(arrays["mass"]).to(x.dtype),
        cost=torch.tensor(float(arrays["cost"]), dtype=x.dtype), method=str(arrays["method"]),
        gap=None if np.isnan(gap) else gap,
    )  # fmt: skip
    times = tuple(float(t) for t in arrays["times"])
    names = (str(arrays.get("source", "")), str(arrays.get("target", "")))
    return Geodesic(plan, times, float(arrays["sigma"]), *names)
