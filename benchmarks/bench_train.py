"""Training throughput of `archbench.train.fit` against a plain hand-written loop.

Same network (GoogLeNet at 224, no aux heads, two copies with identical weights), same batch,
same data held in memory, same optimizer (SGD, momentum 0.9) and cross-entropy loss. The plain
loop is the least a training loop can do: forward, loss, zero_grad, backward, step. `fit`
adds the DataLoader, per-step learning-rate setting, running metrics and (outside the timed
training phase) evaluation and nothing else; its rate is its own second epoch's
`images_per_s` (the first is the warm-up), the plain loop's is timed after as many warm-up steps.
Rounds are interleaved so that machine drift hits both alike. Goal: fit / plain >= 0.95.

    python benchmarks/bench_train.py [--steps 8] [--batch 8] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

import archbench
from archbench.train import Data, TrainConfig, fit
from archbench.train.data import ImageTensors

from _common import machine


def plain_loop(model: torch.nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], warmup: int = 2) -> float:
    """Images per second of a bare SGD loop over ``batches`` (the first ``warmup`` untimed)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for x, y in batches[:warmup]:
        step(x, y)
    start = time.perf_counter()
    for x, y in batches[warmup:]:
        step(x, y)
    elapsed = time.perf_counter() - start
    return sum(len(y) for _, y in batches[warmup:]) / elapsed


def fit_rate(model: torch.nn.Module, data: Data, batch: int, steps: int) -> float:
    """``fit``'s training throughput in its second epoch (the first warms up)."""
    config = TrainConfig(epochs=2, batch_size=batch, max_steps=steps, max_val_steps=1, lr=0.01, weight_decay=0.0,
                         schedule="none", device="cpu")
    return fit(model, data, config).history[-1].images_per_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine()}, threads {torch.get_num_threads()}")
    torch.manual_seed(0)
    n = args.batch * args.steps
    x = torch.randn(n, 3, args.size, args.size)
    y = torch.randint(0, 1000, (n,))
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)  # x is already normalised: both loops see the same tensors
    data = Data(train=ImageTensors(x, y, mean, std), val=ImageTensors(x[:args.batch], y[:args.batch], mean, std),
                classes=[str(i) for i in range(1000)], input_shape=(3, args.size, args.size), source="random")
    batches = [(x[i:i + args.batch], y[i:i + args.batch]) for i in range(0, n, args.batch)]
    batches = batches + batches  # as many warm-up steps as fit's first epoch, then the same batches
    base = archbench.build("googlenet")
    ours, plain = [], []
    for _ in range(args.rounds):
        plain.append(plain_loop(copy.deepcopy(base), batches, warmup=args.steps))
        ours.append(fit_rate(copy.deepcopy(base), data, args.batch, args.steps))
    a, b = statistics.median(ours), statistics.median(plain)
    ratios = [o / p for o, p in zip(ours, plain)]  # per round: both halves saw the same machine load
    print(f"googlenet {args.size}px batch {args.batch}, {args.steps} steps x {args.rounds} rounds (median):")
    print(f"  archbench.train.fit {a:7.2f} img/s   rounds {', '.join(f'{r:.2f}' for r in ours)}")
    print(f"  plain loop          {b:7.2f} img/s   rounds {', '.join(f'{r:.2f}' for r in plain)}")
    print(f"  ratio fit / plain   {statistics.median(ratios):.3f} (median of rounds {', '.join(f'{r:.3f}' for r in ratios)}; "
          "goal >= 0.95)")
    if max(plain) > 1.2 * min(plain):
        print("  note: throughput varied by more than 20% between rounds (a busy machine?); trust the ratio less")

if __name__ == "__main__":
    main()
