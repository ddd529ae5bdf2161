"""Flow matching on a 2-D problem with independent pairs and with OT pairs.

Source: the cat silhouette; target: the two disks (the seed's shapes, placed
side by side). A small MLP ``v(x, t)`` is trained on ``x_t = (1 - t) x0 + t x1``
to predict ``x1 - x0``, with minibatch pairs either independent (the plain
conditional flow matching loss) or optimal (:func:`lagrangian_ot.ot_pairs`).
The learned ODE is integrated with Euler and midpoint steps; for both models
the script reports the training time, the straightness of the paths (mean
squared deviation of the velocity along a path from the endpoint difference)
and ``W2`` between generated and target samples (exact plans) at 1, 2, 4, 8
steps, and draws the paths and the one-step samples (``flow-matching.png``).

    python scripts/train_flow_matching.py [--steps 2000] [--batch 256] [--out flow-matching.png]
"""

from __future__ import annotations

import argparse
import time

import torch

from lagrangian_ot import load_silhouette, match, ot_pairs, plot

SHIFT = torch.tensor([1.5, 0.0])


class Velocity(torch.nn.Module):
    def __init__(self, width: int = 128):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(3, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, 2),
        )  # fmt: skip

    def forward(self, x, t):
        return self.net(torch.cat([x, t.expand(x.shape[0], 1)], dim=1))


def train(source, target, *, pairs: str, steps: int, batch: int, seed: int):
    torch.manual_seed(seed)
    model = Velocity()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        x0 = source[torch.randint(0, source.shape[0], (batch,), generator=g)]
        x1 = target[torch.randint(0, target.shape[0], (batch,), generator=g)]
        if pairs == "ot":
            x0, x1 = ot_pairs(x0, x1)
        t = torch.rand(batch, 1, generator=g)
        xt = (1 - t) * x0 + t * x1
        loss = ((model(xt, t) - (x1 - x0)) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model, time.perf_counter() - start


@torch.no_grad()
def integrate(model, x0, n_steps: int, scheme: str = "euler", record: bool = False):
    x, h = x0.clone(), 1.0 / n_steps
    path = [x.clone()]
    for k in range(n_steps):
        t = torch.tensor([[k * h]])
        if scheme == "euler":
            x = x + h * model(x, t)
        else:
            x = x + h * model(x + 0.5 * h * model(x, t), t + 0.5 * h)
        if record:
            path.append(x.clone())
    return (x, torch.stack(path)) if record else x


@torch.no_grad()
def straightness(model, x0, n_steps: int = 64) -> float:
    """Mean over paths of ``int_0^1 |v - (x_1 - x_0)|^2 dt`` (0 for straight, constant-speed
    paths)."""
    _, path = integrate(model, x0, n_steps, "euler", record=True)
    chord = path[-1] - path[0]
    h = 1.0 / n_steps
    dev = 0.0
    for k in range(n_steps):
        v = model(path[k], torch.tensor([[k * h]]))
        dev += float(((v - chord) ** 2).sum(1).mean()) * h
    return dev


def w2(a, b) -> float:
    return float(match(a.double(), b.double(), method="exact").cost) ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--out", default="flow-matching.png")
    args = parser.parse_args()
    source = load_silhouette("cat", 4000, sampling="random", seed=1) - SHIFT
    target = load_silhouette("disks", 4000, sampling="random", seed=2) + SHIFT
    test0 = load_silhouette("cat", 2000, sampling="random", seed=3) - SHIFT
    test1 = load_silhouette("disks", 2000, sampling="random", seed=4) + SHIFT
    models = {}
    steps = "".join(f"{f'W2 {s} step':>12}" for s in (1, 2, 4, 8))
    print(f"{'pairs':<12}{'train (s)':>10}{'straightness':>14}" + steps + f"{'W2 8 midp.':>12}")
    for pairs in ("independent", "ot"):
        model, seconds = train(
            source, target, pairs=pairs, steps=args.steps, batch=args.batch, seed=0
        )
        models[pairs] = model
        dists = [w2(integrate(model, test0, s), test1) for s in (1, 2, 4, 8)]
        mid = w2(integrate(model, test0, 8, "midpoint"), test1)
        print(f"{pairs:<12}{seconds:>10.1f}{straightness(model, test0[:500]):>14.4f}"
              + "".join(f"{d:>12.4f}" for d in dists) + f"{mid:>12.4f}", flush=True)  # fmt: skip
    print(
        f"reference: W2 between the test source and target = {w2(test0, test1):.4f}; "
        "between two target samples = "
        f"{w2(load_silhouette('disks', 2000, sampling='random', seed=5) + SHIFT, test1):.4f}"
    )

    from matplotlib.figure import Figure

    def frame(ax, pts, pad):
        lo, hi = pts.min(0).values - pad, pts.max(0).values + pad
        ax.set_xlim(float(lo[0]), float(hi[0]))
        ax.set_ylim(float(lo[1]), float(hi[1]))
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])

    fig = Figure(figsize=(10, 5.6), layout="constrained")
    axes = fig.subplots(2, 2, height_ratios=[1.0, 1.1])
    scene, landed = [test0, test1], [test1]
    for col, (name, model) in enumerate(models.items()):
        top, bottom = axes[0, col], axes[1, col]
        _, path = integrate(model, test0[::12], 32, "euler", record=True)
        top.scatter(test0[:, 0], test0[:, 1], s=1.5, color=plot.time_color(0.0), alpha=0.25, lw=0)
        top.scatter(test1[:, 0], test1[:, 1], s=1.5, color=plot.time_color(1.0), alpha=0.25, lw=0)
        for k in range(path.shape[1]):
            top.plot(path[:, k, 0], path[:, k, 1], color="#444444", lw=0.5, alpha=0.6)
        top.scatter(path[0, :, 0], path[0, :, 1], s=4, color=plot.time_color(0.0), lw=0)
        top.scatter(path[-1, :, 0], path[-1, :, 1], s=4, color=plot.time_color(1.0), lw=0)
        top.set_title(f"{name} pairs: paths of the learned flow (32 Euler steps)", fontsize=9)
        one = integrate(model, test0, 1)
        bottom.scatter(test1[:, 0], test1[:, 1], s=2, color="#bbbbbb", lw=0)
        bottom.scatter(one[:, 0], one[:, 1], s=1.5, color=plot.time_color(1.0), lw=0)
        bottom.set_title(f"{name} pairs: one Euler step (blue) over the target (grey)", fontsize=9)
        scene.append(path.reshape(-1, 2))
        landed.append(one)
    for top in axes[0]:
        frame(top, torch.cat(scene), 0.08)
    for bottom in axes[1]:  # one frame for both, holding every sample
        frame(bottom, torch.cat(landed), 0.25)
    plot.save(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
