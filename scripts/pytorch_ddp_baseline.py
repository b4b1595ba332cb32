"""PyTorch DistributedDataParallel baseline for scripts/bench_train.sh and scripts/gpu_check.sh.

Trains the same `mlp`, `cnn` or `resnet` as aimass (layer for layer, see models/) on Fashion-MNIST
with the same per-worker batch, optimizer, normalization and threads per process, and prints one
JSON line: the steady-state global samples/s, or with --target the seconds until the test
accuracy after an epoch reaches the target (same cosine schedule). By default on CPU with the
gloo backend; with --device cuda each process trains on one GPU (cuda:rank) with NCCL, copying
each batch to it as aimass's workers do. --eval adds the test accuracy after training.
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


def conv_no_bias(in_channels, out_channels, kernel, stride):
    """A convolution followed by batch norm, whose shift replaces the bias (models/resnet.cc)."""
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2,
                     bias=False)


class BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = conv_no_bias(in_channels, out_channels, 3, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv_no_bias(out_channels, out_channels, 3, 1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(conv_no_bias(in_channels, out_channels, 1, stride),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """3x3 stem, three stages of two BasicBlocks (32, 64, 128 channels), average pool, linear."""

    def __init__(self):
        super().__init__()
        self.stem_conv, self.stem_bn = conv_no_bias(1, 32, 3, 1), nn.BatchNorm2d(32)
        blocks = []
        for in_channels, out_channels, stride in ((32, 32, 1), (32, 64, 2), (64, 128, 2)):
            blocks += [BasicBlock(in_channels, out_channels, stride),
                       BasicBlock(out_channels, out_channels, 1)]
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.stem_bn(self.stem_conv(x))))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {"mlp": Mlp, "cnn": Cnn, "resnet": ResNet}


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
    model = nn.parallel.DistributedDataParallel(MODELS[args.model]())
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


def place(rank, args):
    """This process's device and process-group backend: cuda:rank with NCCL, or CPU with gloo."""
    if args.device == "cuda":
        torch.cuda.set_device(rank)
        return torch.device("cuda", rank), args.backend or "nccl"
    return torch.device("cpu"), args.backend or "gloo"


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def test_accuracy(model, args, rank, device):
    """Accuracy on the test split; each rank scores its part, the counts are summed."""
    test_x, test_y = load_idx(args.data, None, "t10k")
    part = slice(rank * len(test_x) // args.workers, (rank + 1) * len(test_x) // args.workers)
    model.eval()
    correct = torch.zeros(1, dtype=torch.int64, device=device)
    with torch.no_grad():
        for start in range(part.start, part.stop, 1000):
            end = min(start + 1000, part.stop)
            logits = model(test_x[start:end].to(device))
            correct += (logits.argmax(1) == test_y[start:end].to(device)).sum()
    dist.all_reduce(correct)
    return correct.item() / len(test_x)


def train(rank, args):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    torch.set_num_threads(args.threads)
    device, backend = place(rank, args)
    dist.init_process_group(backend, rank=rank, world_size=args.workers)
    torch.manual_seed(42)
    module = MODELS[args.model]().to(device)
    model = nn.parallel.DistributedDataParallel(
        module, device_ids=[rank] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    x, y = load_idx(args.data, args.limit if args.limit > 0 else None)
    sampler = torch.utils.data.distributed.DistributedSampler(
        torch.utils.data.TensorDataset(x, y), num_replicas=args.workers, rank=rank, seed=42)
    steps_per_pass = len(sampler) // args.batch
    steps = steps_per_pass * args.passes
    if steps <= args.warmup_steps:
        raise SystemExit("%d steps leave nothing to time after %d warm-up steps" %
                         (steps, args.warmup_steps))
    dist.barrier()
    start = None
    model.train()
    for step in range(steps):
        if step % steps_per_pass == 0:
            sampler.set_epoch(step // steps_per_pass)
            indices = torch.tensor(list(iter(sampler)))
        if step == args.warmup_steps:
            synchronize(device)
            dist.barrier()
            start = time.perf_counter()
        batch = indices[(step % steps_per_pass) * args.batch:(step % steps_per_pass + 1) * args.batch]
        optimizer.zero_grad()
        F.cross_entropy(model(x[batch].to(device, non_blocking=True)),
                        y[batch].to(device, non_blocking=True)).backward()
        optimizer.step()
    synchronize(device)
    dist.barrier()
    elapsed = time.perf_counter() - start
    result = {"framework": "pytorch-ddp", "model": args.model, "workers": args.workers,
              "batch": args.batch, "samples_per_second":
                  (steps - args.warmup_steps) * args.batch * args.workers / elapsed,
              "torch": torch.__version__, "device": str(device), "backend": backend}
    if args.eval:
        # The wrapped module: DDP's forward would broadcast buffers, a collective per call.
        result["test_accuracy"] = test_accuracy(module, args, rank, device)
    if rank == 0:
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


def forward_flops_per_sample(model):
    """Multiply-adds x 2 of every Linear and Conv2d layer for one 1x28x28 sample, read from the
    layers' shapes during one forward pass (element-wise layers, pooling and the loss are left
    out: they are a few % of these models' work). Training costs about 3x this (backward
    computes the gradients of the inputs and of the weights, each as much as forward)."""
    total = [0]

    def count(layer, inputs, output):
        if isinstance(layer, nn.Linear):
            total[0] += 2 * layer.in_features * layer.out_features
        elif isinstance(layer, nn.Conv2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            total[0] += 2 * (layer.in_channels // layer.groups) * kernel * output[0].numel()

    for layer in model.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            layer.register_forward_hook(count)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 28, 28))
    return total[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--limit", type=int, default=16384, help="training records, 0: all")
    parser.add_argument("--passes", type=int, default=1,
                        help="passes over the training records when measuring throughput")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: one GPU per process (cuda:rank)")
    parser.add_argument("--backend", choices=["gloo", "nccl"],
                        help="process-group backend (default: gloo on cpu, nccl on cuda)")
    parser.add_argument("--eval", action="store_true",
                        help="also report the test accuracy after training")
    parser.add_argument("--warmup-steps", type=int, default=10)
    parser.add_argument("--port", type=int, default=29531)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--target", type=float, default=0.0,
                        help="measure seconds until this test accuracy instead of throughput")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--flops", action="store_true",
                        help="print the model's forward FLOPs per sample (from its layers) and exit")
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    if args.flops:
        print(forward_flops_per_sample(MODELS[args.model]()))
        return
    if args.device == "cuda" and args.target > 0:
        parser.error("--target (time to accuracy) runs on the CPU only")
    if args.device == "cuda" and args.workers > torch.cuda.device_count():
        parser.error("--workers %d needs as many GPUs; %d visible" %
                     (args.workers, torch.cuda.device_count()))
    mp.spawn(time_to_accuracy if args.target > 0 else train, args=(args,), nprocs=args.workers)


if __name__ == "__main__":
    main()
