"""The library on a CUDA device against its CPU path, in one run and one table.

Every row times the same call with the data on the GPU and on the CPU of the
same machine (best of a few runs after one warm-up, which also compiles any
KeOps formula), and checks that both give the same answer:

- exact plans (``match(method="exact")``): cat -> disks at 10,000 and 100,000
  points; the solver runs on the host, the all-pairs certificate on the device;
- Sinkhorn plans at 20,000 and 100,000 points, on the GPU alone (the CPU path is
  GeomLoss on KeOps);
- density + momentum of 100,000 particles at 5 times on a 512 x 512 grid
  (FFT), and exact Gaussian sums (blocked torch; KeOps with ``--keops``);
- minibatch pairing (``ot_pairs``) at 1,024 and 4,096 samples, d = 2, 64, 3,072,
  with the POT loop (cdist on the device, copy, ``ot.emd``) as the anchor.

    python scripts/bench_gpu.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lagrangian_ot import (
    Grid,
    density,
    density_and_momentum,
    load_silhouette,
    match,
    mccann,
    ot_pairs,
)


def timed(fn, repeat: int, device: torch.device, warm: bool = True):
    if warm:
        fn()  # warm-up (and KeOps compilation)
    best, out = float("inf"), None
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def clouds(n: int, device: torch.device, dtype=torch.float32):
    shift = torch.tensor([1.5, 0.0], dtype=torch.float64)
    x = load_silhouette("cat", n, dtype=torch.float64) - shift
    y = load_silhouette("disks", n, dtype=torch.float64) + shift
    return x.to(device, dtype), y.to(device, dtype)


def rel(a, b) -> float:
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


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


def pair_samples(n: int, d: int, seed: int, device):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(n, d, generator=g)
    centres = torch.randn(8, d, generator=g) * 2
    x1 = centres[torch.randint(0, 8, (n,), generator=g)] + 0.3 * torch.randn(n, d, generator=g)
    return x0.to(device), x1.to(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (a smoke test)")
    parser.add_argument(
        "--skip-plans", action="store_true", help="skip the exact and Sinkhorn rows"
    )
    parser.add_argument("--keops", action="store_true", help="also time KeOps' exact sum (opt-in)")
    parser.add_argument(
        "--device", default="cuda", help="the device compared with the CPU (default cuda)"
    )
    args = parser.parse_args()
    gpu, cpu = torch.device(args.device), torch.device("cpu")
    if gpu.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu: no CUDA device here")
    name = torch.cuda.get_device_name() if gpu.type == "cuda" else str(gpu)
    print(f"device: {name} | torch {torch.__version__} | host threads {torch.get_num_threads()}")
    big = 10_000 if args.quick else 100_000
    rows = []

    def compare(name, fn, repeat=3, check=None, warm=True):
        t_gpu, out_gpu = timed(lambda: fn(gpu), repeat, gpu, warm)
        t_cpu, out_cpu = timed(lambda: fn(cpu), repeat, cpu, warm)
        agree = check(out_gpu, out_cpu) if check else "-"
        rows.append((name, t_gpu, t_cpu, agree))
        print(f"{name:<44}{t_gpu:>10.4f}{t_cpu:>10.4f}{t_cpu / t_gpu:>9.1f}x  {agree}", flush=True)

    print(f"{'workload':<44}{'GPU (s)':>10}{'CPU (s)':>10}{'CPU/GPU':>10}  agreement")
    for n in () if args.skip_plans else (10_000, big):
        x = {dev: clouds(n, dev) for dev in (gpu, cpu)}
        compare(
            f"exact plan, cat -> disks, n={n:,}",
            lambda dev: match(*x[dev], method="exact"),
            repeat=1,
            warm=n == 10_000,  # the first size warms up (and compiles) for both
            check=lambda a, b: (
                "cost rel. diff "
                f"{abs(float(a.cost) - float(b.cost)) / float(b.cost):.1e}, gap {a.gap:.1e}"
            ),
        )
    # GPU only (the CPU rows: bench_sinkhorn.py)
    for n in () if args.skip_plans else sorted({min(big, 20_000), big}):
        xb = clouds(n, gpu)
        t_s, p_s = timed(lambda: match(*xb, method="sinkhorn", blur=0.01), 1, gpu, warm=False)
        print(f"GPU only: sinkhorn plan, blur 0.01, n={n:,}: {t_s:.4f} s, marginal error "
              f"{p_s.info['marginal_error']:.1e} after "
              f"{p_s.info['iterations']} iterations", flush=True)  # fmt: skip

    plan = match(*clouds(big, cpu, torch.float64), method="exact")
    times = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    z = mccann(plan, times).float()
    mass, vel = plan.mass.float(), plan.velocity.float()
    box = Grid.around(z, 512, pad=0.1)
    grid = Grid(box.lo, box.hi, (512, 512))
    data = {dev: (z.to(dev), mass.to(dev), vel.to(dev)) for dev in (gpu, cpu)}
    compare(
        f"density+momentum, {big:,} x 5 times, 512^2 (FFT)",
        lambda dev: density_and_momentum(*data[dev], grid, 0.01),
        check=lambda a, b: f"max rel. diff {max(rel(a[0], b[0]), rel(a[1], b[1])):.1e}",
    )
    pts = grid.points().float()
    q = {dev: pts.to(dev) for dev in (gpu, cpu)}
    sub = pts.shape[0] // 64
    compare(
        f"exact Gaussian sum (torch), {big:,} x {sub:,} points",
        lambda dev: density(data[dev][0][2], data[dev][1], q[dev][:sub], 0.01, backend="torch"),
        repeat=2,
        check=lambda a, b: f"max rel. diff {rel(a, b):.1e}",
    )
    t_k, rho_k = timed(
        lambda: density(data[gpu][0][2], data[gpu][1], grid, 0.01, backend="torch"), 3, gpu
    )
    t_f, rho_f = timed(
        lambda: density(data[gpu][0][2], data[gpu][1], grid, 0.01, backend="fft"), 3, gpu
    )
    print(f"GPU, {big:,} particles on 512^2: exact separable sums {t_k:.4f} s, FFT {t_f:.4f} s, "
          f"FFT vs exact max rel. diff {rel(rho_f, rho_k):.1e}", flush=True)  # fmt: skip
    if args.keops:  # opt-in: pykeops may crash the process on some CUDA stacks
        t_ko, rho_ko = timed(
            lambda: density(data[gpu][0][2], data[gpu][1], q[gpu], 0.01, backend="keops"), 3, gpu
        )
        print(f"GPU, KeOps exact sum on all 512^2 points: {t_ko:.4f} s, "
              "vs separable max rel. diff "
              f"{rel(rho_ko, rho_k.reshape(-1)):.1e}", flush=True)  # fmt: skip

    print(
        f"\n{'pairing':<22}{'ours GPU (s)':>13}{'POT loop GPU (s)':>18}{'speed-up':>10}"
        f"{'ours CPU (s)':>14}  same cost"
    )
    sizes = (1024,) if args.quick else (1024, 4096)
    for n in sizes:
        for d in (2, 64, 3072):
            s = {dev: pair_samples(n, d, n + d, dev) for dev in (gpu, cpu)}
            repeat = 3 if n <= 1024 else 1
            warm = n <= 1024  # the large sizes run once each
            t_ours, (a, b) = timed(lambda: ot_pairs(*s[gpu]), repeat, gpu, warm)
            t_pot, (_, c) = timed(lambda: pot_pairs(*s[gpu]), repeat, gpu, warm)
            t_cpu, _ = timed(lambda: ot_pairs(*s[cpu]), repeat, cpu, warm)
            ours = float(((a.double() - b.double()) ** 2).sum(1).mean())
            ref = float(((a.double() - c.double()) ** 2).sum(1).mean())
            print(f"n={n:<6} d={d:<11}{t_ours:>13.4f}{t_pot:>18.4f}{t_pot / t_ours:>9.1f}x"
                  f"{t_cpu:>14.4f}  {abs(ours - ref) / ref:.1e}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
