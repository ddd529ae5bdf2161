"""Sinkhorn plans to a marginal tolerance, against POT and GeomLoss measured in the same run.

    python scripts/bench_sinkhorn.py                  # the whole table (several minutes)
    python scripts/bench_sinkhorn.py --quick          # 10,000 points in 2-D and 5,000 in d = 64
    python scripts/bench_sinkhorn.py --device cuda --sizes 100000,1000000

Rows: our ``match(method="sinkhorn")`` (time to ``tol`` on the L1 marginal error of the
returned plan, iterations, pairs evaluated per iteration, peak memory); POT's
``ot.sinkhorn(method="sinkhorn_log")`` run to the same tolerance in a child process with
a time limit; GeomLoss' potentials (``SamplesLoss``, then the plan from them) with its
marginal error, and our time at that same error. Ratios are reference / ours.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np
import torch

import lagrangian_ot as lot
from lagrangian_ot import _entropic


def clouds(n: int, d: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if d == 2:  # the README's shapes, side by side
        x = lot.load_silhouette("cat", n, sampling="random", seed=seed).double() - torch.tensor(
            [1.5, 0.0], dtype=torch.float64
        )
        y = lot.load_silhouette(
            "disks", n, sampling="random", seed=seed + 1
        ).double() + torch.tensor([1.5, 0.0], dtype=torch.float64)
        return x, y
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = 0.7 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1.0
    return x, y


def l1_error(P: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


def ours(x, y, blur, tol, device="cpu"):
    x, y = x.to(device), y.to(device)
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    plan = lot.match(x, y, method="sinkhorn", blur=blur, tol=tol)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, plan


def _pot_child(x, y, eps, tol, out):
    import ot

    n, m = x.shape[0], y.shape[0]
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    t = time.perf_counter()
    P = ot.sinkhorn(
        a, b, C, eps, method="sinkhorn_log", stopThr=tol, numItermax=1_000_000, warn=False
    )
    out.put((time.perf_counter() - t, l1_error(P, a, b)))


def pot(x, y, eps, tol, limit: float):
    """POT's log-domain Sinkhorn in a child process; ``None`` when it does not finish in ``limit``
    s."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_pot_child, args=(x.numpy(), y.numpy(), eps, tol, q))
    p.start()
    p.join(limit)
    if p.is_alive():
        p.kill()
        p.join()
        return None
    return q.get() if not q.empty() else None


def geomloss(x, y, blur):
    """GeomLoss potentials at its defaults (annealing, scaling 0.5), then the plan's marginal
    error."""
    import contextlib
    import sys

    with contextlib.redirect_stdout(sys.stderr):
        from geomloss import SamplesLoss
    n, m = x.shape[0], y.shape[0]
    a, b = torch.full((n,), 1 / n, dtype=x.dtype), torch.full((m,), 1 / m, dtype=y.dtype)
    t = time.perf_counter()
    F, G = SamplesLoss(
        "sinkhorn", p=2, blur=blur, debias=False, potentials=True, backend="tensorized"
    )(a, x, b, y)
    eps = 2 * blur**2
    C = torch.cdist(x, y) ** 2
    P = a[:, None] * b[None, :] * torch.exp((2 * F.reshape(-1, 1) + 2 * G.reshape(1, -1) - C) / eps)
    elapsed = time.perf_counter() - t
    return elapsed, l1_error(P.numpy(), a.numpy(), b.numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default=None, help="2-D sizes, comma separated")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--pot-limit", type=float, default=120.0)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    sizes2 = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([10_000] if args.quick else [5_000, 10_000, 100_000])
    )
    cases = [(n, 2) for n in sizes2] + [(5_000, 64)]
    print(
        f"device {args.device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, tol {args.tol:g}"
    )
    print(
        f"{'n':>8} {'d':>3} {'blur':>7} | {'ours s':>7} {'iters':>6} "
        f"{'pairs/it':>9} {'error':>8} {'cost':>9} | reference"
    )
    for n, d in cases:
        x, y = clouds(n, d)
        blur = _entropic.default_blur(x, y)
        ours(x[:200], y[:200], blur, args.tol, args.device)  # warm-up
        t, plan = ours(x, y, blur, args.tol, args.device)
        info = plan.info
        pairs = info.get("pairs", n * n)
        iterations = info["iterations"] + info["annealing_iterations"]
        row = (f"{n:>8} {d:>3} {blur:7.4f} | {t:7.2f} {iterations:>6} "
               f"{pairs:9.2e} {info['marginal_error']:8.1e} {float(plan.cost):9.5f} |")  # fmt: skip
        refs = []
        if n * n <= 25_000_000 and args.device == "cpu":
            res = pot(x, y, info["epsilon"], args.tol, args.pot_limit)
            refs.append(f"POT sinkhorn_log > {args.pot_limit:.0f} s" if res is None else
                        f"POT sinkhorn_log {res[0]:.1f} s, "
                        f"error {res[1]:.1e} ({res[0] / t:.1f}x)")  # fmt: skip
            tg, eg = geomloss(x, y, blur)
            t_eq, _ = ours(x, y, blur, max(eg, 1e-12), args.device)
            refs.append(
                f"GeomLoss {tg:.1f} s at error {eg:.1e}; ours "
                f"at that error {t_eq:.2f} s ({tg / t_eq:.1f}x)"
            )
        print(row, "; ".join(refs) if refs else "")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
