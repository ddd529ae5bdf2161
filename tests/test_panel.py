"""The interactive panel: one self-contained HTML file, checked in a real headless browser."""

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from lagrangian_ot import InputError, match
from lagrangian_ot.panel import write_panel

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
needs_browser = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (CI installs Debian's chromium)"
)


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(400, 2, generator=g, dtype=torch.float64)
    y = torch.rand(400, 2, generator=g, dtype=torch.float64) * 0.7 + torch.tensor(
        [2.2, 0.1], dtype=torch.float64
    )
    path = tmp_path_factory.mktemp("panel") / "panel.html"
    write_panel(match(x, y), path, frames=9, arrows=30, width=480)
    return path


def _browser(*args, timeout=90):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_panel_is_self_contained(panel):
    text = panel.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 9
    for needle in ("http://", "https://", "<link", "@import", "url(", "<script src"):
        assert needle not in text
    assert 'id="time"' in text and 'id="scale"' in text


@pytest.mark.parametrize("kwargs", [{"frames": 1}, {"arrows": -1}, {"width": 8}])
def test_bad_panel_settings(panel, tmp_path, kwargs):
    plan = match(torch.rand(10, 2, dtype=torch.float64), torch.rand(10, 2, dtype=torch.float64))
    with pytest.raises(InputError):
        write_panel(plan, tmp_path / "p.html", **kwargs)
    assert not (tmp_path / "p.html").exists()


def _loads_with(url: str, time_out: str, scale_out: str) -> None:
    """The page at ``url`` loads without errors and shows these control values."""
    r = _browser("--dump-dom", url)
    status = re.search(r'data-status="([^"]*)"', r.stdout)
    assert status is not None and status.group(1) == "ready", (status, r.stderr[-2000:])
    assert "Uncaught" not in r.stderr
    assert re.search(rf'id="time-out"[^>]*>{re.escape(time_out)}<', r.stdout)
    assert re.search(rf'id="scale-out"[^>]*>{re.escape(scale_out)}<', r.stdout)


@needs_browser
def test_panel_loads_without_errors(panel):
    _loads_with(f"{panel.as_uri()}?t=0.3&scale=1.5", "0.30", "1.50x")


@needs_browser
def test_moving_the_time_control_changes_the_picture(panel, tmp_path):
    shots = {}
    for t in ("0", "1"):
        out = tmp_path / f"t{t}.png"
        r = _browser(
            "--window-size=700,500", f"--screenshot={out}", f"{panel.as_uri()}?t={t}&arrows=0"
        )
        assert out.exists(), r.stderr[-2000:]
        shots[t] = np.asarray(Image.open(out).convert("RGB"), dtype=float) / 255
    a, b = shots["0"], shots["1"]
    assert np.abs(a - b).mean() > 0.005
    for img, left, red in ((a, True, True), (b, False, False)):
        # coloured, not grey text
        ink = (img.sum(-1) < 2.4) & (np.abs(img[..., 0] - img[..., 2]) > 0.15)
        cols = np.nonzero(ink.any(0))[0]
        assert cols.size > 0
        assert (cols.mean() < img.shape[1] * 0.5) == left
        assert (img[ink][:, 0].mean() > img[ink][:, 2].mean()) == red


@pytest.mark.slow
def test_the_title_is_text_only(tmp_path):
    plan = match(torch.rand(10, 2, dtype=torch.float64), torch.rand(10, 2, dtype=torch.float64))
    write_panel(plan, tmp_path / "p.html", frames=2, title="<b>__DATA__ & __SCRIPT__</b>")
    text = (tmp_path / "p.html").read_text()
    assert "<title>&lt;b&gt;__DATA__ &amp; __SCRIPT__&lt;/b&gt;</title>" in text
    assert text.count('<script id="data"') == 1 and text.count("function loadFrames") == 1


@pytest.fixture(scope="module")
def hk_panel(tmp_path_factory):
    from lagrangian_ot import hk_plan

    g = torch.Generator().manual_seed(4)
    x = torch.rand(120, 2, generator=g, dtype=torch.float64) * 0.5
    y = torch.rand(90, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor(
        [0.9, 0.1], dtype=torch.float64
    )
    plan = hk_plan(x, y, None, torch.full((90,), 2.0 / 90, dtype=torch.float64), 0.5)
    path = tmp_path_factory.mktemp("hkpanel") / "panel.html"
    write_panel(plan, path, frames=5, arrows=12, width=320)
    return plan, path


def test_the_panel_takes_an_hk_plan(hk_panel):
    import json

    from lagrangian_ot import hk_interpolate
    from lagrangian_ot.animation import Canvas

    plan, path = hk_panel
    text = path.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 5 and "Wasserstein-Fisher-Rao" in text
    data = json.loads(
        re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1)
    )
    # (frames, arrows, 2) pixels: the particles' paths
    centres = np.array(data["arrows"]["centres"])
    assert centres.shape == (5, 12, 2) and len(data["arrows"]["half"]) == 12
    # the arrows ride the travelling particles, which do not move at constant speed (the
    # straight interpolation of the end frames misses the midpoint frame by pixels)
    canvas = Canvas(plan, None, 320, arrows=12)
    for k, t in enumerate(np.linspace(0, 1, 5)):
        assert np.abs(centres[k] - canvas.centres(t)).max() <= 0.006
    idx = canvas.track[0]
    z = hk_interpolate(plan, 0.5)[0][idx].numpy()
    np.testing.assert_allclose(canvas.centres(0.5), canvas._pixels(z))
    assert np.abs(centres[2] - 0.5 * (centres[0] + centres[4])).max() > 1.0


@needs_browser
def test_the_hk_panel_loads_without_errors(hk_panel):
    _loads_with(f"{hk_panel[1].as_uri()}?t=0.7&scale=2", "0.70", "2.00x")
