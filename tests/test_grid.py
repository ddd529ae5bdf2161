"""Tests for lagrangian_ot.Grid: cell centres, spacing, volume, extent, points(), around()."""

from __future__ import annotations

import math

import pytest
import torch

from lagrangian_ot import Grid, InputError


def test_spacing_volume_extent_2d():
    g = Grid((0.0, -1.0), (1.0, 3.0), (4, 8))
    assert g.dim == 2
    assert g.shape == (4, 8)
    assert g.spacing == pytest.approx((0.25, 0.5), rel=0, abs=1e-15)
    assert g.cell_volume == pytest.approx(0.125, rel=1e-15)
    assert g.extent == (0.0, 1.0, -1.0, 3.0)


def test_values_are_normalised_to_float_tuples():
    g = Grid([0, 1], [2, 5], [2.0, 4.0])
    assert g.lo == (0.0, 1.0) and all(isinstance(v, float) for v in g.lo)
    assert g.hi == (2.0, 5.0) and all(isinstance(v, float) for v in g.hi)
    assert g.shape == (2, 4) and all(isinstance(v, int) for v in g.shape)


def test_cell_centres_1d():
    g = Grid((-1.0,), (1.0,), (4,))
    (ax,) = g.axes
    assert ax.dtype == torch.float64
    torch.testing.assert_close(
        ax, torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64), rtol=0, atol=1e-15
    )
    assert g.spacing == (0.5,)
    assert g.cell_volume == 0.5
    assert g.extent == (-1.0, 1.0)


@pytest.mark.parametrize(
    "lo, hi, shape",
    [
        ((0.0,), (3.0,), (6,)),
        ((0.0, -2.0), (1.0, 2.0), (5, 3)),
        ((-1.0, 0.0, 2.0), (1.0, 0.5, 5.0), (2, 3, 4)),
    ],
)
def test_axes_are_cell_centres(lo, hi, shape):
    g = Grid(lo, hi, shape)
    assert len(g.axes) == len(shape)
    vol = 1.0
    for a, ax in enumerate(g.axes):
        h = (hi[a] - lo[a]) / shape[a]
        vol *= h
        assert g.spacing[a] == pytest.approx(h, rel=1e-15)
        assert ax.shape == (shape[a],)
        expected = torch.tensor(
            [lo[a] + (i + 0.5) * h for i in range(shape[a])], dtype=torch.float64
        )
        torch.testing.assert_close(ax, expected, rtol=0, atol=1e-14)
        # the centres are half a cell inside the box on each side
        assert float(ax[0]) - lo[a] == pytest.approx(h / 2, rel=1e-12)
        assert hi[a] - float(ax[-1]) == pytest.approx(h / 2, rel=1e-12)
    assert g.cell_volume == pytest.approx(vol, rel=1e-14)
    # the cells tile the box
    assert g.cell_volume * math.prod(shape) == pytest.approx(
        math.prod(h - low for low, h in zip(lo, hi)), rel=1e-14
    )
    assert g.extent == tuple(v for pair in zip(lo, hi) for v in pair)


def test_points_c_order_2d():
    g = Grid((0.0, 0.0), (2.0, 3.0), (2, 3))
    p = g.points()
    assert p.shape == (6, 2)
    assert p.dtype == torch.float64
    expected = torch.tensor(
        [[0.5, 0.5], [0.5, 1.5], [0.5, 2.5], [1.5, 0.5], [1.5, 1.5], [1.5, 2.5]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-15)


def test_points_c_order_3d_matches_index():
    g = Grid((0.0, 10.0, -5.0), (2.0, 13.0, -1.0), (2, 3, 4))
    p = g.points()
    assert p.shape == (24, 3)
    ax = g.axes
    # flat index r = (i * 3 + j) * 4 + k  (last axis fastest)
    for i in range(2):
        for j in range(3):
            for k in range(4):
                r = (i * 3 + j) * 4 + k
                torch.testing.assert_close(
                    p[r], torch.stack([ax[0][i], ax[1][j], ax[2][k]]), rtol=0, atol=0
                )
    # reshaping the points to (*shape, d) puts coordinate a along axis a
    pr = p.reshape(2, 3, 4, 3)
    torch.testing.assert_close(pr[:, 0, 0, 0], ax[0], rtol=0, atol=0)
    torch.testing.assert_close(pr[0, :, 0, 1], ax[1], rtol=0, atol=0)
    torch.testing.assert_close(pr[0, 0, :, 2], ax[2], rtol=0, atol=0)


def test_docstring_example():
    g = Grid((0.0, 0.0), (1.0, 2.0), (4, 8))
    assert g.spacing == (0.25, 0.25)
    assert g.cell_volume == 0.0625
    assert g.points().shape == (32, 2)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("pad", [0.0, 0.37])
def test_around_contains_points_square_cells(d, pad):
    gen = torch.Generator().manual_seed(10 + d)
    scale = torch.tensor([3.0, 1.0, 0.5][:d], dtype=torch.float64)
    pts = torch.randn(50, d, generator=gen, dtype=torch.float64) * scale + 2.0
    res = 40
    g = Grid.around(pts, resolution=res, pad=pad)
    assert g.dim == d
    lo_p = pts.min(0).values - pad
    hi_p = pts.max(0).values + pad
    h = g.spacing[0]
    tol = 1e-9 * h
    for a in range(d):
        # contains all points plus pad
        assert g.lo[a] <= float(lo_p[a]) + tol
        assert g.hi[a] >= float(hi_p[a]) - tol
        # and not much more: less than one extra cell in total per axis
        assert (g.hi[a] - g.lo[a]) - float(hi_p[a] - lo_p[a]) < h * (1 + 1e-9)
        # square cells
        assert g.spacing[a] == pytest.approx(h, rel=1e-12)
    # resolution cells along the longest side, which is axis 0 here
    widths = hi_p - lo_p
    longest = int(widths.argmax())
    assert longest == 0
    assert g.shape[longest] == res
    assert h == pytest.approx(float(widths.max()) / res, rel=1e-12)
    # box is centred on the padded bounding box
    for a in range(d):
        assert (g.lo[a] + g.hi[a]) / 2 == pytest.approx(float(lo_p[a] + hi_p[a]) / 2, abs=1e-12)


def test_around_longest_side_not_first_axis():
    pts = torch.tensor([[0.0, 0.0], [1.0, 4.0], [0.5, 2.0]], dtype=torch.float32)
    g = Grid.around(pts, resolution=16, pad=0.5)
    # padded box is 2 x 5: 5 / 16 per cell, 16 cells along y, ceil(2 / (5/16)) = 7 along x
    assert g.shape == (7, 16)
    assert g.spacing[0] == pytest.approx(5 / 16, rel=1e-12)
    assert g.spacing[1] == pytest.approx(5 / 16, rel=1e-12)
    assert g.lo[0] <= -0.5 and g.hi[0] >= 1.5
    assert g.lo[1] == pytest.approx(-0.5, abs=1e-12) and g.hi[1] == pytest.approx(4.5, abs=1e-12)


def test_around_batched_points_uses_all():
    pts = torch.zeros(3, 4, 2, dtype=torch.float64)
    pts[1, 2] = torch.tensor([2.0, -1.0])
    pts[2, 0] = torch.tensor([-1.0, 3.0])
    g = Grid.around(pts, resolution=8)
    assert g.lo[0] <= -1.0 + 1e-12 and g.hi[0] >= 2.0 - 1e-12
    assert g.lo[1] <= -1.0 + 1e-12 and g.hi[1] >= 3.0 - 1e-12
    assert g.shape[1] == 8


def test_around_single_point_gives_valid_grid():
    g = Grid.around(torch.tensor([[1.0, 2.0]]), resolution=4)
    assert all(low < h for low, h in zip(g.lo, g.hi))
    assert g.lo[0] <= 1.0 <= g.hi[0] and g.lo[1] <= 2.0 <= g.hi[1]


@pytest.mark.parametrize(
    "lo, hi, shape",
    [
        ((0.0,), (0.0,), (4,)),  # lo == hi
        ((1.0, 0.0), (0.0, 1.0), (4, 4)),  # lo > hi on one axis
        ((0.0, float("nan")), (1.0, 1.0), (4, 4)),  # NaN bound
        ((0.0,), (float("inf"),), (4,)),  # infinite bound
        ((0.0, 0.0), (1.0, 1.0), (4, 0)),  # shape with 0
        ((0.0,), (1.0,), (-3,)),  # negative shape
        ((0.0, 0.0), (1.0,), (4, 4)),  # mismatched lengths
        ((0.0, 0.0), (1.0, 1.0), (4,)),  # mismatched lengths
        ((), (), ()),  # no axes
        ((0.0, 0.0), (1.0, 1.0), (1 << 14, 1 << 14)),  # too many cells (2**28)
    ],
)
def test_bad_grid_raises(lo, hi, shape):
    with pytest.raises(InputError):
        Grid(lo, hi, shape)


def test_input_error_is_value_error():
    with pytest.raises(ValueError):
        Grid((1.0,), (0.0,), (2,))


def test_largest_allowed_grid_constructs_lazily():
    # 2**27 cells is the limit: construction must not allocate the points
    g = Grid((0.0, 0.0), (1.0, 1.0), (1 << 13, 1 << 14))
    assert g.shape == (8192, 16384)


@pytest.mark.parametrize(
    "pts, kw",
    [
        (torch.zeros(0, 2), {}),
        (torch.tensor([[0.0, float("nan")]]), {}),
        (torch.tensor([[0.0, float("inf")]]), {}),
        (torch.zeros(3, 2), {"resolution": 0}),
    ],
)
def test_around_bad_input_raises(pts, kw):
    with pytest.raises(InputError):
        Grid.around(pts, **kw)


def test_imshow_args_draw_the_field_right_way_up():
    """A bump at small x and large y must appear at the top left of the picture."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = Grid((0.0, 0.0), (2.0, 1.0), (80, 40))  # not square: a transposition would show
    p = grid.points()
    bump = torch.exp(-((p - torch.tensor([0.4, 0.8])) ** 2).sum(-1) / 0.005).reshape(grid.shape)
    fig, ax = plt.subplots(figsize=(4, 2), dpi=100)
    ax.imshow(**grid.imshow_args(bump), cmap="gray", vmin=0, vmax=float(bump.max()))
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    fig.canvas.draw()
    # (rows from the top, columns)
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., 0].astype(float)
    rows, cols = np.nonzero(pixels > 0.5 * pixels.max())
    row, col = rows.mean() + 0.5, cols.mean() + 0.5  # centre of the bright spot
    plt.close(fig)
    want_col, want_row = ax.transData.transform((0.4, 0.8))  # display pixels, y from the bottom
    assert abs(col - want_col) <= 3 and abs((pixels.shape[0] - row) - want_row) <= 3
    assert grid.imshow_args(bump)["X"].shape == (40, 80)
    with pytest.raises(InputError, match="2-D"):
        Grid((0.0,), (1.0,), (5,)).imshow_args(torch.zeros(5))
    with pytest.raises(InputError, match="shape"):
        grid.imshow_args(torch.zeros(40, 80))
