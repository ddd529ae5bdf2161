"""Minibatch OT pairing for flow matching: ours against the POT loop.

The usual pairing (as in torchcfm): ``torch.cdist`` on the batch, the cost
matrix copied to the host, POT's ``ot.emd``, the permutation read off the plan.
Ours: :func:`lagrangian_ot.ot_pairs` (exact, certified). One run, one table:
batch sizes 128 / 256 / 1,024 / 4,096 and dimensions 2 / 64 / 3,072 (CIFAR-sized
vectors), float32 samples, noise to a shifted and scaled Gaussian mixture.
Both must give the same pairs' cost. Target: at least 5x faster at 256 and above.
Times are the best of several runs (more for the small, fast rows), both sides
timed alternately in the same process. The last column is the time of the
bare product ``x0 @ x1.T``, which every exact pairing needs (all n^2 inner
products): where it dominates (d = 3,072), it bounds the speed-up.

    python scripts/bench_pairs.py [--sizes 128,256,1024,4096] [--dims 2,64,3072] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lagrangian_ot import ot_pairs


def pot_pairs(x0: torch.Tensor, x1: torch.Tensor):
    import ot

    n = x0.shape[0]
    M = torch.cdist(x0, x1) ** 2
    plan = ot.emd(
        np.full(n, 1.0 / n),
        np.full(n, 1.0 / n),
        M.cpu().numpy().astype(np.float64),
        numItermax=10**8,
    )
    return x0, x1[torch.from_numpy(plan.argmax(1)).to(x1.device)]


def samples(n: int, d: int, seed: int, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=g)
    centres = torch.randn(8, d, generator=g) * 2
    x1 = centres[torch.randint(0, 8, (n,), generator=g)] + 0.3 * torch.randn(n, d, generator=g)
    return x0.to(device), x1.to(device)


def timed(fn, repeat, device):
    best = float("inf")
    out = None
    for _ in range(repeat):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256,1024,4096")
    parser.add_argument("--dims", default="2,64,3072")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dev = args.device
    ot_pairs(*samples(8, 2, 0, dev))  # load the native library outside the timings
    pot_pairs(*samples(8, 2, 0, dev))
    print(
        f"device: {torch.cuda.get_device_name(dev) if dev.startswith('cuda') else 'cpu'}, "
        f"torch threads: {torch.get_num_threads()}"
    )
    print(f"{'batch':>6}{'d':>6}{'ours (s)':>10}{'POT loop (s)':>14}{'speed-up':>10}"
          f"{'pairs cost (ours)':>19}{'rel. diff':>11}{'x0 @ x1.T (s)':>15}")  # fmt: skip
    for n in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            x0, x1 = samples(n, d, n + d, dev)
            repeat = 20 if n <= 256 else 5 if n <= 1024 else 1
            t_ours, t_pot = float("inf"), float("inf")
            for _ in range(2 if n <= 1024 else 1):  # alternate, so that both see the same machine
                t, (a, b) = timed(lambda: ot_pairs(x0, x1), repeat, dev)
                t_ours = min(t_ours, t)
                t, (_, c) = timed(lambda: pot_pairs(x0, x1), max(1, repeat // 4), dev)
                t_pot = min(t_pot, t)
            t_mm, _ = timed(lambda: x0 @ x1.T, repeat, dev)
            ours = float(((a.double() - b.double()) ** 2).sum(1).mean())
            ref = float(((x0.double() - c.double()) ** 2).sum(1).mean())
            print(f"{n:>6}{d:>6}{t_ours:>10.4f}{t_pot:>14.4f}{t_pot / t_ours:>9.1f}x{ours:>19.6f}"
                  f"{abs(ours - ref) / ref:>11.1e}{t_mm:>15.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
