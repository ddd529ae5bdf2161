"""``lagot``: the command line, a thin shell over the library."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ._version import __version__
from .errors import InputError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line on stderr and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {path!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder {path!r}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"output folder {path!r} is not writable; choose another with --out")
    return out


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available; use --device cpu")
    return torch.device(name)


def _interpolate(args) -> int:
    from . import plot
    from ._progress import Progress
    from .geodesic import parse_times, save_npz, silhouette_geodesic
    from .silhouette import silhouette_mask

    start = time.perf_counter()
    names = args.shapes or ["cat", "disks"]
    if len(names) != 2:
        raise InputError("give both SRC and DST, or neither (default: cat disks)")
    if args.n < 1:
        raise InputError(f"--n must be >= 1, got {args.n}")
    if args.sigma is not None and not args.sigma > 0:
        raise InputError(f"--sigma must be > 0, got {args.sigma}")
    times = parse_times(args.times)
    device = _device(args.device)
    for name in names:  # fail early, before any work or output
        silhouette_mask(name)
    out = _out_dir(args.out)
    with Progress(6) as bar:
        bar.step("sampling and matching")
        geo = silhouette_geodesic(
            names[0], names[1], args.n, method=args.method, seed=args.seed, sampling=args.sampling,
            times=times, sigma=args.sigma, device=device,
        )  # fmt: skip
        plan = geo.plan
        bar.step("density sequence")
        fig = plot.density_sequence(plan, times, geo.sigma)
        plot.save(fig, out / "density-sequence.png")
        plot.save(fig, out / "density-sequence.pdf")
        bar.step("midpoint velocities")
        fig = plot.midpoint_arrows(plan, sigma=geo.sigma)
        plot.save(fig, out / "midpoint-velocities.png")
        plot.save(fig, out / "midpoint-velocities.pdf")
        bar.step("figure")
        _side_by_side(out / "density-sequence.png", out / "midpoint-velocities.png", out / "figure.png")
        bar.step("geodesic.npz")
        save_npz(geo, out / "geodesic.npz")
    seconds = time.perf_counter() - start
    certificate = f", certified gap {plan.gap:.1e}" if plan.gap is not None else ""
    print(
        f"lagot: {names[0]} -> {names[1]}, n={args.n}, method {plan.method}{certificate}, "
        f"W2^2 = {float(plan.cost):.6g}, {seconds:.1f} s, wrote {out}/"
    )
    return 0


def _side_by_side(left: Path, right: Path, target: Path) -> None:
    """Two PNG files as one, scaled to the same height (no second rendering)."""
    from PIL import Image

    from ._io import atomic_path

    with Image.open(left) as a, Image.open(right) as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        h = min(a.height, b.height)
        a = a.resize((round(a.width * h / a.height), h), Image.Resampling.LANCZOS)
        b = b.resize((round(b.width * h / b.height), h), Image.Resampling.LANCZOS)
        gap = h // 12
        both = Image.new("RGB", (a.width + gap + b.width, h), "white")
        both.paste(a, (0, 0))
        both.paste(b, (a.width + gap, 0))
    with atomic_path(target) as tmp:
        both.save(tmp, format="PNG")


def _shapes(args) -> int:
    from . import shapes
    from ._io import atomic_path

    if args.write is None:
        print("\n".join(shapes.names()))
        return 0
    out = _out_dir(args.write)
    for name in shapes.names():
        with atomic_path(out / f"{name}.png") as tmp:
            shapes.render(name, args.size).save(tmp, format="PNG")
    print(f"lagot: wrote {', '.join(n + '.png' for n in shapes.names())} to {out}/")
    return 0


def _doctor(args) -> int:
    import platform

    import torch

    from .kernels import available_backends
    from .kernels.native import _library

    print(f"lagrangian_ot {__version__}, Python {platform.python_version()}, torch {torch.__version__}")
    for name, ok in available_backends().items():
        print(f"  {name:<8} {'yes' if ok else 'no'}")
    try:
        _library()
        print("  native   yes (exact solver, farthest-point sampling)")
    except Exception as exc:  # report, do not fail
        print(f"  native   no: {exc}")
    if args.keops:
        try:
            import pykeops

            pykeops.test_torch_bindings()
            print("  keops    compiles and runs")
        except Exception as exc:
            print(f"  keops    failed: {exc}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``lagot`` argument parser."""
    parser = _Parser(
        prog="lagot",
        description="Particle (Lagrangian) optimal transport: geodesics between silhouettes, "
        "exact and Sinkhorn plans, Eulerian fields and figures.",
        epilog="Example: lagot interpolate cat disks --n 2000 --out figures",
    )
    parser.add_argument("--version", action="version", version=f"lagot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "interpolate",
        help="Benamou-Brenier geodesic between two silhouettes, as figures and data",
        description="Sample two silhouettes (image files or built-in shapes), place them side by side, "
        "match them by an optimal plan and draw the McCann interpolation: a density sequence "
        "(density-sequence.png/.pdf), midpoint velocity arrows (midpoint-velocities.png/.pdf), "
        "both side by side (figure.png), and the plan (geodesic.npz).",
    )
    p.add_argument("shapes", nargs="*", metavar="SRC DST", help="image files or built-in shape names (default: cat disks)")
    p.add_argument("--n", type=int, default=1000, help="points per silhouette (default 1000)")
    p.add_argument("--method", choices=["auto", "exact", "sinkhorn"], default="auto", help="plan solver (default auto: exact)")
    p.add_argument("--times", default="0,0.25,0.5,0.75,1", help="comma-separated times in [0, 1] (default 0,0.25,0.5,0.75,1)")
    p.add_argument("--sigma", type=float, default=None, help="kernel bandwidth of the densities (default: particle spacing)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument(
        "--sampling", choices=["poisson", "farthest", "random", "grid"], default="poisson",
        help="how points are drawn in the silhouettes (default poisson: evenly spread)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to compute (default: cuda if available)")
    p.add_argument("--out", default="lagot-out", help="output folder (default lagot-out)")
    p.set_defaults(run=_interpolate)

    p = sub.add_parser("shapes", help="list the built-in shapes or write them as PNG files")
    p.add_argument("--write", metavar="DIR", default=None, help="write cat.png, disks.png, ... into DIR")
    p.add_argument("--size", type=int, default=512, help="image size in pixels (default 512)")
    p.set_defaults(run=_shapes)

    p = sub.add_parser("doctor", help="say which backends work here (CUDA, KeOps, native solver)")
    p.add_argument("--keops", action="store_true", help="also compile and run a KeOps test formula")
    p.set_defaults(run=_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lagot``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except InputError as exc:
        print(f"lagot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("lagot: error: out of memory; try a smaller --n", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"lagot: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lagot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
