"""OT in training code: minibatch pairs and a differentiable W2^2."""

import os
import socket
import subprocess
import sys

import numpy as np
import ot
import pytest
import torch

from lagrangian_ot import InputError, OTPairs, ot_pairs, w2_loss

F64 = torch.float64


def emd(a, b):
    n = a.shape[0]
    C = ot.dist(a.reshape(n, -1).double().numpy(), b.reshape(n, -1).double().numpy())
    return float(ot.emd2(np.full(n, 1 / n), np.full(n, 1 / n), C))


@pytest.mark.parametrize("shape", [(64, 2), (48, 3, 4, 4), (32, 70)])
def test_exact_pairs_are_optimal_permutations(shape):
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g) + 1.0
    a, b = ot_pairs(x0, x1)
    assert a is x0 and b.shape == x1.shape and b.dtype == x1.dtype
    n = shape[0]
    rows0 = {tuple(r) for r in x1.reshape(n, -1).tolist()}
    assert {tuple(r) for r in b.reshape(n, -1).tolist()} == rows0  # a permutation of x1
    cost = float(((a - b) ** 2).reshape(n, -1).sum(1).mean())
    assert cost == pytest.approx(emd(x0, x1), rel=1e-6)
    # better than the given order
    assert cost < float(((x0 - x1) ** 2).reshape(n, -1).sum(1).mean())


def test_pairs_batched_over_leading_dimensions():
    g = torch.Generator().manual_seed(1)
    x0, x1 = torch.randn(3, 40, 2, generator=g), torch.randn(3, 40, 2, generator=g)
    _, b = ot_pairs(x0, x1, dim=1)
    for i in range(3):
        assert torch.equal(b[i], ot_pairs(x0[i], x1[i])[1])


def test_pairs_carry_gradients_through_values_only():
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(16, 2, generator=g, requires_grad=True)
    x1 = torch.randn(16, 2, generator=g, requires_grad=True)
    a, b = ot_pairs(x0, x1)
    ((a - b) ** 2).sum().backward()
    assert x0.grad is not None and x1.grad is not None
    torch.testing.assert_close(x0.grad, 2 * (x0 - b).detach())


def test_sinkhorn_pairs_are_seeded():
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(32, 2, generator=g), torch.randn(32, 2, generator=g)
    first = ot_pairs(x0, x1, method="sinkhorn", seed=5, blur=0.5)[1]
    assert torch.equal(first, ot_pairs(x0, x1, method="sinkhorn", seed=5, blur=0.5)[1])
    assert not torch.equal(first, ot_pairs(x0, x1, method="sinkhorn", seed=6, blur=0.5)[1])
    exact = ot_pairs(x0, x1)[1]
    small = ot_pairs(x0, x1, method="sinkhorn", seed=5, blur=0.01)[1]
    assert torch.equal(small, exact)  # at a small blur the entropic plan is the permutation


def test_class_form_and_collate():
    pair = OTPairs()
    batch = [(torch.randn(2), torch.randn(2) + 3) for _ in range(10)]
    a, b = pair.collate(batch)
    assert a.shape == (10, 2) and b.shape == (10, 2)
    assert float(((a - b) ** 2).sum(1).mean()) == pytest.approx(
        emd(a, torch.stack([t[1] for t in batch])), rel=1e-6
    )


def test_pairs_bad_input():
    with pytest.raises(InputError, match="same shape"):
        ot_pairs(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(InputError, match="NaN"):
        ot_pairs(torch.full((3, 2), float("nan")), torch.zeros(3, 2))
    with pytest.raises(InputError, match="method"):
        ot_pairs(torch.zeros(3, 2), torch.zeros(3, 2), method="greedy")
    with pytest.raises(InputError, match="floating"):
        ot_pairs(torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))


def test_w2_loss_gradcheck_in_the_points():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(12, 2, generator=g, dtype=F64, requires_grad=True)
    y = torch.randn(9, 2, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: w2_loss(x, y), (x, y), eps=1e-6, atol=1e-7)


def test_w2_loss_gradient_in_the_weights_is_the_potential():
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(10, 2, generator=g, dtype=F64), torch.randn(10, 2, generator=g, dtype=F64)
    a = (torch.rand(10, generator=g, dtype=F64) + 0.5).requires_grad_(True)
    b = torch.rand(10, generator=g, dtype=F64) + 0.5
    b = b * a.detach().sum() / b.sum()
    w2_loss(x, y, a, b).backward()
    direction = torch.randn(10, generator=g, dtype=F64)
    direction -= direction.mean()  # keeps the total
    h = 1e-7
    with torch.no_grad():
        fd = (w2_loss(x, y, a + h * direction, b) - w2_loss(x, y, a - h * direction, b)) / (2 * h)
    assert float((a.grad * direction).sum()) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)


@pytest.mark.slow
def test_w2_loss_in_a_training_loop():
    g = torch.Generator().manual_seed(6)
    y = torch.randn(64, 2, generator=g) * 0.3 + 2.0
    x = torch.nn.Parameter(torch.randn(64, 2, generator=g))
    opt = torch.optim.SGD([x], lr=20.0)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = w2_loss(x, y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 1e-3 * losses[0]
    batched = w2_loss(torch.randn(3, 20, 2), torch.randn(3, 20, 2))
    assert batched.shape == (3,)


@pytest.mark.gpu
def test_pairs_and_loss_on_cuda():
    x0, x1 = torch.randn(128, 8, device="cuda"), torch.randn(128, 8, device="cuda")
    a, b = ot_pairs(x0, x1)
    assert b.is_cuda and float(((a - b) ** 2).sum(1).mean()) == pytest.approx(
        emd(x0.cpu(), x1.cpu()), rel=1e-5
    )
    x = torch.randn(50, 2, device="cuda", requires_grad=True)
    w2_loss(x, torch.randn(50, 2, device="cuda")).backward()
    assert x.grad.is_cuda


WORKER = r"""
import os, sys, torch, torch.distributed as dist
rank = int(sys.argv[1])
dist.init_process_group(
    "gloo", init_method="tcp://127.0.0.1:" + sys.argv[2], rank=rank, world_size=2
)
import lagrangian_ot as lot
assert not torch.cuda.is_initialized()
g = torch.Generator().manual_seed(100 + rank)
x0, x1 = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)
a, b = lot.ot_pairs(x0, x1)
cost = ((a - b) ** 2).sum(1).mean().reshape(1)
costs = [torch.zeros(1), torch.zeros(1)]
dist.all_gather(costs, cost)
print(rank, " ".join(f"{float(c):.10f}" for c in costs))
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_pairs_under_torch_distributed_with_gloo(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(r), port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in (0, 1)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    lines = sorted(o[0].strip() for o in outs)
    gathered = [lines[0].split()[1:], lines[1].split()[1:]]
    assert gathered[0] == gathered[1]  # both ranks see both costs
    for rank in (0, 1):  # each rank paired its own minibatch optimally
        g = torch.Generator().manual_seed(100 + rank)
        x0, x1 = torch.randn(64, 4, generator=g), torch.randn(64, 4, generator=g)
        assert float(gathered[0][rank]) == pytest.approx(emd(x0, x1), rel=1e-6)
