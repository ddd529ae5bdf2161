"""Benamou-Brenier on grids: iterations and time to 1% and 0.1% of the closed form, before and
after.

Two 2-D Gaussians (a translation and a change of width; closed form
``W2^2 = |m1 - m0|^2 + 2 (s1 - s0)^2``) on the unit square. Each setting is run once
with a tolerance too tight to stop, while the value of every iterate is recorded (it is
the action of the prox output, so recording it costs one pass over the grid): the
iterations and seconds until the value enters, and stays within, 1% and 0.1% of the
closed form, counting the coarse levels' time. Then the solver at the setting's own
stopping rule: iterations, seconds and error.

- ``before``: the original settings (one level, ``tol = 1e-4``), the anchor of this run;
- ``after``: the defaults (coarse-to-fine start, ``tol = 1e-3``).

Milliseconds per fine iteration are also compared with the 129 ms that a public NumPy
port of the same method reports at 50 x 50 x 100 on 2 vCPUs (quoted, not rerun).

    python scripts/bench_bb.py [--dtype float64|float32] [--threads N] [--big] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import torch

from lagrangian_ot import Grid
from lagrangian_ot.dynamic import _multilevel as ml
from lagrangian_ot.dynamic import benamou_brenier
from lagrangian_ot.dynamic._problem import Units
from lagrangian_ot.dynamic._solve import GAMMA
from lagrangian_ot.dynamic._splitting import douglas_rachford, solve
from lagrangian_ot.dynamic._staggered import SpaceTime
from lagrangian_ot.dynamic.benamou_brenier import _density_of
from lagrangian_ot.kernels.prox import prox_w2

ANCHOR_MS = 129.0  # public NumPy port, 50 x 50 x 100, 2 vCPUs
M0, S0, M1, S1 = (0.36, 0.42), 0.07, (0.62, 0.58), 0.09
EXACT = (M1[0] - M0[0]) ** 2 + (M1[1] - M0[1]) ** 2 + 2 * (S1 - S0) ** 2
SETTINGS = {"before": {"multilevel": False, "tol": 1e-4}, "after": {}}


def gaussian(grid: Grid, mean, std, dtype, device):
    p = grid.points().to(dtype)
    r = torch.exp(-((p - torch.tensor(mean, dtype=dtype)) ** 2).sum(-1) / (2 * std**2)).reshape(
        grid.shape
    )
    return (r / (r.sum() * grid.cell_volume)).to(device)


def trajectory(r0, r1, grid, steps, multilevel, max_iter, sync):
    """``(fine iterations, seconds, value)`` after every fine iteration of one run.

    The coarse levels (when ``multilevel``) stop at the default tolerance, as in the
    solver; the finest level runs ``max_iter`` iterations. The unit box and mass 1 make
    the internal units the user's.
    """
    units = Units(grid, 1.0)
    st = SpaceTime(
        grid.shape, units.spacing, steps, source_weight=None, dtype=r0.dtype, device=r0.device
    )
    gamma = GAMMA * float(torch.maximum(r0.amax(), r1.amax()))
    log = []
    sync()
    start = time.perf_counter()

    def prox(r, m, g, last):
        rho, mom = prox_w2(r, m, g, last)
        value = float(_density_of("w2", 2, 1, rho, mom).double().sum()) / steps * units.cell_volume
        sync()
        log.append((len(log) + 1, time.perf_counter() - start, value))
        return rho, mom

    warm = None
    if multilevel and ml.can_coarsen(st.shape, st.T):
        coarse_st = SpaceTime(
            tuple(n // 2 for n in st.shape),
            tuple(2 * h for h in st.spacing),
            st.T // 2,
            source_weight=None,
            dtype=st.dtype,
            device=st.device,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            coarse = solve(
                coarse_st,
                ml.coarsen(r0),
                ml.coarsen(r1),
                prox_w2,
                gamma=gamma,
                tol=1e-3,
                max_iter=5000,
                multilevel=True,
            )
        warm = ml.prolong(*coarse.z, st.d, False)
    douglas_rachford(st, r0, r1, prox, gamma=gamma, tol=1e-12, max_iter=max_iter, start=warm)
    return log


def reach(log, target):
    """First ``(iterations, seconds)`` after which the error stays within ``target``."""
    hit = None
    for k, secs, value in log:
        if abs(value / EXACT - 1) <= target:
            hit = hit or (k, secs)
        else:
            hit = None
    return hit or (-1, float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--big", action="store_true", help="also 256 x 256 x 32 (minutes on 2 cores)"
    )
    parser.add_argument(
        "--max-iter", type=int, default=1500, help="iterations recorded per setting"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    name = (
        torch.cuda.get_device_name(device)
        if cuda
        else f"CPU, {torch.get_num_threads()} torch threads"
    )
    dtype = getattr(torch, args.dtype)
    print(f"Benamou-Brenier between Gaussians, {args.dtype}; {name}; torch {torch.__version__}")
    print(
        f"closed form W2^2 = {EXACT:.6f}; anchors: 'before' in this run, "
        f"{ANCHOR_MS:.0f} ms/iteration (NumPy port)"
    )
    head = (
        f"{'grid':>11} {'setting':>7} {'ms/it':>6} {'to 1%':>14} {'to 0.1%':>14} "
        f"{'stopping rule':>26} {'peak GB':>7}"
    )
    print(head)
    sizes = [(64, 32), (50, 100)] + ([(256, 32)] if args.big else [])
    for n, steps in sizes:
        grid = Grid((0.0, 0.0), (1.0, 1.0), (n, n))
        r0, r1 = gaussian(grid, M0, S0, dtype, device), gaussian(grid, M1, S1, dtype, device)
        base = {}
        for setting, opts in SETTINGS.items():
            if n >= 256 and setting == "before":
                continue  # thousands of iterations of a second each: not rerun at this size
            multilevel = opts.get("multilevel", True)
            cap = args.max_iter if n < 256 else 300
            log = trajectory(r0, r1, grid, steps, multilevel, cap, sync)
            fine_ms = (
                1e3 * (log[-1][1] - log[len(log) // 2][1]) / max(len(log) - 1 - len(log) // 2, 1)
            )
            cells = []
            for target in (1e-2, 1e-3):
                k, secs = reach(log, target)
                cells.append(f"{k:5d} {secs:6.2f}s" if k > 0 else f"{'> ' + str(cap):>14}")
            sync()
            t = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", RuntimeWarning)
                res = benamou_brenier(r0, r1, grid, n_times=steps, progress=False, **opts)
            sync()
            secs = time.perf_counter() - t
            base.setdefault("secs", secs)
            vs_before = f"x{base['secs'] / secs:.1f} vs before" if n < 256 else "(before: not run)"
            flag = "" if res.converged and not caught else " (warned)"
            stop = f"{res.iterations:5d} {secs:6.2f}s {res.value / EXACT - 1:+.1e}{flag}"
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
            print(
                f"{f'{n}x{n}x{steps}':>11} {setting:>7} {fine_ms:6.1f} {cells[0]:>14} "
                f"{cells[1]:>14} {stop:>26} "
                f"{peak:7.2f}  {vs_before}, x{ANCHOR_MS / fine_ms:.1f} vs NumPy port"
            )


if __name__ == "__main__":
    main()
