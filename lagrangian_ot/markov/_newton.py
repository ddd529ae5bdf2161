"""The primal barrier method: damped Newton steps on the action minus ``mu sum log p`` over the
interior nodes, on the affine set that keeps each component's mass (the package docstring)."""

from __future__ import annotations

import math

import torch

from ._action import _Action

_DENSE_LIMIT = 512  # reduced Newton systems up to this size are factored as one dense matrix


def _block_cholesky(diag: torch.Tensor, sub: torch.Tensor) -> tuple[list, list] | None:
    """Factor the SPD block-tridiagonal matrix; None if it is not positive definite."""
    chol, couple = [], []
    for i in range(diag.shape[0]):
        block = diag[i]
        if i > 0:
            c = torch.linalg.solve_triangular(chol[-1], sub[i - 1].T, upper=False).T  # B L^{-T}
            couple.append(c)
            block = block - c @ c.T
        factor, info = torch.linalg.cholesky_ex(block)
        if int(info) != 0:
            return None
        chol.append(factor)
    return chol, couple


def _block_solve(chol: list, couple: list, rhs: torch.Tensor) -> torch.Tensor:
    m = len(chol)
    y = []
    for i in range(m):
        b = rhs[i] if i == 0 else rhs[i] - couple[i - 1] @ y[-1]
        y.append(torch.linalg.solve_triangular(chol[i], b[:, None], upper=False)[:, 0])
    x = [None] * m
    for i in reversed(range(m)):
        b = y[i] if i == m - 1 else y[i] - couple[i].T @ x[i + 1]
        x[i] = torch.linalg.solve_triangular(chol[i].T, b[:, None], upper=True)[:, 0]
    return torch.stack(x)


def _references(inner: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """``(T - 1, n)``: at each interior node, the heaviest state of each state's component."""
    count = int(label.max()) + 1
    members = label[None, :] == torch.arange(count, device=label.device)[:, None]  # (C, n)
    heavy = torch.where(members, inner[:, None, :], -math.inf).argmax(2)  # (T - 1, C)
    return heavy[:, label]


def _tangent_basis(ref: torch.Tensor, count: int, dtype: torch.dtype) -> torch.Tensor:
    """``(T - 1, n, n - count)``: at each interior node, a basis of the moves that keep the mass of
    each of the ``count`` components, ``e_x - e_ref(x)`` for the states that are not references
    (eliminating the heaviest state keeps the light, stiff ones well scaled)."""
    steps, n = ref.shape
    eye = torch.eye(n, dtype=dtype, device=ref.device)
    full = eye - torch.nn.functional.one_hot(ref, n).to(dtype).transpose(1, 2)
    is_ref = ref == torch.arange(n, device=ref.device)
    keep = torch.argsort(is_ref.to(torch.int8), dim=1, stable=True)[:, : n - count]
    return torch.gather(full, 2, keep[:, None, :].expand(steps, n, n - count))


def _newton_direction(gradient, diag, sub, basis) -> torch.Tensor:
    """The Newton step ``(T - 1, n)`` in the span of ``basis`` (the reduced Hessian is block
    tridiagonal: factored whole up to :data:`_DENSE_LIMIT` unknowns, by blocks beyond)."""
    zt = basis.transpose(1, 2)
    r_diag = zt @ diag @ basis
    r_sub = zt[1:] @ sub @ basis[:-1]
    rhs = -(zt @ gradient[:, :, None])[:, :, 0]
    if r_diag.shape[1] == 0:
        return torch.zeros_like(gradient)
    if r_diag.shape[0] * r_diag.shape[1] <= _DENSE_LIMIT:
        solve = _dense_solver(r_diag, r_sub)
    else:
        solve = _block_solver(r_diag, r_sub)
    return (basis @ solve(rhs)[:, :, None])[:, :, 0]


def _damped(factor, matrix: torch.Tensor):
    """Factor ``matrix + mu diag(matrix)`` (one matrix or a batch of blocks) with the smallest
    ``mu`` in ``0, 1e-10, 1e-9, ...`` that works (Levenberg-Marquardt damping, only needed if
    rounding makes ``matrix`` indefinite)."""
    result = factor(matrix)
    mu = 1e-10
    while result is None:
        if mu > 1e6:  # pragma: no cover - the action is convex; this is a safeguard
            raise RuntimeError("markov_distance: the Newton system is not positive definite")
        result = factor(matrix + torch.diag_embed(mu * matrix.diagonal(dim1=-2, dim2=-1).abs()))
        mu *= 10.0
    return result


def _cholesky(matrix: torch.Tensor) -> torch.Tensor | None:
    factor, info = torch.linalg.cholesky_ex(matrix)
    return None if int(info) != 0 else factor


def _dense_solver(diag: torch.Tensor, sub: torch.Tensor):
    """Assemble the block-tridiagonal matrix and factor it at once (few, large LAPACK calls)."""
    steps, m, _ = diag.shape
    big = diag.new_zeros(steps, m, steps, m)
    k = torch.arange(steps, device=diag.device)
    big[k, :, k, :] = diag
    big[k[1:], :, k[:-1], :] = sub
    big[k[:-1], :, k[1:], :] = sub.transpose(1, 2)
    big = big.reshape(steps * m, steps * m)
    factor = _damped(_cholesky, big)

    def solve(rhs: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(rhs.reshape(-1, 1), factor).reshape(steps, m)

    return solve


def _block_solver(diag: torch.Tensor, sub: torch.Tensor):
    """Block Cholesky, ``O(T m^3)``, for systems too large to assemble."""
    factors = _damped(lambda d: _block_cholesky(d, sub), diag)
    return lambda rhs: _block_solve(*factors, rhs)


def _max_step(inner: torch.Tensor, step: torch.Tensor) -> float:
    """The largest ``s <= 1`` keeping ``inner + s step`` at least 1/100 of ``inner`` (so
    positive)."""
    shrinking = step < 0
    if not bool(shrinking.any()):
        return 1.0
    return min(1.0, float((-0.99 * inner[shrinking] / step[shrinking]).min()))


class _Barrier:
    """``A(p) - mu sum log p`` over the interior nodes, and its Newton steps."""

    def __init__(self, action: _Action, components: int):
        self.action, self.components = action, components

    def value(self, path: torch.Tensor, mu: float) -> float:
        return self.action.value(path) - mu * float(torch.log(path[1:-1]).sum())

    def step(
        self, path: torch.Tensor, derivatives, mu: float, ref: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """The Newton step and ``lambda^2 / 2`` (half the squared Newton decrement)."""
        gradient, diag, sub = derivatives
        inner = path[1:-1]
        gradient = gradient - mu / inner
        diag = diag + torch.diag_embed(mu / inner**2)
        basis = _tangent_basis(ref, self.components, inner.dtype)
        step = _newton_direction(gradient, diag, sub, basis)
        return step, max(-0.5 * float((gradient * step).sum()), 0.0)


def _newton(
    action: _Action, path: torch.Tensor, label: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, int, float]:
    """Minimise the action over the interior nodes of ``path`` by a barrier method: damped Newton
    steps on ``A(p) - mu sum_{k, x} log p_k(x)``, ``mu`` divided by 10 whenever the Newton decrement
    is below the barrier's own gap bound, until the bound on ``A(p) - min A``, ``N mu +
    lambda^2 / 2`` (``N`` positivity constraints), is at most ``tol A(p)``."""
    barrier = _Barrier(action, int(label.max()) + 1)
    count = path[1:-1].numel()
    value = action.value(path)
    mu = 0.1 * value / count
    residual = math.inf
    for it in range(max_iter + 1):
        derivatives = action.derivatives(path)
        ref = _references(path[1:-1], label)
        while True:
            step, half_decrement = barrier.step(path, derivatives, mu, ref)
            residual = (count * mu + half_decrement) / value
            floor = 0.5 * tol * value / count
            if residual <= tol or it == max_iter:
                return path, it, residual
            if half_decrement > 0.5 * count * mu or mu <= floor:
                break
            mu = max(0.1 * mu, floor)
        current = barrier.value(path, mu)
        s = _max_step(path[1:-1], step)
        while True:
            trial = torch.cat([path[:1], path[1:-1] + s * step, path[-1:]])
            new = barrier.value(trial, mu)
            if math.isfinite(new) and new <= current - 2e-4 * s * half_decrement:
                break
            s *= 0.5
            if s < 1e-12:  # pragma: no cover - no decrease above rounding: as good as it gets
                return path, it, residual
        path, value = trial, action.value(trial)
    return path, max_iter, residual  # pragma: no cover - the loop returns
