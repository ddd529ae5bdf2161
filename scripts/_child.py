"""Run one measurement of a benchmark in a fresh child process (its own peak memory, a time
limit)."""

from __future__ import annotations

import json
import subprocess
import sys


def run_worker(script: str, args: list[str], limit: float) -> dict | None:
    """``python script --worker *args``; the JSON of its last output line, or None when it
    fails (its error is printed) or runs past ``limit`` seconds."""
    cmd = [sys.executable, script, "--worker", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        print(r.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def rss_mb() -> float:
    """This process' resident memory now, in MB (Linux; NaN elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
