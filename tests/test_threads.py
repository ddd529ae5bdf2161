"""The thread policy (kernels/threads.py) and the native kernels' split over threads."""

import numpy as np
import pytest
import torch

from lagrangian_ot import match
from lagrangian_ot.kernels import threads
from lagrangian_ot.kernels.threads import fit_threads, limit_threads, threads_for


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_for_small_work_the_pool_for_large(two_threads):
    cap = min(2, threads.available_cpus())
    assert threads_for(0) == 1
    assert threads_for(64 * 64 * 33) == 1  # lagot bb's default grid
    assert threads_for(2 * threads.GRAIN - 1) == 1
    assert threads_for(10**9) == cap
    torch.set_num_threads(1)
    assert threads_for(10**9) == 1  # the user's setting is an upper bound


def test_limit_threads_restores_and_never_raises(two_threads):
    with limit_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        with limit_threads(8) as inner:  # never above what is in force
            assert inner == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(ZeroDivisionError):
        with limit_threads(1):
            _ = 1 / 0
    assert torch.get_num_threads() == 2  # restored after an error too


def test_native_kernels_keep_their_threads_when_asked(two_threads):
    """``limit_threads(n, native=True)``: torch's small operations get ``n`` threads, the
    native kernels keep the count in force before (restored after, nested alike)."""
    cap = min(2, threads.available_cpus())
    with limit_threads(1, native=True):
        assert torch.get_num_threads() == 1 and threads.native_threads() == cap
        with limit_threads(1):  # an inner limit without native=True leaves the kept count
            assert threads.native_threads() == cap
    with limit_threads(1):
        assert threads.native_threads() == 1  # without native=True the kernels follow torch
    assert threads.native_threads() == cap and torch.get_num_threads() == 2


def test_fit_threads_sizes_by_the_work_and_leaves_gpu_work_alone(two_threads):
    @fit_threads(lambda x, steps: x.numel() * steps)
    def seen(x, steps):
        return torch.get_num_threads()

    @fit_threads()
    def seen_default(x):
        return torch.get_num_threads()

    assert seen(torch.zeros(64, 64), 32) == 1
    assert seen(torch.zeros(1024, 1024), 32) == min(2, threads.available_cpus())
    assert seen_default(torch.zeros(100)) == 1
    assert seen("not a tensor", 3) == 2  # bad arguments: the function itself reports them
    assert torch.get_num_threads() == 2
    if torch.cuda.is_available():
        assert seen(torch.zeros(4, device="cuda"), 1) == 2


def test_native_split_over_threads_gives_the_same_plan(two_threads):
    """More spans than threads (a thread slowed by a busy core takes fewer): same exact plan."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2500, 2, generator=g, dtype=torch.float64)
    y = torch.rand(2500, 2, generator=g, dtype=torch.float64) + 0.3
    with limit_threads(1):
        one = match(x, y, method="exact")
    threads.GRAIN, grain = 1, threads.GRAIN  # the pool even for this size
    try:
        two = match(x, y, method="exact")
    finally:
        threads.GRAIN = grain
    assert torch.equal(one.dst, two.dst)
    assert float(one.cost) == pytest.approx(float(two.cost), rel=1e-14)


def test_native_batched_assignment_split_matches_one_thread(two_threads):
    from lagrangian_ot.kernels.native import assign_costs

    rng = np.random.default_rng(0)
    costs = rng.random((9, 30, 30))
    many = assign_costs(costs)[0]
    with limit_threads(1):
        single = assign_costs(costs)[0]
    assert np.array_equal(many, single)
    # each row is an optimal assignment: compare with SciPy
    from scipy.optimize import linear_sum_assignment

    for b in range(9):
        assert costs[b, np.arange(30), many[b]].sum() == pytest.approx(
            costs[b][linear_sum_assignment(costs[b])].sum()
        )


def test_a_solver_warning_points_at_the_callers_line():
    """The wrapper stands between a solver and its caller: its warnings still name the caller's
    line."""
    import warnings

    @fit_threads()
    def solver(x):
        warnings.warn("did not converge", RuntimeWarning, stacklevel=2)
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        solver(torch.zeros(3)); line = __import__("inspect").currentframe().f_lineno  # noqa: E702
    assert len(caught) == 1 and caught[0].filename == __file__ and caught[0].lineno == line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="did not converge"):
            solver(torch.zeros(3))
