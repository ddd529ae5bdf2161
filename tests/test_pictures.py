"""Pictures of any size and kind: bombs refused, big pictures reduced, limits said up front,
warnings."""

import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from lagrangian_ot import InputError, load_silhouette
from lagrangian_ot.cli import main
from lagrangian_ot.silhouette import MAX_SIDE, _open, silhouette_mask


def disk_picture(path, side, fmt=None):
    img = Image.new("L", (side, side), 255)
    ImageDraw.Draw(img).ellipse([0.2 * side, 0.25 * side, 0.8 * side, 0.7 * side], fill=0)
    img.save(path, format=fmt)
    return str(path)


@pytest.fixture
def small_pixel_limit(monkeypatch):
    """Pillow's safety limits lowered to 10,000 pixels (warning) and 20,000 (error): small files
    test them."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)


def test_a_decompression_bomb_is_one_line_and_exit_2(tmp_path, small_pixel_limit, capsys):
    path = disk_picture(tmp_path / "bomb.png", 200)  # 40,000 pixels: twice the limit and more
    with pytest.raises(InputError, match="too large to decode safely.*40,000 pixels"):
        silhouette_mask(path)
    assert main(["interpolate", path, "disks", "--n", "50", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "too large to decode safely" in err
    assert not (tmp_path / "o").exists()


def test_pillows_warning_never_reaches_the_user(tmp_path, small_pixel_limit):
    # 14,400 pixels: above the warning limit, below the error
    path = disk_picture(tmp_path / "big.png", 120)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning would fail here
        mask = silhouette_mask(path)
    assert mask.shape == (120, 120)


@pytest.mark.slow
def test_large_pictures_are_reduced_before_sampling(tmp_path):
    small = disk_picture(tmp_path / "small.png", MAX_SIDE)
    large = disk_picture(tmp_path / "large.png", 4 * MAX_SIDE)
    assert _open(large).shape == (MAX_SIDE, MAX_SIDE)
    wide = Image.new("L", (3 * MAX_SIDE + 5, 200), 255)
    wide.save(tmp_path / "wide.png")
    assert max(_open(str(tmp_path / "wide.png")).shape) <= MAX_SIDE
    # the same shape at four times the resolution gives the same cloud, up to the sampling
    a = load_silhouette(small, 2000, sampling="grid").double()
    b = load_silhouette(large, 2000, sampling="grid").double()
    assert torch.allclose(a.mean(0), b.mean(0), atol=1e-3)  # both centred: 0
    assert a.std(0).sub(b.std(0)).abs().max() < 5e-3  # the same spread
    # and costs about the same: the large one is reduced before any per-pixel work
    start = time.perf_counter()
    load_silhouette(small, 2000)
    t_small = time.perf_counter() - start
    start = time.perf_counter()
    load_silhouette(large, 2000)
    t_large = time.perf_counter() - start
    # decoding 16 M pixels adds a little, sampling them would add much more
    assert t_large < 3 * t_small + 1.0


def test_jpeg_is_decoded_reduced(tmp_path):
    path = disk_picture(tmp_path / "large.jpg", 3 * MAX_SIDE, fmt="JPEG")
    gray = _open(path)
    assert max(gray.shape) <= MAX_SIDE


def test_n_is_checked_up_front_with_the_limit(tmp_path, capsys):
    img = np.full((40, 40), 255, np.uint8)
    img[10:20, 10:20] = 0  # 100 pixels
    Image.fromarray(img).save(tmp_path / "small.png")
    path = str(tmp_path / "small.png")
    assert load_silhouette(path, 400).shape == (400, 2)  # 4 per pixel
    with pytest.raises(
        InputError, match=r"larger than the silhouette.*at most 400 points.*100 pixels"
    ):
        load_silhouette(path, 401)
    start = time.perf_counter()
    assert (
        main(["interpolate", "cat", "disks", "--n", "10000000", "--out", str(tmp_path / "o")]) == 2
    )
    # said before any sampling (it used to fail after 21 s and 2.3 GB)
    assert time.perf_counter() - start < 20
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "at most" in err and "points" in err


def photograph(path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:200, 0:300]
    gray = 128 + 60 * np.sin(x / 17.0) * np.cos(y / 11.0) + rng.normal(0, 20, (200, 300))
    Image.fromarray(gray.clip(0, 255).astype(np.uint8)).save(path)
    return str(path)


def test_a_photograph_gets_a_warning_and_a_silhouette_none(tmp_path):
    with pytest.warns(UserWarning, match="does not look like a silhouette.*--density"):
        silhouette_mask(photograph(tmp_path / "photo.png"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("cat", "disks", "ring", "star"):
            silhouette_mask(name)
        # JPEG noise is no photograph
        silhouette_mask(disk_picture(tmp_path / "disk.jpg", 300, fmt="JPEG"))


def test_multi_frame_pictures_get_a_warning(tmp_path, capsys):
    frames = [Image.new("L", (80, 80), 255) for _ in range(3)]
    for k, f in enumerate(frames):
        ImageDraw.Draw(f).ellipse([10 + 5 * k, 20, 50 + 5 * k, 60], fill=0)
    path = str(tmp_path / "anim.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match="has 3 frames; using the first"):
        silhouette_mask(path)
    out = tmp_path / "o"
    assert (
        main(["interpolate", path, "disks", "--n", "60", "--times", "0,1", "--out", str(out)]) == 0
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lagot: warning: {path} has 3 frames; using the first"]  # one line, once


@pytest.mark.slow
def test_threshold_option(tmp_path, capsys):
    path = photograph(tmp_path / "photo.png")
    assert main(["interpolate", path, "disks", "--n", "60", "--times", "0,1", "--threshold", "0.3",
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    assert "does not look like" not in capsys.readouterr().err  # a threshold given is a choice made
    assert main(["interpolate", "--threshold", "1.5", "--out", str(tmp_path / "p")]) == 2
    assert "--threshold" in capsys.readouterr().err
