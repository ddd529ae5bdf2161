"""What a busy core costs: the main jobs with torch's default threads and with the thread policy.

Each job runs in a fresh process, on an idle machine and while another process keeps one core
busy (``python -c "while True: pass"``, ended by its pid after each run). Variants:

- ``pool``: torch's default, every operation on all cores (the policy switched off by
  ``kernels.threads.GRAIN = 1``; for the tests, ``LAGOT_TEST_THREADS=0``);
- ``policy``: the package as shipped (one thread for small work, the pool above
  ``kernels.threads.GRAIN`` elements per operation; the tests run on one thread);
- ``omp1``: ``OMP_NUM_THREADS=1`` for everything (the reference of issue 18).

The anchor is each job's ``policy`` time on the idle machine, measured in the same run:
the table prints seconds and the ratio to it. Target: a busy core costs at most 2x.

    python scripts/bench_threads.py             # all jobs (a few minutes)
    python scripts/bench_threads.py --quick     # smaller jobs
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POOL = "import lagrangian_ot.kernels.threads as t; t.GRAIN = 1; "
PYTEST = "import sys, pytest; sys.exit(pytest.main(sys.argv[1:]))"


def jobs(quick: bool, out: str) -> dict[str, list[str]]:
    cli = "import sys; from lagrangian_ot.cli import main; sys.exit(main(sys.argv[1:]))"
    bb_iter = "60" if quick else "150"
    n = "1000" if quick else "3000"
    tests = ["tests/test_unbalanced.py", "tests/test_interpolate.py", "tests/test_grid.py"]
    return {
        f"lagot bb --max-iter {bb_iter}": [
            "-c",
            cli,
            "bb",
            "--max-iter",
            bb_iter,
            "--out",
            f"{out}/bb",
        ],
        "lagot unbalanced": ["-c", cli, "unbalanced", "--out", f"{out}/unb"],
        f"lagot interpolate --n {n}": ["-c", cli, "interpolate", "--n", n, "--out", f"{out}/int"],
        "pytest " + " ".join(Path(t).stem for t in tests): [
            "-c",
            PYTEST,
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *tests,
        ],
    }


def run(args: list[str], variant: str, busy: bool) -> float:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env.pop("LAGOT_TEST_THREADS", None)
    if variant == "pool":
        args = ["-c", POOL + args[1], *args[2:]]
        env["LAGOT_TEST_THREADS"] = "0"
    elif variant == "omp1":
        env["OMP_NUM_THREADS"] = "1"
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(0.2 if busy else 0.0)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
    finally:
        if hog is not None:
            hog.kill()  # by its pid
            hog.wait()
    if proc.returncode != 0:
        raise SystemExit(
            f"{args}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller jobs")
    parser.add_argument("--variants", default="pool,policy,omp1")
    opts = parser.parse_args()
    variants = opts.variants.split(",")
    print(
        f"cores available: {len(os.sched_getaffinity(0))}, "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    print(
        f"{'job':<42} {'variant':<8} {'idle s':>8} "
        f"{'busy s':>8} {'busy/idle':>10} {'busy/anchor':>12}"
    )
    with tempfile.TemporaryDirectory() as out:
        for name, args in jobs(opts.quick, out).items():
            times = {v: (run(args, v, False), run(args, v, True)) for v in variants}
            anchor = times.get("policy", next(iter(times.values())))[0]
            for v, (idle, busy) in times.items():
                print(
                    f"{name:<42} {v:<8} {idle:8.1f} {busy:8.1f} "
                    f"{busy / idle:9.1f}x {busy / anchor:11.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
