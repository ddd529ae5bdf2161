"""Pictures to point clouds."""

import numpy as np
import pytest
import torch
from PIL import Image

from lagrangian_ot import InputError, load_silhouette, shapes
from lagrangian_ot.silhouette import silhouette_mask


def write(path, array, mode="L"):
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode=mode).save(path)
    return str(path)


@pytest.fixture
def tee(tmp_path):
    """A black T on white: a wide bar on top of a narrow stem (tells up from down)."""
    img = np.full((120, 100), 255, np.uint8)
    img[10:30, 10:90] = 0  # top bar
    img[30:110, 40:60] = 0  # stem
    return img


def test_builtin_shapes_are_listed_and_drawn():
    assert {"cat", "disks"} <= set(shapes.names())
    for name in shapes.names():
        img = np.asarray(shapes.render(name, 128))
        assert img.shape == (128, 128)
        dark = (img < 128).mean()
        assert 0.05 < dark < 0.6, name  # a silhouette, neither blank nor full
        assert img[0].min() > 200 and img[-1].min() > 200  # white border


def test_disks_are_two_components():
    mask = silhouette_mask("disks")
    cols = mask.any(axis=0)
    runs = np.flatnonzero(np.diff(cols.astype(int)) == 1)
    assert len(runs) == 2  # two separate blobs from left to right


@pytest.mark.parametrize("sampling", ["farthest", "poisson", "random", "grid"])
def test_sampling_gives_n_centred_unit_points(sampling):
    pts = load_silhouette("cat", 400, sampling=sampling)
    assert pts.shape == (400, 2) and pts.dtype == torch.float32
    assert torch.isfinite(pts).all()
    assert pts.double().mean(0).abs().max() < 1e-6
    assert float(pts.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-6)
    again = load_silhouette("cat", 400, sampling=sampling)
    assert torch.equal(pts, again)  # deterministic for a seed
    if sampling != "grid":
        assert not torch.equal(pts, load_silhouette("cat", 400, sampling=sampling, seed=1))


def test_even_samplings_are_spread_out():
    def min_gap(p):
        d = torch.cdist(p.double(), p.double())
        d.fill_diagonal_(np.inf)
        return float(d.min())

    random = min_gap(load_silhouette("disks", 500, sampling="random"))
    for sampling in ("farthest", "poisson"):
        assert min_gap(load_silhouette("disks", 500, sampling=sampling)) > 3 * random


def test_poisson_density_is_uniform():
    """No region of the disks is sampled at a different density (farthest-point banding)."""
    pts = load_silhouette("disks", 4000, sampling="poisson").double()
    left = pts[pts[:, 0] < 0]
    top, bottom = (left[:, 1] > 0).sum(), (left[:, 1] <= 0).sum()
    assert abs(int(top) - int(bottom)) < 0.08 * len(left)


def test_y_axis_points_up(tmp_path, tee):
    pts = load_silhouette(write(tmp_path / "tee.png", tee), 600, sampling="grid").double()
    high = pts[pts[:, 1] > pts[:, 1].quantile(0.9)]
    low = pts[pts[:, 1] < pts[:, 1].quantile(0.1)]
    assert high[:, 0].std() > 2.5 * low[:, 0].std()  # the wide bar is on top


def test_threshold_detects_both_polarities(tmp_path, tee):
    dark = load_silhouette(write(tmp_path / "dark.png", tee), 300, sampling="grid")
    light = load_silhouette(write(tmp_path / "light.png", 255 - tee), 300, sampling="grid")
    torch.testing.assert_close(dark, light)
    gray = np.where(tee < 128, 90, 170)  # low contrast, away from 0.5
    torch.testing.assert_close(
        load_silhouette(write(tmp_path / "gray.png", gray), 300, sampling="grid"), dark
    )


def test_transparent_background_uses_alpha(tmp_path, tee):
    rgba = np.zeros((*tee.shape, 4), np.uint8)
    rgba[..., :3] = 255  # white shape ...
    rgba[..., 3] = np.where(tee < 128, 255, 0)  # ... visible only through its alpha
    path = write(tmp_path / "alpha.png", rgba, mode="RGBA")
    ref = load_silhouette(write(tmp_path / "dark.png", tee), 300, sampling="grid")
    torch.testing.assert_close(load_silhouette(path, 300, sampling="grid"), ref)


def test_explicit_threshold(tmp_path, tee):
    path = write(tmp_path / "t.png", tee)
    torch.testing.assert_close(
        load_silhouette(path, 200, sampling="grid", threshold=0.5),
        load_silhouette(path, 200, sampling="grid"),
    )


def test_grid_sampling_refuses_more_points_than_pixels(tmp_path):
    img = np.full((40, 40), 255, np.uint8)
    img[10:20, 10:20] = 0  # 100 pixels
    path = write(tmp_path / "small.png", img)
    assert load_silhouette(path, 100, sampling="grid").shape == (100, 2)
    with pytest.raises(InputError, match="larger than the silhouette"):
        load_silhouette(path, 101, sampling="grid")
    assert load_silhouette(path, 400, sampling="poisson").shape == (400, 2)  # upsampled


@pytest.mark.parametrize(
    "make,kwargs,message",
    [
        (lambda d: str(d / "missing.png"), {}, "no such file"),
        (lambda d: "unicorn", {}, "built-in shapes"),
        (lambda d: str(d), {}, "directory"),
        (
            lambda d: (d / "notes.png").write_text("not an image") and str(d / "notes.png"),
            {},
            "cannot read",
        ),
        (lambda d: write(d / "blank.png", np.full((50, 50), 200)), {}, "blank"),
        (lambda d: "cat", {"n": 0}, "n must be"),
        (lambda d: "cat", {"n": 2.5}, "n must be"),
        (lambda d: "cat", {"sampling": "hexagonal"}, "unknown sampling"),
        (lambda d: "cat", {"threshold": 1.5}, "threshold"),
        (lambda d: "cat", {"threshold": "otsu"}, "threshold"),
    ],
)
def test_bad_input(tmp_path, make, kwargs, message):
    kwargs = {"n": 10, **kwargs}
    n = kwargs.pop("n")
    with pytest.raises(InputError, match=message):
        load_silhouette(make(tmp_path), n, **kwargs)
