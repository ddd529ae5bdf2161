"""A small progress display on stderr, silent when stderr is not a terminal."""

from __future__ import annotations

import sys
import time


class Progress:
    """``with Progress(total) as p: p.step("matching")`` draws ``[###---] 2/5 matching 1.2s``."""

    def __init__(self, total: int, *, enabled: bool | None = None, width: int = 24):
        self.total = total
        self.done = 0
        self.width = width
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()

    def step(self, label: str) -> None:
        """Announce the next step (drawn before it runs)."""
        if not self.enabled:
            return
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\r[{bar}] {self.done + 1}/{self.total} {label:<24} {elapsed:6.1f}s")
        sys.stderr.flush()
        self.done += 1

    def update(self, done: int, label: str) -> None:
        """Draw ``done`` of ``total`` units finished (for iterative work; does not advance :meth:`step`)."""
        if not self.enabled:
            return
        done = min(max(int(done), 0), self.total)
        filled = int(self.width * done / max(self.total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(f"\r[{bar}] {done}/{self.total} {label:<24} {elapsed:6.1f}s")
        sys.stderr.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * (self.width + 48) + "\r")
            sys.stderr.flush()
