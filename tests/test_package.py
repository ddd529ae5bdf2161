"""Packaging: version, layout, light import, docstring examples."""

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import lagrangian_ot

ROOT = Path(__file__).resolve().parents[1]


def test_citation_version_matches_package():
    text = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^version:\s*(\S+)", text, re.MULTILINE).group(1) == lagrangian_ot.__version__


@pytest.mark.slow
def test_import_is_light_and_kernels_are_not_top_level(tmp_path):
    code = (
        "import sys, importlib.util, lagrangian_ot, lagrangian_ot.kernels\n"
        "heavy = [m for m in ('matplotlib', 'pykeops', 'keopscore', "
        "'geomloss', 'scipy', 'ot') if m in sys.modules]\n"
        "print(heavy, importlib.util.find_spec('kernels') is None)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package only
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    if "No module named 'lagrangian_ot'" in r.stderr:
        pytest.skip("lagrangian_ot is not installed (running from the source tree)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[] True"


@pytest.mark.slow
def test_kernels_install_inside_the_package_and_nothing_else_leaks(tmp_path):
    """``kernels/`` (top level in the repository) imports as ``lagrangian_ot.kernels`` from an
    install, editable or not; the checkout's other folders do not become subpackages."""
    code = (
        "import importlib.util as u, lagrangian_ot, lagrangian_ot.kernels as k\n"
        "print(k.__name__, [u.find_spec(f'lagrangian_ot.{m}') "
        "is None for m in ('tests', 'scripts', 'docs')])\n"
        "print(len(lagrangian_ot.__path__))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    if "No module named 'lagrangian_ot'" in r.stderr:
        pytest.skip("lagrangian_ot is not installed (running from the source tree)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["lagrangian_ot.kernels [True, True, True]", "1"]


def test_the_package_path_is_not_extended():
    assert len(lagrangian_ot.__path__) == 1
    assert "__path__.append" not in (ROOT / "lagrangian_ot" / "__init__.py").read_text()


def test_public_names_are_exported():
    for name in (
        "match",
        "Plan",
        "mccann",
        "Grid",
        "density",
        "momentum",
        "velocity",
        "load_silhouette",
    ):
        assert hasattr(lagrangian_ot, name), name
        assert name in lagrangian_ot.__all__


def test_native_kernels_load():
    import numpy as np

    from lagrangian_ot.kernels import farthest_points

    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.1, 0.0], [5.0, 0.0]])
    assert farthest_points(pts, 2, start=0).tolist() == [0, 3]


def test_native_wrappers_take_and_return_tensors():
    import numpy as np

    from lagrangian_ot.kernels.native import (
        assign_costs,
        farthest_points,
        network_simplex,
        poisson_disk,
        ssp_transport,
    )

    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.1, 0.0], [5.0, 0.0]], dtype=torch.float32)
    chosen = farthest_points(pts, 2, start=0)
    assert chosen.dtype == torch.int64 and chosen.device.type == "cpu" and chosen.tolist() == [0, 3]
    assert torch.equal(farthest_points(pts.numpy(), 2), chosen)  # arrays still work
    kept = poisson_disk(pts, torch.arange(4), 0.5)
    assert kept.dtype == torch.int64 and kept.tolist() == [0, 1, 3]
    # two sources, two sinks, all four edges: the cheap diagonal carries everything
    src, dst = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    cost = torch.tensor([0.0, 4.0, 4.0, 1.0], dtype=torch.float64)
    ones = torch.ones(2, dtype=torch.float64)
    flow, u, v, info = ssp_transport(
        2, 2, src, dst, cost, ones, ones, torch.zeros(2, dtype=torch.float64), 0.5
    )
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in (flow, u, v))
    assert flow.tolist() == [1.0, 0.0, 0.0, 1.0] and set(info) == {"augmentations", "scanned"}
    assert bool((u[src] + v[dst] <= cost + 1e-12).all()) and torch.allclose(
        (u[src] + v[dst])[flow > 0], cost[flow > 0]
    )
    arrays = ssp_transport(
        2, 2, src.numpy(), dst.numpy(), cost.numpy(), ones.numpy(), ones.numpy(), np.zeros(2), 0.5
    )
    assert torch.equal(arrays[0], flow)
    zeros = torch.zeros(2, dtype=torch.float64)
    flow2, _, _, basis, info2 = network_simplex(2, 2, src, dst, cost, ones, ones, zeros, zeros, 0.5)
    assert torch.equal(flow2, flow) and basis.dtype == torch.bool and basis.shape == (4 + 4,)
    assert isinstance(info2["pivots"], int) and info2["converged"]
    perm, pu, pv, bad = assign_costs(torch.tensor([[[0.0, 4.0], [4.0, 1.0]]]))
    assert perm.tolist() == [[0, 1]] and pu.dtype == torch.float64 and bad.shape == (1,)


@pytest.mark.parametrize(
    "module",
    [
        "lagrangian_ot",
        "lagrangian_ot.match",
        "lagrangian_ot.interpolate",
        "lagrangian_ot.grid",
        "lagrangian_ot.silhouette",
        "lagrangian_ot.hk",
        "lagrangian_ot.kernels.dct",
        "lagrangian_ot.dynamic.benamou_brenier",
        "lagrangian_ot.dynamic.wfr",
        "lagrangian_ot.dynamic.velocity",
        "lagrangian_ot.markov._distance",
        "lagrangian_ot._cg",
        "lagrangian_ot._geometry",
        "lagrangian_ot.examples",
        "lagrangian_ot.result",
    ],
)
def test_docstring_examples(module):
    mod = sys.modules.get(module) or __import__(module, fromlist=["_"])
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_integer_settings_are_checked_alike():
    import numpy as np
    import torch

    from lagrangian_ot.errors import InputError, check_int

    assert check_int(np.int64(3), "n", 1) == 3 and type(check_int(np.int64(3), "n", 1)) is int
    assert check_int(5, "frames", 2, 5) == 5
    # a 0-d integer tensor, as from .sum() or .argmax()
    assert check_int(torch.tensor(7), "n", 1) == 7
    for bad in (torch.tensor(7.0), torch.tensor(True), torch.tensor([7])):
        with pytest.raises(InputError, match="n must be an integer >= 1"):
            check_int(bad, "n", 1)
    for bad, message in (
        (0, "n must be an integer >= 1, got 0"),
        (2.0, "got 2.0"),
        (True, "got True"),
        ("3", "got '3'"),
    ):
        with pytest.raises(InputError, match=re.escape(message)):
            check_int(bad, "n", 1)
    with pytest.raises(InputError, match="frames must be an integer from 2 to 5, got 6"):
        check_int(6, "frames", 2, 5)


def test_times_are_checked_alike():
    import torch

    from lagrangian_ot import InputError, hk_interpolate, hk_plan, match, mccann
    from lagrangian_ot.errors import check_times

    t, scalar = check_times(0.5)
    assert scalar and t.dtype == torch.float64 and t.tolist() == [0.5]
    assert check_times([0, 1], "times")[0].tolist() == [0.0, 1.0]
    x = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    for f, plan in (
        (mccann, match(x, x + 1)),
        (hk_interpolate, hk_plan(x, x + 1, None, None, 1.0)),
    ):
        for bad in (1.5, [0.0, -0.5]):
            with pytest.raises(InputError, match=r"^t must be in \[0, 1\], got (1.5|-0.5)"):
                f(plan, bad)
        with pytest.raises(InputError, match="^t contains NaN"):
            f(plan, float("nan"))


def test_every_result_shares_value_converged_and_info():
    import torch

    from lagrangian_ot import Grid, Result, hk_plan, match
    from lagrangian_ot.dynamic import benamou_brenier
    from lagrangian_ot.markov import markov_distance

    f64 = torch.float64
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=f64)
    grid = Grid((0.0,), (1.0,), (16,))
    bump = torch.exp(-(((grid.axes[0] - 0.4) / 0.1) ** 2)).to(f64)
    two = torch.tensor([0.5, 0.5], dtype=f64)
    results = [
        match(x, x + 0.5),
        match(x, x + 0.5, method="sinkhorn"),
        hk_plan(x, x + 0.5, None, None, 1.0),
        benamou_brenier(bump, bump.roll(2), grid, n_times=4, max_iter=2000),
        markov_distance(
            torch.tensor([0.8, 0.2], dtype=f64),
            two,
            torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=f64),
            two,
        ),
    ]
    for res in results:
        assert isinstance(res, Result), type(res).__name__
        assert (
            isinstance(res.value, torch.Tensor) and res.value.dim() == 0 and res.value.dtype == f64
        )
        assert isinstance(res.converged, bool)
        assert isinstance(res.info["iterations"], int) and isinstance(res.info["residuals"], dict)
    assert isinstance(results[2].gap, torch.Tensor) and results[2].gap.dim() == 0
