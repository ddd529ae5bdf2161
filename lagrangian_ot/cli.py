"""``lagot``: the command line, a thin shell over the library.

Longer than the project's other modules on purpose: one parser and one small function per
subcommand (interpolate, figure, shapes, unbalanced, bb, doctor), each of which only
parses, calls the library and prints; staging, examples, figures and probes live in the
library (``_io``, ``examples``, ``plot``, ``kernels.backend``).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from ._io import Staging, output_folder
from ._version import __version__
from .errors import InputError, check_int, check_positive, check_times

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line on stderr and exit status 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"lagot: error: {message} (see {self.prog} --help)\n")


def _out_dir(path: str) -> Path:
    return output_folder(path, hint=" with --out")


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
    from .geodesic import save_npz, silhouette_geodesic
    from .images import image_geodesic, image_histogram
    from .silhouette import silhouette_mask

    start = time.perf_counter()
    names = args.shapes or ["cat", "disks"]
    if len(names) != 2:
        raise InputError("give both SRC and DST, or neither (default: cat disks)")
    if args.n < 1:
        raise InputError(f"--n must be >= 1, got {args.n}")
    if args.sigma is not None:
        check_positive(args.sigma, "--sigma")
    if args.seed < 0:
        raise InputError(f"--seed must be >= 0, got {args.seed}")
    times = _times(args.times)
    _check_animation(args)
    device = _device(args.device)
    threshold = _threshold(args.threshold)
    for name in names:  # fail early, before any work or output
        image_histogram(name, args.n, mass=args.density) if args.density else silhouette_mask(
            name, threshold
        )
    out = _out_dir(args.out)
    with Progress(7 + 2 * bool(args.animate) + bool(args.html)) as bar, Staging(out) as stage:
        if args.density:  # grey levels as mass, pixels matched exactly
            for label in ("reading the pictures", "as densities", "matching pixel to pixel"):
                bar.step(label)
            geo = image_geodesic(
                names[0],
                names[1],
                args.n,
                mass=args.density,
                times=times,
                sigma=args.sigma,
                device=device,
            )
        else:
            geo = silhouette_geodesic(
                names[0], names[1], args.n, method=args.method, seed=args.seed,
                sampling=args.sampling, times=times, sigma=args.sigma, device=device,
                threshold=threshold, progress=bar,
            )  # fmt: skip
        plan = geo.plan
        bar.step("drawing the density sequence")
        fig = plot.density_sequence(plan, times, geo.sigma)
        plot.save(fig, stage / "density-sequence.png")
        plot.save(fig, stage / "density-sequence.pdf")
        bar.step("drawing the midpoint velocities")
        fig = plot.midpoint_arrows(plan, sigma=geo.sigma)
        plot.save(fig, stage / "midpoint-velocities.png")
        plot.save(fig, stage / "midpoint-velocities.pdf")
        bar.step("figure.png")
        plot.join_side_by_side(
            stage / "density-sequence.png", stage / "midpoint-velocities.png", stage / "figure.png"
        )
        bar.step("geodesic.npz")
        save_npz(geo, stage / "geodesic.npz")
        if args.animate:
            _animate(geo, args, stage, bar)
        if args.html:
            bar.step("panel.html")
            _panel(geo, args, stage)
    seconds = time.perf_counter() - start
    certificate = f", certified gap {plan.gap:.1e}" if plan.gap is not None else ""
    label = "W2^2" if plan.method == "exact" else "cost"
    print(
        f"lagot: {names[0]} -> {names[1]}, n={args.n}, method {plan.method}{certificate}, "
        f"{label} = {float(plan.cost):.6g}, {seconds:.1f} s, wrote {out}/"
    )
    return 0


def _times(text: str, flag: str = "--times") -> tuple[float, ...]:
    """``"0,0.5,1"`` -> ``(0.0, 0.5, 1.0)``; each time in [0, 1]."""
    try:
        times = [float(v) for v in text.split(",")]
    except ValueError:
        raise InputError(f"{flag} must be comma-separated numbers, got {text!r}") from None
    return tuple(check_times(times, flag)[0].tolist())


def _threshold(text: str):
    """``--threshold``: ``auto`` or a grey level in (0, 1)."""
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise InputError(f"--threshold takes auto or a grey level between 0 and 1, got {text!r}")
    return value


def _check_animation(args) -> None:
    from .animation import MAX_FRAMES

    if not 2 <= args.frames <= MAX_FRAMES:
        raise InputError(f"--frames must be from 2 to {MAX_FRAMES}, got {args.frames}")
    if not (args.duration > 0 and args.duration < float("inf")):
        raise InputError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.arrows < 0:
        raise InputError(f"--arrows must be >= 0, got {args.arrows}")


def _animate(geo, args, stage: Path, bar) -> None:
    """geodesic.gif, and geodesic.mp4 where ffmpeg is installed."""
    from .animation import ffmpeg_available, write_gif, write_mp4

    options = dict(frames=args.frames, duration=args.duration, arrows=args.arrows, sigma=geo.sigma)
    bar.step("geodesic.gif")
    write_gif(geo.plan, stage / "geodesic.gif", **options)
    mp4 = ffmpeg_available()
    bar.step("geodesic.mp4" if mp4 else "no ffmpeg: no geodesic.mp4")
    if mp4:
        write_mp4(geo.plan, stage / "geodesic.mp4", **options)
    else:
        warnings.warn(
            "ffmpeg is not installed: wrote geodesic.gif "
            "but no geodesic.mp4 (install ffmpeg for it)",
            stacklevel=2,
        )


def _panel(geo, args, stage: Path) -> None:
    from .panel import write_panel

    write_panel(geo.plan, stage / "panel.html", arrows=args.arrows, sigma=geo.sigma)


FIGURES = ("sequence", "arrows", "trajectories", "velocity", "plan")


def _figure(args) -> int:
    from . import plot
    from ._progress import Progress
    from .geodesic import load_npz

    geo = load_npz(args.npz)
    kinds = FIGURES if "all" in args.kind else tuple(dict.fromkeys(args.kind))
    times = _times(args.times) if args.times is not None else geo.times
    if args.sigma is not None:
        check_positive(args.sigma, "--sigma")
    sigma = args.sigma if args.sigma is not None else geo.sigma
    check_times(args.t, "--t")
    _check_animation(args)
    formats = args.formats.split(",")
    bad = [ext for ext in formats if ext not in ("png", "pdf", "svg")]
    if bad:
        raise InputError(f"--formats takes png, pdf and svg, got {bad[0]!r}")
    out = _out_dir(args.out if args.out is not None else os.path.dirname(os.path.abspath(args.npz)))
    plan, written = geo.plan, []
    # figure.png: the two side by side
    pair = "png" in formats and {"sequence", "arrows"} <= set(kinds)
    steps = len(kinds) + pair + 2 * bool(args.animate) + bool(args.html)
    with Progress(steps) as bar, Staging(out) as stage:
        draw = {
            "sequence": ("density-sequence", lambda: plot.density_sequence(plan, times, sigma)),
            "arrows": (
                "midpoint-velocities",
                lambda: plot.midpoint_arrows(plan, sigma=sigma, t=args.t),
            ),
            "trajectories": ("trajectories", lambda: plot.trajectories(plan)),
            "velocity": (
                "velocity-field",
                lambda: plot.velocity_field(plan, args.t, sigma=sigma, kind=args.velocity),
            ),
            "plan": ("plan-lines", lambda: plot.plan_lines(plan)),
        }
        for kind in kinds:
            name, make = draw[kind]
            bar.step(f"drawing {name}")
            fig = make()
            for ext in formats:
                plot.save(fig, stage / f"{name}.{ext}")
                written.append(f"{name}.{ext}")
        if pair:
            bar.step("figure.png")
            plot.join_side_by_side(
                stage / "density-sequence.png",
                stage / "midpoint-velocities.png",
                stage / "figure.png",
            )
            written.append("figure.png")
        if args.animate:
            _animate(geo, args, stage, bar)
            written += sorted(p.name for p in stage.glob("geodesic.*"))
        if args.html:
            bar.step("panel.html")
            _panel(geo, args, stage)
            written.append("panel.html")
    print(f"lagot: redrew {', '.join(written)} from {args.npz} into {out}/")
    return 0


def _mixture(text: str, name: str):
    """``"0.88:-1.25:0.17,0.12:0.72:0.2"`` -> ``((0.88, -1.25, 0.17), (0.12, 0.72, 0.2))``."""
    try:
        parts = [
            tuple(float(v) for v in item.split(":")) for item in text.split(",") if item.strip()
        ]
    except ValueError:
        parts = []
    if not parts or any(
        len(p) != 3 or p[0] <= 0 or p[2] <= 0 or not all(map(math.isfinite, p)) for p in parts
    ):
        raise InputError(
            f"--{name} takes weight:mean:std triples separated "
            f"by commas (weights and stds > 0), got {text!r}"
        )
    return tuple(parts)


def _unbalanced(args) -> int:
    from . import plot
    from ._progress import Progress
    from .examples import SEED_ALPHA, SEED_BETA, SEED_GRID, mixture_pair
    from .unbalanced import barycenter_path

    start = time.perf_counter()
    alpha_mix = _mixture(args.alpha, "alpha") if args.alpha is not None else SEED_ALPHA
    beta_mix = _mixture(args.beta, "beta") if args.beta is not None else SEED_BETA
    check_positive(args.blur, "--blur")
    check_positive(args.reach, "--reach")
    times = _times(args.times)
    grid = SEED_GRID
    vol = grid.cell_volume
    alpha, beta = mixture_pair(alpha_mix, beta_mix, grid)  # unit mass on the grid
    out = _out_dir(args.out)
    # checked even when unused: a typo should not pass silently
    kappas = _floats(args.kappas, "kappas")
    check_int(args.n, "--n (points per shape)", 2, 5000)
    with Progress(3 + bool(args.lagrangian) + bool(args.html)) as bar, Staging(out) as stage:
        bar.step("balanced barycentre path")
        balanced = barycenter_path(alpha, beta, grid, times, blur=args.blur)
        bar.step("KL-relaxed barycentre path")
        relaxed = barycenter_path(alpha, beta, grid, times, blur=args.blur, reach=args.reach)
        bar.step("drawing unbalanced.png")
        fig = plot.barycenter_rows(
            grid, [("balanced", balanced), (f"reach {args.reach:g}", relaxed)], times
        )
        plot.save(fig, stage / "unbalanced.png")
        plot.save(fig, stage / "unbalanced.pdf")
        if args.lagrangian or args.html:
            _lagrangian_wfr(args, kappas, times, stage, bar)

    def masses(p):
        return " ".join(f"{float(m):.4f}" for m in p.sum(1) * vol)

    print(f"lagot: barycentre paths, blur {args.blur:g}, reach {args.reach:g}; "
          f"masses balanced [{masses(balanced)}], relaxed [{masses(relaxed)}]; "
          f"{time.perf_counter() - start:.1f} s, wrote {out}/")  # fmt: skip
    return 0


def _bb(args) -> int:
    from . import plot
    from .dynamic import benamou_brenier
    from .examples import SEED_GRID, mixture_pair
    from .raster import image_density

    start = time.perf_counter()
    if len(args.shapes) not in (0, 2):
        raise InputError(f"give two pictures (SRC DST) or none, got {len(args.shapes)}")
    check_positive(args.tol, "--tol")
    check_int(args.n, "--n (cells per side)", 4, 1024)
    check_int(args.n_times, "--n-times", 1)
    check_int(args.max_iter, "--max-iter", 1)
    if not 0 <= args.floor < 1:
        raise InputError(f"--floor must be in [0, 1), got {args.floor}")
    device = _device(args.device)
    opts = {"n_times": args.n_times, "tol": args.tol, "max_iter": args.max_iter}
    src, dst = args.shapes or ("cat", "disks")
    rho0, grid = image_density(src, args.n, floor=args.floor)
    rho1, _ = image_density(dst, args.n, floor=args.floor)
    out = _out_dir(args.out)
    figures = {}
    lines = []
    if not args.shapes:
        a, b = mixture_pair()
        line = benamou_brenier(a.to(device), b.to(device), SEED_GRID, **opts)
        figures["bb-duality"] = plot.duality_figure(line)
        lines.append(f"1-D W2^2 {line.value:.5g} ({line.iterations} iterations)")
    # the pictures carry a background floor, so the coarse-to-fine warm start is safe (25% faster at
    # 64^2)
    geo = benamou_brenier(rho0.to(device), rho1.to(device), grid, multilevel=True, **opts)
    figures["bb-geodesic"] = plot.grid_sequence(geo)
    residuals = f"{geo.residuals['divergence']:.1e}/{geo.residuals['fixed_point']:.1e}"
    lines.append(f"{src} -> {dst} W2^2 {geo.value:.5g} ({geo.iterations} iterations, "
                 f"residuals {residuals})")  # fmt: skip
    with Staging(out) as stage:
        for name, fig in figures.items():
            plot.save(fig, stage / f"{name}.png")
            plot.save(fig, stage / f"{name}.pdf")
    note = "" if geo.converged else f"; not converged to --tol {args.tol:g}, raise --max-iter"
    print(
        f"lagot: Benamou-Brenier, {'; '.join(lines)}{note}; "
        f"{time.perf_counter() - start:.1f} s, wrote {out}/"
    )
    return 0


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or not all(v > 0 and math.isfinite(v) for v in values):
        raise InputError(f"--{name} takes positive numbers separated by commas, got {text!r}")
    return values


def _lagrangian_wfr(args, kappas, times, stage: Path, bar) -> None:
    """The Lagrangian WFR path from the cat (mass 1) to the two disks (mass 1.5), per kappa."""
    from . import plot
    from .examples import wfr_clouds
    from .panel import unbalanced_frames, write_unbalanced_panel

    x, y, b = wfr_clouds(args.n)
    plans = None
    if args.lagrangian:
        bar.step("Lagrangian WFR paths (hk-sequence.png)")
        rho, masses, _, canvas, plans = unbalanced_frames(
            x, y, None, b, kappas, times=times, width=320
        )
        labels = [f"kappa {k:g}" for k in kappas]
        fig = plot.fading_rows(rho, canvas, labels, times, masses=masses.tolist())
        plot.save(fig, stage / "hk-sequence.png")
        plot.save(fig, stage / "hk-sequence.pdf")
    if args.html:
        bar.step("unbalanced.html")
        write_unbalanced_panel(x, y, stage / "unbalanced.html", b=b, kappas=kappas, plans=plans)


def _add_animation_options(p) -> None:
    p.add_argument(
        "--animate",
        action="store_true",
        help="also write geodesic.gif (and geodesic.mp4 when ffmpeg is installed)",
    )
    p.add_argument(
        "--frames", type=int, default=48, help="animation frames from t = 0 to 1 (default 48)"
    )
    p.add_argument(
        "--duration", type=float, default=4.0, help="seconds from t = 0 to 1 (default 4)"
    )
    p.add_argument(
        "--arrows",
        type=int,
        default=60,
        help="velocity arrows in the animation and panel (default 60; 0: none)",
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="also write panel.html, an interactive panel (one self-contained file)",
    )


def _shapes(args) -> int:
    from . import shapes

    if args.write is None:
        print("\n".join(shapes.names()))
        return 0
    if not 16 <= args.size <= 8192:
        raise InputError(f"--size must be between 16 and 8192 pixels, got {args.size}")
    out = _out_dir(args.write)
    with Staging(out) as stage:
        for name in shapes.names():
            shapes.render(name, args.size).save(stage / f"{name}.png", format="PNG")
    print(f"lagot: wrote {', '.join(n + '.png' for n in shapes.names())} to {out}/")
    return 0


def _doctor(args) -> int:
    import importlib.util
    import platform

    import torch

    from .kernels.backend import available_backends, keops_probe
    from .kernels.native import _library

    print(
        f"lagrangian_ot {__version__}, Python "
        f"{platform.python_version()}, torch {torch.__version__}"
    )
    print(
        "  geomloss "
        f"{'yes' if importlib.util.find_spec('geomloss') else 'no (method=sinkhorn needs it)'}"
    )
    for name, ok in available_backends().items():
        note = (
            " (installed; lagot doctor --keops compiles a test formula)"
            if name == "keops" and ok
            else ""
        )
        print(f"  {name:<8} {'yes' if ok else 'no'}{note}")
    try:
        _library()
        print("  native   yes (exact solver, farthest-point sampling)")
    except Exception as exc:  # report, do not fail
        print(f"  native   no: {exc}")
    ffmpeg = shutil.which("ffmpeg")
    missing = "no (--animate writes geodesic.gif but no geodesic.mp4; install ffmpeg)"
    print(f"  ffmpeg   {'yes: ' + ffmpeg if ffmpeg else missing}")
    chromium = next(
        (
            shutil.which(n)
            for n in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(n)
        ),
        None,
    )
    note = (
        "yes: " + chromium
        if chromium
        else "no (panel.html opens in any browser; the panel tests need chromium)"
    )
    print(f"  chromium {note}")
    if args.keops:
        print(f"  keops    {keops_probe()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``lagot`` argument parser."""
    parser = _Parser(
        prog="lagot",
        description="Particle (Lagrangian) optimal transport: geodesics between silhouettes, exact "
        "and Sinkhorn plans, Eulerian fields and figures.",
        epilog="Example: lagot interpolate cat disks --n 2000 --out figures",
    )
    parser.add_argument("--version", action="version", version=f"lagot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "interpolate",
        help="sample two pictures into points, match them and draw the flow between them: density "
        "snapshots, velocity arrows",
        description="Sample two silhouettes (image files or built-in shapes), place them side by "
        "side, match them by an optimal plan and draw the McCann interpolation: a density sequence "
        "(density-sequence.png/.pdf), midpoint velocity arrows (midpoint-velocities.png/.pdf), "
        "both side by side (figure.png), and the plan (geodesic.npz).",
    )
    p.add_argument(
        "shapes",
        nargs="*",
        metavar="SRC DST",
        help="image files or built-in shape names (default: cat disks)",
    )
    p.add_argument("--n", type=int, default=1000, help="points per silhouette (default 1000)")
    p.add_argument(
        "--method",
        choices=["auto", "exact", "sinkhorn"],
        default="auto",
        help="plan solver (default auto: exact)",
    )
    p.add_argument(
        "--times",
        default="0,0.25,0.5,0.75,1",
        help="comma-separated times in [0, 1] (default 0,0.25,0.5,0.75,1)",
    )
    p.add_argument(
        "--sigma",
        type=float,
        default=None,
        help="kernel bandwidth of the densities (default: particle spacing)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default 0)")
    p.add_argument(
        "--sampling",
        choices=["poisson", "farthest", "random", "grid"],
        default="poisson",
        help="how points are drawn in the silhouettes (default poisson: evenly spread)",
    )
    p.add_argument(
        "--threshold",
        default="auto",
        help="grey level in (0, 1) between shape and background (default auto: Otsu's threshold)",
    )
    p.add_argument(
        "--density",
        nargs="?",
        const="dark",
        choices=["dark", "bright"],
        default=None,
        help="match the pictures as greyscale densities (grey levels as mass: dark ink by default, "
        "or bright), about N pixels each, pixel to pixel, instead of sampling silhouettes",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to compute (default: cuda if available)",
    )
    p.add_argument("--out", default="lagot-out", help="output folder (default lagot-out)")
    _add_animation_options(p)
    p.set_defaults(run=_interpolate)

    p = sub.add_parser(
        "figure", help="redraw the figures (and the animation) beside "
        "a saved geodesic.npz, without solving again",
        description="Redraw figures from the geodesic.npz that lagot interpolate writes, without "
        "solving again: density sequence, midpoint arrows, particle trajectories, the Eulerian "
        "velocity field, plan lines, and figure.png (the first two side by side); optionally the "
        "animation.",
    )  # fmt: skip
    p.add_argument("npz", help="a geodesic.npz written by lagot interpolate")
    p.add_argument(
        "--kind",
        nargs="+",
        choices=[*FIGURES, "all"],
        default=["all"],
        help="which figures (default all)",
    )
    p.add_argument(
        "--times", default=None, help="times of the density sequence (default: those saved)"
    )
    p.add_argument(
        "--t", type=float, default=0.5, help="time of the arrows and velocity figures (default 0.5)"
    )
    p.add_argument(
        "--sigma", type=float, default=None, help="kernel bandwidth (default: the saved one)"
    )
    p.add_argument(
        "--velocity",
        choices=["arrows", "streamlines"],
        default="arrows",
        help="velocity figure style",
    )
    p.add_argument(
        "--formats", default="png,pdf", help="comma-separated: png, pdf, svg (default png,pdf)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: the folder of NPZ, beside the figures it redraws)",
    )
    _add_animation_options(p)
    p.set_defaults(run=_figure)

    p = sub.add_parser(
        "shapes", help="list the built-in shapes or write them as PNG files",
        description="List the built-in shapes, or write them as black-on-white PNG files (cat.png, "
        "disks.png, ...) that lagot interpolate and load_silhouette read like any picture.",
    )  # fmt: skip
    p.add_argument(
        "--write", metavar="DIR", default=None, help="write cat.png, disks.png, ... into DIR"
    )
    p.add_argument("--size", type=int, default=512, help="image size in pixels (default 512)")
    p.set_defaults(run=_shapes)

    p = sub.add_parser(
        "unbalanced", help="two rows of 1-D densities: mass-conserving and KL-relaxed barycentre "
        "paths between two Gaussian mixtures",
        description="Entropic barycentre interpolation between two Gaussian mixtures on 260 points "
        "of [-3, 3]: one row balanced (mass conserved), one row with the marginals relaxed by KL "
        "(reach), written as unbalanced.png and unbalanced.pdf.",
    )  # fmt: skip
    p.add_argument(
        "--blur",
        type=float,
        default=0.08,
        help="entropic blur, a length: eps = 2 blur^2 (default 0.08)",
    )
    p.add_argument(
        "--reach",
        type=float,
        default=1.2,
        help="KL relaxation, a length: rho = 2 reach^2 (default 1.2)",
    )
    p.add_argument(
        "--alpha",
        default=None,
        help="source mixture as weight:mean:std,... (default 0.88:-1.25:0.17,0.12:0.72:0.2: a tall "
        "bump at the left)",
    )
    p.add_argument(
        "--beta",
        default=None,
        help="target mixture as weight:mean:std,... (default 0.12:-0.72:0.2,0.88:1.25:0.17: its "
        "mirror image)",
    )
    p.add_argument("--times", default="0,0.25,0.5,0.75,1", help="comma-separated times in [0, 1]")
    p.add_argument(
        "--lagrangian",
        action="store_true",
        help="also draw the Lagrangian WFR path from the cat (mass 1) to the two disks (mass 1.5): "
        "hk-sequence.png/.pdf",
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="also write unbalanced.html: reaction-length and time controls",
    )
    p.add_argument(
        "--kappas",
        default="0.1,0.4,1.6",
        help="reaction lengths of --lagrangian and --html (default 0.1,0.4,1.6)",
    )
    p.add_argument(
        "--n",
        type=int,
        default=300,
        help="points per shape of --lagrangian and --html (default 300)",
    )
    p.add_argument(
        "--out", default="lagot-unbalanced", help="output folder (default lagot-unbalanced)"
    )
    p.set_defaults(run=_unbalanced)

    p = sub.add_parser(
        "bb", help="the flow between two densities computed on a grid: a 1-D figure (density, "
        "momentum, potential) and a 2-D flow",
        description="Solve the convex Benamou-Brenier problem on a staggered grid by proximal "
        "splitting. Without pictures: the duality figure (density, momentum, potential) between "
        "two 1-D Gaussian mixtures, a tall bump at the left and its mirror image "
        "(bb-duality.png/.pdf) and the geodesic from the cat to the two disks "
        "(bb-geodesic.png/.pdf); with SRC DST (image files or built-in shapes): the geodesic "
        "between them.",
    )  # fmt: skip
    p.add_argument(
        "shapes",
        nargs="*",
        metavar="SRC DST",
        help="two pictures (default: cat disks and the 1-D figure)",
    )
    p.add_argument("--n", type=int, default=64, help="cells per side of the 2-D grid (default 64)")
    p.add_argument("--n-times", type=int, default=32, help="time steps (default 32)")
    p.add_argument(
        "--tol", type=float, default=1e-3, help="stopping tolerance on the residuals (default 1e-3)"
    )
    p.add_argument("--max-iter", type=int, default=5000, help="iteration cap (default 5000)")
    p.add_argument(
        "--floor",
        type=float,
        default=1e-3,
        help="background density, relative to the mean (default 1e-3)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to compute (default: cuda if available)",
    )
    p.add_argument("--out", default="lagot-bb", help="output folder (default lagot-bb)")
    p.set_defaults(run=_bb)

    p = sub.add_parser(
        "doctor", help="say what works here: CUDA, KeOps, the native solver, ffmpeg (MP4), chromium"
    )
    p.add_argument("--keops", action="store_true", help="also compile and run a KeOps test formula")
    p.set_defaults(run=_doctor)
    return parser


def _warning_printer():
    """``warnings.showwarning`` for one command: each warning once, as one line
    ``lagot: warning: ...``."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if text not in shown:
            shown.add(text)
            from ._progress import write

            write(f"lagot: warning: {text}")

    return show


def _as_flags(message: str, args) -> str:
    """A library error names its argument first (``sigma must be ...``); on the command line that
    argument is an option of the command: name the option (``--sigma must be ...``)."""
    name, space, rest = message.partition(" ")
    if space and name.isidentifier() and name not in ("run", "command") and hasattr(args, name):
        return f"--{name.replace('_', '-')} {rest}"
    return message


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``lagot``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # --help and --version end here, before torch is imported
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer()
            return args.run(args)
    except InputError as exc:
        print(f"lagot: error: {_as_flags(str(exc), args)}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("lagot: error: out of memory; try a smaller --n", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as exc:  # a solver that diverged says so rather than returning NaN
        print(f"lagot: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # exhausted memory: torch.OutOfMemoryError on CUDA, its allocator's message on the CPU
    except RuntimeError as exc:
        import torch

        if not isinstance(exc, torch.OutOfMemoryError) and "can't allocate memory" not in str(exc):
            raise
        print("lagot: error: out of memory; try a smaller --n (or --n-times)", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(
            f"lagot: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lagot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
