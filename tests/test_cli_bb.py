"""``lagot bb``: the Eulerian figures end to end, and one clear line for bad input."""

import os

import pytest
from PIL import Image

from lagrangian_ot.cli import main


@pytest.mark.slow
def test_bb_writes_both_figures(tmp_path, capsys):
    out = tmp_path / "bb"
    assert main(["bb", "--n", "16", "--n-times", "8", "--max-iter", "200", "--out", str(out)]) == 0
    assert set(os.listdir(out)) == {
        "bb-duality.png",
        "bb-duality.pdf",
        "bb-geodesic.png",
        "bb-geodesic.pdf",
    }
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0 and "1-D W2^2" in line and "cat -> disks W2^2" in line
    with Image.open(out / "bb-geodesic.png") as im:
        assert im.size[0] > 2 * im.size[1]  # five panels in a row


@pytest.mark.slow
def test_bb_between_two_pictures(tmp_path, capsys):
    shapes = tmp_path / "shapes"
    assert main(["shapes", "--write", str(shapes), "--size", "64"]) == 0
    out = tmp_path / "bb"
    args = [
        "bb",
        str(shapes / "star.png"),
        "ring",
        "--n",
        "16",
        "--n-times",
        "8",
        "--max-iter",
        "100",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert set(os.listdir(out)) == {"bb-geodesic.png", "bb-geodesic.pdf"}
    assert "star.png -> ring" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["cat"], "two pictures"),
        (["nosuchfile.png", "cat"], "no such file"),
        (["--tol", "0"], "--tol"),
        (["--n", "2"], "--n (cells per side) must be an integer from 4 to 1024"),
        (["--n-times", "0"], "--n-times must be an integer >= 1"),
        (["--max-iter", "0"], "--max-iter must be an integer >= 1"),
        (["--floor", "-1"], "--floor must be in [0, 1)"),
        (["--n-times", "100000000"], "too large"),
    ],
)
def test_bb_bad_input_is_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["bb", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lagot: error:") and message in err and "\n" not in err
    assert not out.exists()
