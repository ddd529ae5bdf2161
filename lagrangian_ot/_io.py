"""Atomic file output: one file written under a temporary name, then renamed; several files
staged in a hidden folder and moved into place together."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import InputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    A failure leaves neither a partial ``path`` nor the temporary file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # the permissions of a normally created file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def output_folder(path: str | os.PathLike, hint: str = "") -> Path:
    """Check, without creating anything, that ``path`` is or can become a writable folder.

    ``hint`` is appended to the messages that ask for another folder.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise InputError(
            f"output folder {os.fspath(path)!r} exists and is not a folder; choose another{hint}"
        )
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(
            f"cannot create output folder {os.fspath(path)!r}: {str(probe)!r} is not a folder"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"output folder {os.fspath(path)!r} is not writable; choose another{hint}")
    return out


class Staging:
    """Outputs are written into a hidden folder and moved into place together at the end.

    A failure part-way leaves the output folder as it was (not created, or untouched).
    """

    def __init__(self, out: str | os.PathLike):
        self.out = out = Path(out)
        anchor = out if out.exists() else out.parent
        while not anchor.exists():
            anchor = anchor.parent
        self.dir = Path(tempfile.mkdtemp(prefix=".lagot-", dir=anchor))

    def __enter__(self) -> Path:
        return self.dir

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                items = sorted(self.dir.iterdir())
                for item in items:  # check every destination before moving anything
                    target = self.out / item.name
                    if target.exists() and not target.is_file():
                        raise InputError(
                            f"cannot write {str(target)!r}: something other than a file is there"
                        )
                self.out.mkdir(parents=True, exist_ok=True)
                for item in items:
                    os.replace(item, self.out / item.name)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
