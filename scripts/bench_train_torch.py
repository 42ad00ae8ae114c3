#!/usr/bin/env python3
"""PyTorch's side of zlmc's training benchmark (docs/training.md).

One epoch of training of a tinychat-sized MLP, 256 -> 256 -> 192 -> 128 -> 40
with ReLU, Adam, cross-entropy, batch 64, on the CPU with 2 threads, over
20,000 random examples whose inputs look like z80ai's (hash buckets of 0, 32,
64 ...), timed as the median of 3 epochs after one warm-up epoch. The Rust side
is the ignored test `bench_training_epoch_tinychat_sized` in tests/train.rs:

    /work/venv/bin/python scripts/bench_train_torch.py [--qat] [--threads 2]
    cargo test --release --test train bench_training -- --ignored --nocapture

--qat trains z80ai's way: 2-bit weights rounded in the forward pass with a
straight-through estimator (what zlmc always does), float elsewhere.
"""

import argparse
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--examples", type=int, default=20000)
p.add_argument("--qat", action="store_true")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

sizes = [256, 256, 192, 128, 40]
g = torch.Generator().manual_seed(0)
x = (torch.randint(0, 4, (a.examples, 256), generator=g) * (torch.rand(a.examples, 256, generator=g) < 0.05)).float() * 32
y = torch.randint(0, 40, (a.examples,), generator=g)


class Q(torch.nn.Linear):
    """A linear layer whose weights are rounded to {-2, -1, 0, 1} going forward."""

    def forward(self, v):
        w = self.weight + (self.weight.round().clamp(-2, 1) - self.weight).detach()
        return torch.nn.functional.linear(v, w, self.bias) / 4


Lin = Q if a.qat else torch.nn.Linear
layers = []
for i, (n, m) in enumerate(zip(sizes, sizes[1:])):
    layers.append(Lin(n, m))
    if i + 2 < len(sizes):
        layers.append(torch.nn.ReLU())
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()


def epoch():
    perm = torch.randperm(a.examples)
    t = time.perf_counter()
    for i in range(0, a.examples, a.batch):
        idx = perm[i:i + a.batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - t


epoch()
times = sorted(epoch() for _ in range(3))
print(f"pytorch {torch.__version__} {'qat' if a.qat else 'float'}: threads {a.threads}, batch {a.batch}, "
      f"{a.examples} examples: {times[1]:.3f} s per epoch (median of 3)")
