"""PyTorch DistributedDataParallel baseline for scripts/bench_train.sh.

Trains the same `mlp` or `cnn` as aimass (layer for layer, see models/) on Fashion-MNIST with
the same per-worker batch, optimizer, normalization and threads per process, on CPU with the
gloo backend, and prints one JSON line: the steady-state global samples/s, or with --target the
seconds until the test accuracy after an epoch reaches the target (same cosine schedule).
Data is decoded into memory first, as aimass's workers cache decoded shards.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 512), nn.Linear(512, 256), nn.Linear(256, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(3136, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def load_idx(directory, limit, split="train"):
    with gzip.open(os.path.join(directory, f"{split}-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
    with gzip.open(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - 0.2860) / 0.3530
    return x, torch.from_numpy(labels.astype(np.int64))


def lr_lambda(total_steps, warmup_steps):
    """The aimass schedule: linear warm-up, then cosine to zero (worker/optim/)."""
    def factor(step):
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return factor


def time_to_accuracy(rank, args):
    """Seconds from the start until the test accuracy after an epoch reaches args.target."""
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    dist.init_process_group("gloo", rank=rank, world_size=args.workers)
    torch.manual_seed(42)
    model = nn.parallel.DistributedDataParallel({"mlp": Mlp, "cnn": Cnn}[args.model]())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    x, y = load_idx(args.data, None)
    test_x, test_y = load_idx(args.data, None, "t10k")
    sampler = torch.utils.data.distributed.DistributedSampler(
        torch.utils.data.TensorDataset(x, y), num_replicas=args.workers, rank=rank, seed=42)
    steps_per_epoch = (len(sampler) + args.batch - 1) // args.batch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(steps_per_epoch * args.epochs, args.warmup))
    reached = None
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        indices = torch.tensor(list(iter(sampler)))
        model.train()
        for step in range(steps_per_epoch):
            batch = indices[step * args.batch:(step + 1) * args.batch]
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            scheduler.step()
        model.eval()
        with torch.no_grad():  # each rank scores its half of the test split
            part = slice(rank * len(test_x) // args.workers, (rank + 1) * len(test_x) // args.workers)
            correct = torch.tensor([(model(test_x[part]).argmax(1) == test_y[part]).sum().item()])
        dist.all_reduce(correct)
        accuracy = correct.item() / len(test_x)
        if accuracy >= args.target:
            reached = (epoch + 1, time.perf_counter() - start, accuracy)
            break
    if rank == 0:
        print(json.dumps({"framework": "pytorch-ddp", "model": args.model, "target": args.target,
                          "epoch": reached[0] if reached else None,
                          "seconds": reached[1] if reached else None,
                          "accuracy": reached[2] if reached else None}))
    dist.destroy_process_group()


def train(rank, args):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", rank=rank, world_size=args.workers)
    torch.manual_seed(42)
    model = nn.parallel.DistributedDataParallel({"mlp": Mlp, "cnn": Cnn}[args.model]())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    x, y = load_idx(args.data, args.limit)
    sampler = torch.utils.data.distributed.DistributedSampler(
        torch.utils.data.TensorDataset(x, y), num_replicas=args.workers, rank=rank, seed=42)
    indices = torch.tensor(list(iter(sampler)))
    steps = len(indices) // args.batch
    dist.barrier()
    start = None
    for step in range(steps):
        if step == args.warmup_steps:
            dist.barrier()
            start = time.perf_counter()
        batch = indices[step * args.batch:(step + 1) * args.batch]
        optimizer.zero_grad()
        F.cross_entropy(model(x[batch]), y[batch]).backward()
        optimizer.step()
    dist.barrier()
    elapsed = time.perf_counter() - start
    if rank == 0:
        measured = (steps - args.warmup_steps) * args.batch * args.workers
        print(json.dumps({"framework": "pytorch-ddp", "model": args.model, "workers": args.workers,
                          "batch": args.batch, "samples_per_second": measured / elapsed,
                          "torch": torch.__version__}))
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=16384)
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--port", type=int, default=29531)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--target", type=float, default=0.0,
                        help="measure seconds until this test accuracy instead of throughput")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    mp.spawn(time_to_accuracy if args.target > 0 else train, args=(args,), nprocs=args.workers)


if __name__ == "__main__":
    main()
