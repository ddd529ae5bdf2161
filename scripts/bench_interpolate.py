"""Wall time of the main job, ``lagot interpolate`` on the built-in cat and disks.

For each n: "cold" is a fresh process (imports, library loading, everything),
"warm" is the same job run again inside one process. Default settings
otherwise. Prints one table; the target is under 15 s cold at n = 10,000.

    python scripts/bench_interpolate.py [--sizes 1000,5000,10000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time


def cold(n: int, out: str) -> tuple[float, str]:
    start = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "lagrangian_ot", "interpolate", "--n", str(n), "--out", out],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - start, r.stdout.strip()


def warm(n: int, out: str) -> float:
    from lagrangian_ot.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        main(["interpolate", "--n", str(n), "--out", out])  # first run in this process
        start = time.perf_counter()
        main(["interpolate", "--n", str(n), "--out", out])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            t_cold, summary = cold(n, f"{tmp}/cold{n}")
            t_warm = warm(n, f"{tmp}/warm{n}")
            method = summary.split("method ")[1].split(",")[0]
            rows.append((n, method, t_cold, t_warm))
    print(f"{'n':>7} {'method':>8} {'cold (s)':>9} {'warm (s)':>9} {'target':>8}")
    for n, method, t_cold, t_warm in rows:
        target = "< 15 s" if n == 10_000 else ""
        ok = " ok" if n != 10_000 or t_cold < 15 else " MISSED"
        print(f"{n:>7} {method:>8} {t_cold:>9.2f} {t_warm:>9.2f} {target:>8}{ok if target else ''}")


if __name__ == "__main__":
    main()
