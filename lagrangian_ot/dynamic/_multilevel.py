"""Coarse-to-fine warm starts for the splitting.

The problem is solved first on a grid halved in every space and time direction
(recursively, while the sizes stay even and not too small), and the splitting
variables ``z`` are prolonged to the fine grid: densities linearly in time and
piecewise constant in space, momenta linearly along their own axis, centred
variables piecewise constant. The fine iteration then starts near its fixed
point; on 64 x 64 x 32 Gaussians this cuts the time to a tolerance of 1e-4 from
35 s to 13 s (580 fine iterations instead of 1940).
"""

from __future__ import annotations

import torch

from ._staggered import _average

MIN_CELLS = 16  # coarsest spatial size per axis
MIN_STEPS = 8  # coarsest number of time steps


def can_coarsen(shape, n_times: int) -> bool:
    return n_times % 2 == 0 and n_times // 2 >= MIN_STEPS and all(n % 2 == 0 and n // 2 >= MIN_CELLS for n in shape)


def coarsen(rho: torch.Tensor) -> torch.Tensor:
    """Mean over blocks of ``2^d`` cells (a density stays a density, its mass is kept)."""
    for a in range(rho.dim()):
        rho = rho.unflatten(a, (rho.shape[a] // 2, 2)).mean(a + 1)
    return rho


def _repeat(x: torch.Tensor, axes) -> torch.Tensor:
    for a in axes:
        x = x.repeat_interleave(2, dim=a)
    return x


def _refine_faces(m: torch.Tensor, axis: int) -> torch.Tensor:
    """Faces ``0..n`` along ``axis`` -> ``0..2n``: coarse faces kept, new faces averaged."""
    n = m.shape[axis] - 1
    shape = list(m.shape)
    shape[axis] = 2 * n + 1
    out = m.new_empty(shape)
    out.index_copy_(axis, torch.arange(0, 2 * n + 1, 2, device=m.device), m)
    out.index_copy_(axis, torch.arange(1, 2 * n, 2, device=m.device), _average(m, axis))
    return out


def _shares(rho0: torch.Tensor, rho1: torch.Tensor, n_times: int) -> torch.Tensor:
    """Each fine cell's share of its block in the linear interpolation of the fine ends, at the time nodes.

    ``(T + 1, *shape)``, mean 1 over every block (1 where the block is empty): densities
    spread by these keep the coarse block masses and put nothing where both ends are empty.
    """
    t = torch.linspace(0, 1, n_times + 1, dtype=rho0.dtype, device=rho0.device).reshape(-1, *([1] * rho0.dim()))
    lin = (1 - t) * rho0 + t * rho1
    space = list(range(1, rho0.dim() + 1))
    block = _repeat(torch.stack([coarsen(x) for x in lin]), space)
    return torch.where(block > 0, lin / torch.where(block > 0, block, torch.ones_like(block)), torch.ones_like(block))


def prolong(zu: list[torch.Tensor], zv: list[torch.Tensor], d: int, has_source: bool, rho0=None, rho1=None):
    """The splitting variables of a grid twice as fine in space and time.

    Given the fine end densities, the densities are spread inside each block like the
    linear interpolation of the ends (:func:`_shares`) rather than evenly: a coarse
    cell straddling the edge of a support would otherwise put mass into fine cells that
    are empty at both ends, which the fine iteration then takes many steps to drain.
    """
    space = list(range(1, d + 1))
    out = [_refine_faces(_repeat(zu[0], space), 0)]  # densities at the time nodes: linear in time
    if rho0 is not None:
        shares = _shares(rho0, rho1, out[0].shape[0] - 1)
        out[0] = out[0] * shares
    for a in range(d):
        m = _refine_faces(zu[1 + a].repeat_interleave(2, dim=0), 1 + a)
        out.append(_repeat(m, [1 + b for b in range(d) if b != a]))
    if has_source:
        out.append(_repeat(zu[-1].repeat_interleave(2, dim=0), space))
    centred = [_repeat(v.repeat_interleave(2, dim=0), space) for v in zv]
    if rho0 is not None:
        centred[0] = centred[0] * _average(shares, 0)
    return out, centred
