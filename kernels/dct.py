"""Discrete cosine transforms built on torch FFT, and the Neumann Poisson solve they give.

torch has no DCT; the type-II transform and its inverse are computed here with
one complex FFT of the input's length (Makhoul's even/odd reordering), on any
device and in float32 or float64.

The cell-centred Neumann Laplacian (second differences with mirrored ghost
cells, which is ``A A^T`` for the difference operator ``A`` of a staggered
grid with zero boundary flux) is diagonal in the DCT-II basis: along an axis of
``n`` cells of step ``h`` its eigenvalues are ``(2 sin(pi k / 2n) / h)^2``.
:func:`neumann_solve` uses this to solve ``(-Laplace + c) u = f`` on a tensor
grid with ``O(N log N)`` work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def _twiddle(n: int, dtype, device, sign: float) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64, device=device)
    return torch.polar(torch.ones_like(k), sign * math.pi * k / (2 * n)).to(_complex(dtype))


def _complex(dtype) -> torch.dtype:
    return torch.complex64 if dtype == torch.float32 else torch.complex128


def dct2(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Unnormalised DCT-II along ``dim``: ``X_k = sum_j x_j cos(pi k (2j + 1) / 2n)``.

    Examples
    --------
    >>> import torch
    >>> dct2(torch.tensor([1.0, 1.0, 1.0])).round(decimals=5).tolist()
    [3.0, 0.0, 0.0]
    """
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    spec = torch.fft.fft(v, dim=-1) * _twiddle(n, x.dtype, x.device, -1.0)
    return spec.real.movedim(-1, dim)


def idct2(y: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Inverse of :func:`dct2` along ``dim`` (a scaled DCT-III).

    Examples
    --------
    >>> import torch
    >>> x = torch.tensor([0.5, -1.0, 2.0, 4.0], dtype=torch.float64)
    >>> torch.allclose(idct2(dct2(x)), x)
    True
    """
    y = y.movedim(dim, -1)
    n = y.shape[-1]
    # V_k = e^{i pi k / 2n} (Y_k - i Y_{n-k}), Y_n = 0; then x is the unshuffled real ifft.
    flipped = torch.cat([torch.zeros_like(y[..., :1]), y[..., 1:].flip(-1)], dim=-1)
    spec = torch.complex(y, -flipped) * _twiddle(n, y.dtype, y.device, 1.0)
    v = torch.fft.ifft(spec, dim=-1).real
    x = torch.empty_like(v)
    half = (n + 1) // 2
    x[..., ::2] = v[..., :half]
    x[..., 1::2] = v[..., half:].flip(-1)
    return x.movedim(-1, dim)


def laplace_eigenvalues(
    shape: Sequence[int], spacing: Sequence[float], *, dtype=torch.float64, device=None
) -> torch.Tensor:
    """Eigenvalues of the cell-centred Neumann ``-Laplace`` on a tensor grid, in DCT-II order.

    Returns a tensor of ``shape``: ``sum_a (2 sin(pi k_a / 2 n_a) / h_a)^2``.
    """
    total = torch.zeros((), dtype=torch.float64, device=device)
    for a, (n, h) in enumerate(zip(shape, spacing)):
        k = torch.arange(n, dtype=torch.float64, device=device)
        lam = (2.0 * torch.sin(math.pi * k / (2 * n)) / h) ** 2
        view = [1] * len(shape)
        view[a] = n
        total = total + lam.reshape(view)
    return total.to(dtype)


MATMUL_MAX = 256  # axes up to this length are transformed by a dense cosine matrix

_MATRICES: dict = {}


def _matrix(n: int, inverse: bool, dtype, device) -> torch.Tensor:
    key = (n, inverse, dtype, str(device))
    if key not in _MATRICES:
        if len(_MATRICES) > 64:
            _MATRICES.clear()
        k = torch.arange(n, dtype=torch.float64)[:, None]
        j = torch.arange(n, dtype=torch.float64)[None, :]
        c = torch.cos(math.pi * k * (2 * j + 1) / (2 * n))  # c[k, j]
        if inverse:
            c = c.T * torch.where(k.T == 0, 1.0, 2.0) / n  # x_j = (Y_0 + 2 sum_k Y_k c[k, j]) / n
        _MATRICES[key] = c.to(dtype=dtype, device=device)
    return _MATRICES[key]


def along_axis(x: torch.Tensor, dim: int, matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` applied to every line of ``x`` along ``dim``, as one matrix product without
    copies."""
    dim = dim % x.dim()
    n = x.shape[dim]
    if dim == x.dim() - 1:
        return x @ matrix.T
    lead = math.prod(x.shape[:dim])
    out = torch.matmul(matrix, x.reshape(lead, n, -1))  # batched over the leading axes
    return out.reshape(*x.shape[:dim], matrix.shape[0], *x.shape[dim + 1 :])


def _transform(x: torch.Tensor, dims: Sequence[int], inverse: bool) -> torch.Tensor:
    for d in dims:
        n = x.shape[d]
        if n <= MATMUL_MAX:
            # short axes: one matrix product beats the FFT's reorderings and complex passes
            x = along_axis(x, d, _matrix(n, inverse, x.dtype, x.device))
        else:
            x = idct2(x, d) if inverse else dct2(x, d)
    return x


def dctn(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """:func:`dct2` along each of ``dims`` (short axes by a dense cosine matrix)."""
    return _transform(x, dims, False)


def idctn(x: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """:func:`idct2` along each of ``dims``."""
    return _transform(x, dims, True)


def neumann_solve(
    f: torch.Tensor, eigenvalues: torch.Tensor, shift: float = 0.0, batch: int = 0
) -> torch.Tensor:
    """Solve ``(-Laplace + shift) u = f`` with zero-flux boundaries.

    The first ``batch`` axes of ``f`` index independent problems; ``eigenvalues``
    comes from :func:`laplace_eigenvalues` for the remaining axes. With
    ``shift = 0`` the constant mode of each problem is dropped: the result is the
    zero-mean least-squares solution (exact when ``f`` has zero mean).

    Examples
    --------
    >>> import torch
    >>> lam = laplace_eigenvalues((4,), (1.0,))
    >>> f = torch.tensor([1.0, 0.0, 0.0, -1.0], dtype=torch.float64)
    >>> u = neumann_solve(f, lam)
    >>> lap = torch.tensor([[1., -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 1]],
    ...                    dtype=torch.float64)
    >>> torch.allclose(lap @ u, f)
    True
    """
    dims = list(range(batch, f.dim()))
    spec = dctn(f, dims)
    denom = eigenvalues + shift  # a new tensor
    if shift == 0.0:
        denom.reshape(-1)[0] = 1.0
        spec[(Ellipsis,) + (0,) * len(dims)] = 0.0
    return idctn(spec / denom, dims)
