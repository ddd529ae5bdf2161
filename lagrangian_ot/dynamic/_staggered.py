"""The staggered space-time grid of the proximal dynamic solvers (Papadakis-Peyre-Oudet).

Time is cut into ``T`` steps of ``dt = 1 / T``; space is the ``Grid``'s cells.

- Staggered variables ``U``: the density ``rho`` at the ``T + 1`` time nodes and
  the cell centres, ``(T + 1, *shape)``; each momentum component ``m_a`` at the
  mid-times and on the faces normal to axis ``a``, ``(T, ..., n_a + 1, ...)``;
  for unbalanced problems a source ``s`` at the mid-times and cell centres.
- Centred variables ``V``: the same quantities averaged to the ``(T, *shape)``
  space-time cell centres, where the action is evaluated cell by cell. With a source, ``V``
  also carries the densities at the start and at the end of the first and last
  ``FR_STEPS`` steps (copies of the nodes, not averaged): there the source's action uses
  their mean ``((sqrt a + sqrt b) / 2)^2``, exact where mass grows from or fades to
  nothing (``sqrt(rho)`` affine in time), whereas the average ``(a + b) / 2`` is twice
  the midpoint density in the first step of ``rho ~ t^2`` and makes growth from nothing
  about ``1 / T`` too cheap. Inside the path the average stays: where a narrow bump
  crosses a cell within a step or two, the mean of ``sqrt`` undercounts the density the
  source acts on. In those end steps the splitting measures the source's part of ``V``
  (its value and the copies) with weight ``SOURCE_METRIC``, so its prox takes a step
  ``1 / SOURCE_METRIC`` times larger than the transport's.

The continuity (balance) constraint ``d_t rho + div m = s`` is imposed on
``U`` at the space-time cell centres; the end densities and zero flux through
the walls are part of it. Its projection needs one Poisson solve with Neumann
conditions on the ``(T, *shape)`` grid (``-Laplace + c`` when a source is
present), diagonalised by the DCT. The coupling ``V = I(U)`` is a projection on
the graph of the averaging operator, a small linear solve along each axis.
Every variable is stored in units where the box's longest side is 1.
"""

from __future__ import annotations

import functools
import math

import torch

from ..kernels.dct import along_axis, laplace_eigenvalues, neumann_solve


def _along(x: torch.Tensor, axis: int, matrix: torch.Tensor) -> torch.Tensor:
    """Apply ``matrix`` to every line of ``x`` along ``axis``."""
    return along_axis(x.contiguous(), axis, matrix)


def _average(x: torch.Tensor, axis: int) -> torch.Tensor:
    n = x.shape[axis]
    return 0.5 * (x.narrow(axis, 0, n - 1) + x.narrow(axis, 1, n - 1))


# Cell-centred values and face values on a batch ``(B, *shape)``: axis ``a`` of the grid is
# tensor dim ``1 + a``; a face array along axis ``a`` has ``n_a + 1`` entries with the two
# wall faces, ``n_a - 1`` without them.


def grad(u: torch.Tensor, spacing) -> list[torch.Tensor]:
    """Differences of cell values ``u (B, *shape)`` on the interior faces, one array per axis."""
    return [torch.diff(u, dim=1 + a) / h for a, h in enumerate(spacing)]


def with_walls(f: torch.Tensor, axis: int) -> torch.Tensor:
    """Pad interior face values with the two zero wall faces along ``axis``."""
    pad = [0, 0] * (f.dim() - 1 - axis) + [1, 1]
    return torch.nn.functional.pad(f, pad)


def div(flux: list[torch.Tensor], spacing, *, walls: bool = True) -> torch.Tensor:
    """``div m`` at the cell centres from face fluxes that include the walls (``walls=False``:
    interior faces only, the walls carrying no flux). It is the adjoint of ``-grad``."""
    if not walls:
        flux = [with_walls(f, 1 + a) for a, f in enumerate(flux)]
    return sum(torch.diff(f, dim=1 + a) / h for a, (f, h) in enumerate(zip(flux, spacing)))


def centre_mean(f: torch.Tensor, axis: int) -> torch.Tensor:
    """Mean of the two faces of every cell from interior face values (walls count as zero)."""
    return _average(with_walls(f, axis), axis)


def _average_adjoint(v: torch.Tensor, axis: int) -> torch.Tensor:
    shape = list(v.shape)
    shape[axis] += 1
    out = v.new_zeros(shape)
    n = v.shape[axis]
    out.narrow(axis, 0, n).add_(v, alpha=0.5)
    out.narrow(axis, 1, n).add_(v, alpha=0.5)
    return out


FR_STEPS = 2  # steps at each end where the source sees the mean of sqrt (see above)
SOURCE_METRIC = 0.25  # weight of V's source part in those steps in the splitting's metric


def end_steps(n_times: int) -> torch.Tensor:
    """Which of ``n_times`` steps are within ``FR_STEPS`` of an end (bool, ``(T,)``)."""
    k = torch.arange(n_times)
    return (k < FR_STEPS) | (k >= n_times - FR_STEPS)


@functools.lru_cache(maxsize=16)
def near_steps(n_times: int, device: str = "cpu") -> torch.Tensor:
    """The indices of the steps near the ends (:func:`end_steps`), cached per device: the
    rows of the source's copies of the densities."""
    return torch.nonzero(end_steps(n_times)).flatten().to(device)


THOMAS_MIN_CELLS = (
    1 << 20
)  # arrays at least this large solve the graph systems by recursion, not a dense matrix


def _graph_factors(n: int, extra=None) -> tuple[list[float], list[float]]:
    """Elimination factors of the tridiagonal ``Id + I^T I + diag(extra)`` (``n + 1`` nodes):
    multipliers and inverse pivots.

    Its diagonal is ``5/4`` at the ends and ``3/2`` inside, plus ``extra`` (the weighted
    copies of the nodes, :func:`_copy_weights`), its off-diagonal ``1/4``.
    """
    extra = [0.0] * (n + 1) if extra is None else extra
    mult, inv = [0.0], [1 / (1.25 + extra[0])]
    for i in range(1, n + 1):
        mult.append(0.25 * inv[-1])
        inv.append(1 / ((1.25 if i == n else 1.5) + extra[i] - 0.25 * mult[-1]))
    return mult, inv


def _copy_weights(weights: torch.Tensor) -> list[float]:
    """The diagonal of ``C^T W C`` for the copies ``C`` of the nodes to the start and the end
    of each step, weighted per step by ``weights (T,)``."""
    w = weights.double()
    out = torch.zeros(len(w) + 1, dtype=torch.float64)
    out[:-1] += w
    out[1:] += w
    return out.tolist()


def _graph_solve(x: torch.Tensor, axis: int, factors) -> torch.Tensor:
    """``(Id + I^T I + diag(extra))^{-1}`` along ``axis`` by the tridiagonal (Thomas) recursion
    (``factors`` from :func:`_graph_factors`): O(1) work per value.

    The recursion runs over the leading axis of a contiguous copy (the input is left
    alone), so every step is one whole-slice operation.
    """
    mult, inv = factors
    x = x.movedim(axis, 0).clone(memory_format=torch.contiguous_format)
    prev = x[0]
    for i in range(1, x.shape[0]):
        prev = x[i].sub_(prev, alpha=mult[i])
    nxt = x[-1].mul_(inv[-1])
    for i in range(x.shape[0] - 2, -1, -1):
        nxt = x[i].sub_(nxt, alpha=0.25).mul_(inv[i])
    return x.movedim(0, axis)


def _graph_matrix(n: int, dtype, device, extra=None) -> torch.Tensor:
    """``(Id + I^T I + diag(extra))^{-1}`` for the averaging ``I`` of ``n + 1`` nodes to ``n``
    midpoints (``extra`` as in :func:`_graph_factors`)."""
    avg = torch.zeros(n, n + 1, dtype=torch.float64)
    idx = torch.arange(n)
    avg[idx, idx] = 0.5
    avg[idx, idx + 1] = 0.5
    mat = torch.eye(n + 1, dtype=torch.float64) + avg.T @ avg
    if extra is not None:
        mat += torch.diag(torch.tensor(extra, dtype=torch.float64))
    return torch.linalg.inv(mat).to(dtype=dtype, device=device)


class SpaceTime:
    """Operators of the staggered grid for ``shape`` cells of size ``spacing`` and ``n_times``
    steps.

    ``source_weight`` ``c``: when given, ``U`` and ``V`` carry a last component
    ``s~ = s / sqrt(c)`` and the constraint reads ``d_t rho + div m = sqrt(c) s~``,
    so that ``|m|^2 / rho + s~^2 / rho`` is the unbalanced action density for
    ``c = 1 / kappa^2``. ``V`` then ends with the start and end densities of the steps near
    the ends, ``V = (rho_mid, m_1..m_d, s~, rho_start, rho_end)`` (see the module's notes),
    the last two ``(E, *shape)`` for the ``E`` steps ``near``; the first ``n_centred`` parts
    are ``(T, *shape)``.
    """

    def __init__(self, shape, spacing, n_times: int, *, source_weight: float | None, dtype, device):
        self.shape = tuple(shape)
        self.spacing = tuple(float(h) for h in spacing)
        self.d = len(self.shape)
        self.T = int(n_times)
        self.dt = 1.0 / self.T
        self.c = source_weight
        self.dtype, self.device = dtype, device
        self.lam = laplace_eigenvalues(
            (self.T, *self.shape), (self.dt, *self.spacing), dtype=dtype, device=device
        )
        self._mats, self._factors = {}, {}
        for n in {self.T, *self.shape}:
            self._mats[n] = _graph_matrix(n, dtype, device)
            self._factors[n] = _graph_factors(n)
        self.n_centred = 1 + self.d + (source_weight is not None)
        if source_weight is not None:  # the copies near the ends, weighted SOURCE_METRIC
            ends = end_steps(self.T)
            self.near = near_steps(self.T, str(device))
            shape = (self.T, *[1] * self.d)
            self.source_metric = torch.where(ends, SOURCE_METRIC, 1.0).to(dtype)
            self.source_metric = self.source_metric.to(device).reshape(shape)
            extra = _copy_weights(SOURCE_METRIC * ends)
            self._mats["time"] = _graph_matrix(self.T, dtype, device, extra)
            self._factors["time"] = _graph_factors(self.T, extra)

    # -- layout -----------------------------------------------------------------
    def staggered_zeros(self) -> list[torch.Tensor]:
        parts = [torch.zeros((self.T + 1, *self.shape), dtype=self.dtype, device=self.device)]
        for a in range(self.d):
            s = list(self.shape)
            s[a] += 1
            parts.append(torch.zeros((self.T, *s), dtype=self.dtype, device=self.device))
        if self.c is not None:
            parts.append(torch.zeros((self.T, *self.shape), dtype=self.dtype, device=self.device))
        return parts

    def centred_weights(self) -> list:
        """The weight of each part of ``V`` in the splitting's metric (numbers or ``(T, 1..)``
        tensors): 1 but for the source's part in the steps near the ends."""
        ones = [1.0] * (1 + self.d)
        if self.c is None:
            return ones
        return [*ones, self.source_metric, SOURCE_METRIC, SOURCE_METRIC]

    # -- averaging --------------------------------------------------------------
    def interp(self, u: list[torch.Tensor]) -> list[torch.Tensor]:
        """Centred values ``I(U)``."""
        out = [_average(u[0], 0)]
        out += [_average(u[1 + a], 1 + a) for a in range(self.d)]
        if self.c is not None:  # copies: callers update U and V in place
            start, end = (u[0].index_select(0, k) for k in (self.near, self.near + 1))
            out += [u[-1].clone(), start, end]
        return out

    def _solve_graph(self, x: torch.Tensor, axis: int, key) -> torch.Tensor:
        if x.numel() >= THOMAS_MIN_CELLS:
            return _graph_solve(x, axis, self._factors[key])
        return _along(x, axis, self._mats[key])  # small arrays: one matrix product is faster

    def project_graph(self, u: list[torch.Tensor], v: list[torch.Tensor]):
        """The nearest pair ``(U, I(U))`` to ``(u, v)`` (Euclidean, but for the weight
        ``SOURCE_METRIC`` on ``V``'s source part)."""
        rho = u[0] + _average_adjoint(v[0], 0)
        if self.c is not None:  # the copies' adjoint
            rho.index_add_(0, self.near, v[-2], alpha=SOURCE_METRIC)
            rho.index_add_(0, self.near + 1, v[-1], alpha=SOURCE_METRIC)
        new_u = [self._solve_graph(rho, 0, self.T if self.c is None else "time")]
        for a in range(self.d):
            ax = 1 + a
            new_u.append(self._solve_graph(u[ax] + _average_adjoint(v[ax], ax), ax, self.shape[a]))
        if self.c is not None:
            w = self.source_metric
            new_u.append((u[-1] + w * v[1 + self.d]) / (1 + w))
        return new_u, self.interp(new_u)

    # -- continuity -------------------------------------------------------------
    def relative_divergence(self, u: list[torch.Tensor]) -> float:
        """``|div U|`` over the sum of the norms of the terms that cancel in it.

        The scale has a floor of ``sqrt(eps) |rho| / dt``, so that a path that does not move
        is not judged by the round-off in its vanishing terms.
        """
        terms = [torch.diff(u[0], dim=0) / self.dt]
        terms += [torch.diff(u[1 + a], dim=1 + a) / self.spacing[a] for a in range(self.d)]
        if self.c is not None:
            terms.append(math.sqrt(self.c) * u[-1])
        size = sum(float(t.norm()) for t in terms)
        size = max(size, torch.finfo(self.dtype).eps ** 0.5 * float(u[0].norm()) / self.dt)
        total = terms[0] + sum(terms[1 : 1 + self.d]) - (terms[-1] if self.c is not None else 0)
        return float(total.norm()) / max(size, 1e-300)

    def divergence(self, u: list[torch.Tensor]) -> torch.Tensor:
        """``d_t rho + div m - sqrt(c) s~`` at the space-time cell centres."""
        r = torch.diff(u[0], dim=0) / self.dt + div(u[1 : 1 + self.d], self.spacing)
        if self.c is not None:
            r = r - math.sqrt(self.c) * u[-1]
        return r

    def project_continuity(self, u: list[torch.Tensor], rho0: torch.Tensor, rho1: torch.Tensor):
        """Nearest ``U`` with the end densities, no flux through the walls and zero divergence.

        Returns the projection and the multiplier ``p`` with ``u - U = A^T p``.
        """
        u = [x.clone() for x in u]
        u[0][0] = rho0
        u[0][-1] = rho1
        for a in range(self.d):
            ax = 1 + a
            u[ax].select(ax, 0).zero_()
            u[ax].select(ax, self.shape[a]).zero_()
        p = neumann_solve(self.divergence(u), self.lam, 0.0 if self.c is None else self.c)
        dp = torch.diff(p, dim=0) / self.dt  # p[k+1] - p[k] at interior time nodes
        u[0][1:-1] += dp
        for a, dp_a in enumerate(grad(p, self.spacing)):
            u[1 + a].narrow(1 + a, 1, self.shape[a] - 1).add_(dp_a)
        if self.c is not None:
            u[-1] += math.sqrt(self.c) * p
        return u, p
