"""The command line: the main job end to end, and one clear line for bad input."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lagrangian_ot.cli import main

OUTPUTS = {
    "density-sequence.png",
    "density-sequence.pdf",
    "midpoint-velocities.png",
    "midpoint-velocities.pdf",
    "figure.png",
    "geodesic.npz",
}


def lagot(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lagrangian_ot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.slow
def test_interpolate_end_to_end_on_files(tmp_path):
    shapes_dir = tmp_path / "shapes"
    r = lagot("shapes", "--write", str(shapes_dir))
    assert r.returncode == 0, r.stderr
    assert {"cat.png", "disks.png"} <= set(os.listdir(shapes_dir))
    out = tmp_path / "out"
    r = lagot(
        "interpolate",
        str(shapes_dir / "cat.png"),
        str(shapes_dir / "disks.png"),
        "--n",
        "300",
        "--out",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert (
        len(lines) == 1
        and "n=300" in lines[0]
        and "method exact" in lines[0]
        and "W2^2" in lines[0]
    )
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    assert set(os.listdir(out)) == OUTPUTS
    data = np.load(out / "geodesic.npz")
    assert {"x", "y", "src", "dst", "mass", "cost", "times"} <= set(data.files)
    assert data["x"].shape == (300, 2) and data["y"].shape == (300, 2)
    assert sorted(data["dst"].tolist()) == list(range(300))  # a permutation
    cost = (data["mass"] * ((data["x"][data["src"]] - data["y"][data["dst"]]) ** 2).sum(1)).sum()
    assert float(data["cost"]) == pytest.approx(cost, rel=1e-9)
    np.testing.assert_allclose(data["times"], [0, 0.25, 0.5, 0.75, 1])
    img = Image.open(out / "figure.png")
    assert img.size[0] > 2 * img.size[1]  # the sequence and the arrows side by side


def test_interpolate_defaults_to_cat_and_disks(tmp_path, capsys):
    assert main(["interpolate", "--n", "120", "--times", "0,1", "--out", str(tmp_path)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("lagot: cat -> disks, n=120")
    data = np.load(tmp_path / "geodesic.npz")
    np.testing.assert_allclose(data["times"], [0, 1])


def test_help_is_useful():
    r = lagot("--help")
    assert r.returncode == 0 and "interpolate" in r.stdout and "shapes" in r.stdout
    r = lagot("interpolate", "--help")
    for word in (
        "SRC",
        "--n",
        "--method",
        "--times",
        "--sigma",
        "--seed",
        "--device",
        "--out",
        "density-sequence",
    ):
        assert word in r.stdout


def test_shapes_lists_names(capsys):
    assert main(["shapes"]) == 0
    assert {"cat", "disks"} <= set(capsys.readouterr().out.split())


def _blank(d):
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(d / "blank.png")
    return [str(d / "blank.png"), "disks"]


def _not_image(d):
    (d / "cat.png").write_text("hello")
    return [str(d / "cat.png"), "disks"]


def _tiny(d):
    img = np.full((30, 30), 255, np.uint8)
    img[5:10, 5:10] = 0
    Image.fromarray(img).save(d / "tiny.png")
    return [str(d / "tiny.png"), "disks", "--sampling", "grid", "--n", "50"]


def _under_a_file(d):
    (d / "afile").write_text("x")
    return ["--out", str(d / "afile" / "sub")]


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda d: [str(d / "missing.png"), "disks"], "no such file"),
        (_not_image, "cannot read"),
        (_blank, "blank"),
        (_tiny, "larger than the silhouette"),
        (lambda d: ["--n", "0"], "--n must be"),
        (lambda d: ["--n", "-3"], "--n must be"),
        (lambda d: ["unicorn", "disks"], "built-in shapes"),
        (lambda d: ["cat"], "both SRC and DST"),
        (_under_a_file, "output folder"),
        (
            lambda d: ["--out", str(d / "afile2")] if (d / "afile2").write_text("x") else [],
            "not a folder",
        ),
        (lambda d: ["--times", "0,2"], "--times"),
        (lambda d: ["--times", "a,b"], "--times"),
        (lambda d: ["--sigma", "-1"], "--sigma"),
        (lambda d: ["--method", "magic"], "invalid choice"),
        (lambda d: ["--n", "ten"], "invalid int"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(tmp_path, capsys, make, message):
    inputs = tmp_path / "in"
    inputs.mkdir()
    args = make(inputs)
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) if "invalid" in message else _nothing():
        status = main(["interpolate", *args])
        assert status == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    out = tmp_path / "out"
    assert not out.exists() or os.listdir(out) == []  # nothing half-written


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_argument_errors_exit_2_in_a_real_process(tmp_path):
    r = lagot("interpolate", "--n", "ten")
    assert (
        r.returncode == 2
        and len(r.stderr.strip().splitlines()) == 1
        and "Traceback" not in r.stderr
    )
    r = lagot("interpolate", str(tmp_path / "nope.png"), "disks", "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and r.stderr.startswith("lagot: error: no such file")
    assert not (tmp_path / "o").exists()


def test_cuda_request_without_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert main(["interpolate", "--device", "cuda", "--out", str(tmp_path)]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sigma", "inf"], "--sigma"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_more_bad_numbers(tmp_path, capsys, args, message):
    out = tmp_path / "o"
    assert main(["interpolate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_failure_part_way_leaves_the_output_folder_untouched(tmp_path, capsys):
    out = tmp_path / "o"
    (out / "figure.png").mkdir(parents=True)  # the last file cannot be written
    assert main(["interpolate", "--n", "100", "--out", str(out)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["figure.png"]  # nothing else written
    assert not [p for p in tmp_path.rglob(".lagot-*")]  # no staging left behind


def test_grid_sampling_error_creates_no_folder(tmp_path, capsys):
    img = np.full((24, 24), 255, np.uint8)
    img[8:16, 8:16] = 0
    Image.fromarray(img).save(tmp_path / "small.png")
    out = tmp_path / "o"
    args = [
        "interpolate",
        str(tmp_path / "small.png"),
        "disks",
        "--n",
        "1000",
        "--sampling",
        "grid",
        "--out",
        str(out),
    ]
    assert main(args) == 2
    assert "larger than the silhouette" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("size", ["0", "-3", "8"])
def test_shapes_rejects_bad_sizes(tmp_path, capsys, size):
    assert main(["shapes", "--write", str(tmp_path / "s"), "--size", size]) == 2
    assert "--size" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_animate_and_redraw_from_npz(tmp_path):
    out = tmp_path / "out"
    r = lagot(
        "interpolate",
        "--n",
        "200",
        "--out",
        str(out),
        "--animate",
        "--frames",
        "6",
        "--arrows",
        "10",
        "--html",
    )
    assert r.returncode == 0, r.stderr
    names = set(os.listdir(out))
    assert OUTPUTS | {"geodesic.gif", "panel.html"} <= names
    with Image.open(out / "geodesic.gif") as im:
        assert im.n_frames == 6
    figs = tmp_path / "figs"
    r = lagot("figure", str(out / "geodesic.npz"), "--out", str(figs), "--formats", "png,svg")
    assert r.returncode == 0, r.stderr
    stems = (
        "density-sequence",
        "midpoint-velocities",
        "trajectories",
        "velocity-field",
        "plan-lines",
    )
    assert set(os.listdir(figs)) == {f"{s}.{e}" for s in stems for e in ("png", "svg")} | {
        "figure.png"
    }
    # the redrawn sequence is the same picture as the original one
    a = np.asarray(Image.open(out / "density-sequence.png").convert("L"), dtype=float)
    b = np.asarray(Image.open(figs / "density-sequence.png").convert("L"), dtype=float)
    assert a.shape == b.shape and np.abs(a - b).mean() < 1.0


def test_load_npz_round_trip(tmp_path):
    from lagrangian_ot.geodesic import load_npz, save_npz, silhouette_geodesic

    geo = silhouette_geodesic("cat", "disks", 150)
    save_npz(geo, tmp_path / "g.npz")
    back = load_npz(tmp_path / "g.npz")
    for name in ("x", "y", "src", "dst", "mass"):
        assert np.array_equal(getattr(back.plan, name).numpy(), getattr(geo.plan, name).numpy())
    assert back.times == geo.times and back.sigma == geo.sigma and back.plan.gap == geo.plan.gap


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ("figure", "missing.npz"),
        ("figure", "notnpz.txt"),
        ("figure", "ok.npz", "--formats", "gif"),
        ("figure", "ok.npz", "--t", "2"),
        ("figure", "ok.npz", "--animate", "--frames", "1"),
        ("figure", "ok.npz", "--animate", "--frames", "100000"),
        ("figure", "trunc.npz"),
        ("figure", "empty.npz"),
        ("figure", "ok.npz", "--times", ""),
        ("figure", "ok.npz", "--times", "0,,1"),
        ("figure", "ok.npz", "--kind", "bogus"),
        ("interpolate", "--n", "50", "--animate", "--frames", "100000"),
        ("interpolate", "--n", "50", "--animate", "--duration", "0"),
        ("interpolate", "--n", "50", "--animate", "--arrows", "-1"),
    ],
)
def test_bad_figure_and_animation_input(tmp_path, args):
    (tmp_path / "notnpz.txt").write_text("hello")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "ok.npz", x=np.zeros((3, 2)), y=np.ones((3, 2)), src=np.arange(3),
             dst=np.arange(3), mass=np.full(3, 1 / 3), cost=np.asarray(2.0),
             times=np.asarray([0.0, 1.0]), sigma=np.asarray(0.1), method=np.asarray("exact"),
             gap=np.asarray(0.0))  # fmt: skip
    whole = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(whole[: len(whole) // 2])
    r = lagot(*args, "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("lagot: error:")
    assert not (tmp_path / "o").exists()


def test_keops_probe_reports_a_crash_instead_of_crashing(monkeypatch):
    import signal

    from lagrangian_ot.kernels.backend import keops_probe

    class Done:
        def __init__(self, rc, err=""):
            self.returncode, self.stderr, self.stdout = rc, err, ""

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Done(-signal.SIGSEGV))
    assert "crashed (signal 11)" in keops_probe()
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **k: Done(1, "Traceback\nImportError: no pykeops")
    )
    assert keops_probe() == "failed: ImportError: no pykeops"
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Done(0))
    assert keops_probe() == "compiles and runs"


def test_library_errors_name_the_option_on_the_command_line():
    import argparse

    from lagrangian_ot.cli import _as_flags

    args = argparse.Namespace(sigma=None, max_iter=5, command="figure", run=None)
    assert (
        _as_flags("sigma must be a finite number > 0, got -1", args)
        == "--sigma must be a finite number > 0, got -1"
    )
    assert (
        _as_flags("max_iter must be an integer >= 1", args) == "--max-iter must be an integer >= 1"
    )
    assert _as_flags("the plan is empty", args) == "the plan is empty"  # not an option: as it is
    assert _as_flags("run must be", args) == "run must be"
