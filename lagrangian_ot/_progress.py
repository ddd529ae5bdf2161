"""Progress on stderr, drawn by tqdm, only where stderr is a terminal (quiet in pipes and CI).

Two uses: steps of a job (``step``), and iterations of a solver (``update``)::

    with Progress(3) as bar:            # lagot interpolate: sampling, matching, drawing
        bar.step("sampling")
        ...
    with Progress(max_iter, enabled=progress) as bar:   # a solver's ``progress=`` option
        for it in range(max_iter):
            ...
            bar.update(it + 1, f"residual {r:.1e}")

While a long step runs without calling back (a native solve), the elapsed time keeps moving.
"""

from __future__ import annotations

import sys
import threading
import time

DELAY = 1.0  # seconds before a bar appears: quick jobs print nothing


class Progress:
    """A progress bar of ``total`` units on stderr; ``enabled=None``: only when stderr is a
    terminal."""

    def __init__(self, total: int, *, enabled: bool | None = None, unit: str = "step"):
        self.total = max(int(total), 1)
        self.done = 0
        self.enabled = _is_terminal() if enabled is None else bool(enabled)
        self._bar = None
        self._stop = threading.Event()
        self._start = time.monotonic()
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total, file=sys.stderr, leave=False, unit=unit, dynamic_ncols=True,
                delay=DELAY,
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {elapsed}{postfix}",
            )  # fmt: skip
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def step(self, label: str) -> None:
        """Announce the next step (drawn before it runs); the steps before it are done."""
        if self._bar is not None:
            self._bar.n = min(self.done, self.total)
            self._bar.set_description_str(label, refresh=False)
            self._draw()
        self.done += 1

    def update(self, done: int, label: str = "") -> None:
        """``done`` of ``total`` units finished (an iterative solver), with a short status
        ``label``."""
        self.done = int(done)
        if self._bar is not None:
            self._bar.n = min(self.done, self.total)
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(0)  # redraws at most every tenth of a second, after DELAY

    def _draw(self) -> None:
        bar = self._bar
        if bar is not None and time.monotonic() - self._start >= DELAY:
            bar.refresh()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self._draw()

    def close(self) -> None:
        """Stop drawing and clear the bar's line."""
        self._stop.set()
        if self._bar is not None:
            bar, self._bar = self._bar, None
            self._ticker.join()
            bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def write(line: str) -> None:
    """One line on stderr that does not break a bar being drawn."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
