"""The unbalanced panel and the Lagrangian WFR figure: masses fade and grow as the plan says."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image
from test_panel import _browser, needs_browser

from lagrangian_ot import InputError, hk_interpolate, hk_plan
from lagrangian_ot.cli import main
from lagrangian_ot.panel import unbalanced_frames, write_unbalanced_panel

KAPPAS = (0.05, 0.5)


@pytest.fixture(scope="module")
def clouds():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(60, 2, generator=g, dtype=torch.float64) * 0.5
    y = torch.rand(50, 2, generator=g, dtype=torch.float64) * 0.5 + torch.tensor(
        [0.9, 0.0], dtype=torch.float64
    )
    b = torch.full((50,), 2.0 / 50, dtype=torch.float64)  # twice the mass of x
    return x, y, b


@pytest.fixture(scope="module")
def panel(clouds, tmp_path_factory):
    x, y, b = clouds
    path = tmp_path_factory.mktemp("hk") / "unbalanced.html"
    write_unbalanced_panel(x, y, path, b=b, kappas=KAPPAS, frames=5, width=240)
    return path


def test_frames_carry_the_plans_masses(clouds):
    x, y, b = clouds
    rho, masses, values, canvas, plans = unbalanced_frames(
        x, y, None, b, KAPPAS, times=[0.0, 0.5, 1.0], width=120
    )
    assert rho.shape[:2] == (2, 3) and masses.shape == (2, 3)
    assert torch.allclose(masses[:, 0], torch.ones(2, dtype=torch.float64))
    assert torch.allclose(masses[:, -1], torch.full((2,), 2.0, dtype=torch.float64))
    for k, plan in zip(KAPPAS, plans):
        ref = hk_plan(x, y, None, b, k)
        assert abs(float(plan.value) - float(ref.value)) < 1e-9 * float(ref.value)
        _, h, _, _ = hk_interpolate(ref, 0.5)
        assert float(h.sum()) == pytest.approx(float(masses[KAPPAS.index(k), 1]), rel=1e-9)
    # the density frames hold the particles' mass (the canvas keeps the halo)
    cell = canvas.cell_volume
    assert torch.allclose(rho.sum((-2, -1)) * cell, masses, rtol=1e-3)
    # small kappa (pi kappa below the gap): nothing crosses, the clouds fade and grow in place;
    # larger kappa: mass travels through the gap between the clouds
    xs = canvas.axes[0]
    gap = (xs > 0.6) & (xs < 0.8)
    in_gap = rho[:, 1][:, gap].sum((-2, -1)) * cell
    assert in_gap[0] < 0.01 and in_gap[1] > 0.1  # the first: only the kernel halo


def test_panel_is_self_contained(panel):
    text = panel.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2 * 5
    for needle in ("http://", "https://", "<link", "@import", "url(", "<script src"):
        assert needle not in text
    data = json.loads(
        re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1)
    )
    assert data["kappas"] == list(KAPPAS) and len(data["masses"][0]) == 5


@pytest.mark.parametrize(
    "kwargs", [{"kappas": ()}, {"kappas": (0.0,)}, {"frames": 1}, {"width": 4}]
)
def test_bad_panel_settings(clouds, tmp_path, kwargs):
    x, y, b = clouds
    with pytest.raises(InputError):
        write_unbalanced_panel(x, y, tmp_path / "p.html", b=b, **kwargs)
    assert not (tmp_path / "p.html").exists()


@needs_browser
def test_panel_controls_from_the_query(panel):
    r = _browser("--dump-dom", f"{panel.as_uri()}?t=1&k=1")
    status = re.search(r'data-status="([^"]*)"', r.stdout)
    assert status is not None and status.group(1) == "ready", (status, r.stderr[-2000:])
    assert re.search(r'id="time-out"[^>]*>1\.00<', r.stdout)
    assert re.search(r'id="kappa-out"[^>]*>0\.500<', r.stdout)
    assert re.search(r'id="mass-out"[^>]*>2\.0000<', r.stdout)


@needs_browser
def test_the_kappa_control_changes_the_picture(panel, tmp_path):
    shots = []
    for k in (0, 1):
        out = tmp_path / f"k{k}.png"
        _browser("--window-size=500,400", f"--screenshot={out}", f"{panel.as_uri()}?t=0.5&k={k}")
        shots.append(np.asarray(Image.open(out).convert("RGB"), dtype=float) / 255)
    assert np.abs(shots[0] - shots[1]).mean() > 0.003


@pytest.mark.slow
def test_lagot_unbalanced_lagrangian_and_html(tmp_path, capsys):
    out = tmp_path / "u"
    args = [
        "unbalanced",
        "--lagrangian",
        "--html",
        "--kappas",
        "0.1,1",
        "--n",
        "60",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    names = {p.name for p in out.iterdir()}
    assert {"hk-sequence.png", "hk-sequence.pdf", "unbalanced.html", "unbalanced.png"} <= names


@pytest.mark.parametrize("value", ["", "0,1", "a", "-1"])
def test_lagot_unbalanced_bad_kappas(tmp_path, capsys, value):
    out = tmp_path / "never"
    assert main(["unbalanced", "--lagrangian", "--kappas", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lagot: error:") and "--kappas" in err
    assert not out.exists()


def test_kappas_are_checked_without_the_lagrangian_flags(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["unbalanced", "--kappas", "abc", "--out", str(out)]) == 2
    assert "--kappas" in capsys.readouterr().err and not out.exists()


def test_given_plans_must_match_the_kappas(clouds):
    x, y, b = clouds
    plans = [hk_plan(x, y, None, b, k) for k in KAPPAS]
    with pytest.raises(InputError, match="one plan per kappa"):
        unbalanced_frames(x, y, None, b, KAPPAS[::-1], frames=3, width=64, plans=plans)


def test_tall_clouds_keep_the_frame_within_bounds():
    x = torch.tensor([[0.0, 0.0], [0.05, 0.0], [0.0, 0.05]], dtype=torch.float64)
    y = x + torch.tensor([0.0, 5.0], dtype=torch.float64)
    _, _, _, canvas, _ = unbalanced_frames(
        x, y, None, None, (1.0,), frames=2, width=560, sigma=0.02
    )
    assert max(canvas.shape) <= 4096 and all(s % 2 == 0 for s in canvas.shape)


def test_the_old_module_still_imports_with_a_warning():
    import lagrangian_ot.hk_panel as old
    import lagrangian_ot.panel as new

    moves = (
        ("unbalanced_frames", "unbalanced_frames"),
        ("write_unbalanced_panel", "write_unbalanced_panel"),
        ("MAX_FRAMES", "MAX_UNBALANCED_FRAMES"),
    )
    for name, moved in moves:
        with pytest.warns(DeprecationWarning, match=f"lagrangian_ot.panel.{moved}"):
            assert getattr(old, name) is getattr(new, moved)
    with pytest.warns(DeprecationWarning):
        from lagrangian_ot.hk_panel import write_unbalanced_panel as old_writer
    assert old_writer is write_unbalanced_panel
