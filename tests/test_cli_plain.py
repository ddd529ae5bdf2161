"""The command line's first minutes: fast --version and --help, plain help, honest tools,
progress."""

import io
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from lagrangian_ot import animation
from lagrangian_ot._progress import Progress
from lagrangian_ot.cli import build_parser, main


def test_version_and_help_do_not_import_torch():
    code = (
        "import sys\n"
        "from lagrangian_ot.cli import main\n"
        "for argv in (['--version'], ['--help'], ['unbalanced', '--help'], ['bb', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'matplotlib', 'PIL') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stderr
    start = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "lagrangian_ot", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout.startswith("lagot ")
    assert time.perf_counter() - start < 5  # about 0.2 s; importing torch took 1.2 s or more


def test_public_names_still_load():
    import lagrangian_ot as lot

    assert callable(lot.match) and callable(lot.mccann) and lot.Grid.__name__ == "Grid"
    import lagrangian_ot.match  # the submodule does not hide the function of its name

    assert callable(lot.match)
    assert {"match", "plot", "dynamic"} <= set(dir(lot))
    with pytest.raises(AttributeError):
        lot.no_such_name  # noqa: B018


def all_help(parser):
    texts = [parser.format_help()]
    for action in parser._actions:
        for sub in getattr(action, "choices", None) or {}:
            if hasattr(action.choices[sub], "format_help"):
                texts.append(action.choices[sub].format_help())
    return "\n".join(texts)


def test_help_speaks_plainly():
    text = " ".join(all_help(build_parser()).split())
    assert "seed" not in text.replace("--seed SEED", "").replace("--seed", "").replace(
        "seed of the sampling", ""
    )
    for words in ("density snapshots", "mirror image", "ffmpeg", "chromium", "figure.png"):
        assert words in text, words


def test_doctor_reports_ffmpeg_and_chromium(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ffmpeg" in out and "chromium" in out


def test_a_skipped_mp4_is_said(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(animation, "ffmpeg_available", lambda: False)
    out = tmp_path / "o"
    args = [
        "interpolate",
        "--n",
        "60",
        "--times",
        "0,1",
        "--animate",
        "--frames",
        "3",
        "--arrows",
        "0",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "no geodesic.mp4" in err and "ffmpeg" in err
    assert (out / "geodesic.gif").exists() and not (out / "geodesic.mp4").exists()


def test_figure_redraws_beside_its_input_with_figure_png(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["interpolate", "--n", "80", "--times", "0,1", "--out", str(out)]) == 0
    before = np.asarray(Image.open(out / "figure.png").convert("L"), dtype=float)
    os.remove(out / "figure.png")
    monkeypatch.chdir(tmp_path)  # nothing may land in the working folder
    assert (
        main(
            [
                "figure",
                str(out / "geodesic.npz"),
                "--kind",
                "sequence",
                "arrows",
                "--formats",
                "png",
            ]
        )
        == 0
    )
    assert not (tmp_path / "lagot-figures").exists()
    after = np.asarray(Image.open(out / "figure.png").convert("L"), dtype=float)
    # the same picture, redrawn
    assert before.shape == after.shape and np.abs(before - after).mean() < 1.0
    assert "figure.png" in capsys.readouterr().out


def test_progress_is_quiet_off_a_terminal_and_drawn_on_one(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Progress(3) as bar:  # StringIO is no terminal
        bar.step("a")
        bar.update(2, "residual 1e-3")
    assert err.getvalue() == ""
    monkeypatch.setattr("lagrangian_ot._progress.DELAY", 0.0)
    with Progress(4, enabled=True, unit="it") as bar:
        bar.step("sampling")
        time.sleep(0.2)  # solvers' updates are drawn at most ten times a second
        bar.update(3, "residual 2.0e-04")
        assert bar.done == 3
    text = err.getvalue()
    assert "sampling" in text and "3/4" in text and "residual 2.0e-04" in text
