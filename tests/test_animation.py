"""Animations: GIF frames stream, the colours move from red to blue, MP4 through ffmpeg."""

import shutil
import subprocess
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

from lagrangian_ot import InputError, match
from lagrangian_ot.animation import write_gif, write_mp4


@pytest.fixture(scope="module")
def plan():
    g = torch.Generator().manual_seed(7)
    x = torch.rand(300, 2, generator=g, dtype=torch.float64)
    y = torch.rand(300, 2, generator=g, dtype=torch.float64) * 0.6 + torch.tensor(
        [2.5, 0.2], dtype=torch.float64
    )
    return match(x, y)


def _frames(path):
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB"), dtype=np.float64) / 255)
        return out, dict(im.info)


def test_gif_frames_move_from_red_source_to_blue_target(plan, tmp_path):
    path = tmp_path / "a.gif"
    write_gif(plan, path, frames=12, duration=2.4, arrows=20, width=320)
    frames, info = _frames(path)
    assert len(frames) == 12 and frames[0].shape[1] == 320
    assert info.get("loop") == 0 and info.get("duration") == 200
    first, last = frames[0], frames[-1]

    def inked(f):
        return f.sum(-1) < 2.7

    # t = 0 is red and on the left (source), t = 1 blue and on the right (target)
    for f, left in ((first, True), (last, False)):
        cols = np.nonzero(inked(f).any(0))[0]
        assert (cols.mean() < f.shape[1] / 2) == left
    r0, b0 = first[inked(first)][:, 0].mean(), first[inked(first)][:, 2].mean()
    r1, b1 = last[inked(last)][:, 0].mean(), last[inked(last)][:, 2].mean()
    assert r0 > b0 and b1 > r1
    assert not np.allclose(frames[5], frames[6])


def test_gif_memory_does_not_grow_with_frames(plan, tmp_path):
    write_gif(plan, tmp_path / "warm.gif", frames=2, width=400)  # first-use imports and caches
    peaks = []
    for n in (6, 48):
        tracemalloc.start()
        write_gif(plan, tmp_path / f"m{n}.gif", frames=n, width=400)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.1 * peaks[0]  # one frame in memory at a time


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed here")
def test_mp4_has_the_frames(plan, tmp_path):
    path = tmp_path / "a.mp4"
    write_mp4(plan, path, frames=10, duration=2.0, arrows=10, width=322)
    probe = shutil.which("ffprobe")
    assert path.stat().st_size > 1000
    if probe:
        r = subprocess.run(
            [probe, "-v", "error", "-count_frames", "-select_streams", "v:0",
             "-show_entries", "stream=nb_read_frames,width", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        width, count = r.stdout.strip().split(",")
        assert int(count) == 10 and int(width) == 322


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frames": 1},
        {"frames": 2.5},
        {"frames": 5000},
        {"duration": 0},
        {"duration": float("nan")},
        {"width": 10},
        {"arrows": -1},
        {"arrows": 2.5},
    ],
)
def test_bad_animation_settings(plan, tmp_path, kwargs):
    with pytest.raises(InputError):
        write_gif(plan, tmp_path / "bad.gif", **kwargs)
    assert not (tmp_path / "bad.gif").exists()


def test_batched_or_3d_plans_are_refused(tmp_path):
    x = torch.rand(2, 5, 2, dtype=torch.float64)
    with pytest.raises(InputError):
        write_gif(match(x, x + 1), tmp_path / "b.gif")
    y = torch.rand(5, 3, dtype=torch.float64)
    with pytest.raises(InputError):
        write_gif(match(y, y + 1), tmp_path / "c.gif")


@pytest.mark.parametrize("kwargs", [{"n_frames": 1}, {"width": 10}, {"width": 2.5}, {"arrows": -1}])
def test_bad_frame_settings_fail_before_any_frame(plan, kwargs):
    from lagrangian_ot.animation import frames

    with pytest.raises(InputError):
        frames(plan, **kwargs)


def test_hk_plans_animate_on_one_opacity_scale(tmp_path):
    # mass fades at the source and grows at the target (pi kappa is below the gap): at t = 1/2
    # both clouds hold a quarter of their mass, and the frame shows it lighter than the ends
    from lagrangian_ot import hk_plan
    from lagrangian_ot.animation import Canvas

    g = torch.Generator().manual_seed(2)
    x = torch.rand(80, 2, generator=g, dtype=torch.float64) * 0.5
    y = torch.rand(80, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor(
        [0.9, 0.0], dtype=torch.float64
    )
    plan = hk_plan(x, y, None, None, 0.05)
    canvas = Canvas(plan, None, 200, arrows=10)
    ends, middle = (
        max(float(canvas.alpha(0.0).max()), float(canvas.alpha(1.0).max())),
        float(canvas.alpha(0.5).max()),
    )
    assert ends > 0.9 and middle < 0.6 * ends
    write_gif(plan, tmp_path / "hk.gif", frames=5, arrows=10, width=200)
    frames, _ = _frames(tmp_path / "hk.gif")
    assert len(frames) == 5
    ink = [float((1 - f).sum()) for f in frames]
    assert ink[2] < 0.8 * min(ink[0], ink[-1])
