#!/usr/bin/env python3
"""A Hive-style export for batch inference, a TorchScript model saved from Python, and the
predictions Python itself computes with that model (the integration tests and
scripts/bench_infer.sh use it).

  OUT/table/part-00000-<uuid>-c000.csv.gz ...   header `id,f0,...`, then one record per line
                                                 (--format tsv: Hive-style 000000_0 files, no
                                                 header; --format jsonl: {"id", "f": [...]};
                                                 --partitions N: in dt=... directories)
  OUT/table/_SUCCESS
  OUT/model.pt                                   torch.jit.script of a small MLP
  OUT/expected.csv                               id,prediction,score_0,... from torch.jit.load
                                                 (not with --no-expected)

Feature values are multiples of 1/256, exact in float32 and printed exactly, so the framework
and Python feed the model the same numbers.
"""
import argparse
import bz2
import gzip
import json
import os
import uuid

import torch


class Net(torch.nn.Module):
    def __init__(self, features: int, hidden: int, layers: int, classes: int):
        super().__init__()
        sizes = [features] + [hidden] * layers
        self.hidden = torch.nn.ModuleList(
            [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.out = torch.nn.Linear(sizes[-1], classes)

    def forward(self, x):
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return self.out(x)


def write_part(args, table, part, ids, rows):
    directory = table
    if args.partitions:
        directory = os.path.join(table, "dt=2026-11-%02d" % (part % args.partitions + 1))
        os.makedirs(directory, exist_ok=True)
    if args.format == "csv":
        name = "part-%05d-%s-c000.csv" % (part, uuid.uuid4())
        lines = ["id," + ",".join("f%d" % j for j in range(args.features)) + "\n"]
        lines += [i + "," + ",".join(map(repr, row)) + "\n" for i, row in zip(ids, rows)]
    elif args.format == "tsv":
        name = "%06d_0" % part
        lines = [i + "\t" + "\t".join(map(repr, row)) + "\n" for i, row in zip(ids, rows)]
    else:
        name = "part-%05d.json" % part
        lines = [json.dumps({"id": i, "f": row}) + "\n" for i, row in zip(ids, rows)]
    path = os.path.join(directory, name)
    if args.compression == "gz":
        out = gzip.open(path + ".gz", "wt", compresslevel=1)
    elif args.compression == "bz2":
        out = bz2.open(path + ".bz2", "wt")
    else:
        out = open(path, "w")
    with out:
        out.writelines(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--parts", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-expected", action="store_true", help="skip expected.csv")
    parser.add_argument("--format", choices=["csv", "tsv", "jsonl"], default="csv")
    parser.add_argument("--compression", choices=["gz", "bz2", "none"], default="gz")
    parser.add_argument("--partitions", type=int, default=0, help="dt=... directories")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    table = os.path.join(args.out, "table")
    os.makedirs(table, exist_ok=True)
    values = torch.randint(-1024, 1024, (args.records, args.features)).to(torch.float32) / 256
    ids = ["r%07d" % i for i in range(args.records)]

    per_part = (args.records + args.parts - 1) // args.parts
    for part in range(args.parts):
        begin, end = part * per_part, min(args.records, (part + 1) * per_part)
        write_part(args, table, part, ids[begin:end], values[begin:end].tolist())
    open(os.path.join(table, "_SUCCESS"), "w").close()

    model = torch.jit.script(Net(args.features, args.hidden, args.layers, args.classes).eval())
    model_path = os.path.join(args.out, "model.pt")
    model.save(model_path)
    if args.no_expected:
        return
    loaded = torch.jit.load(model_path)
    with torch.no_grad(), open(os.path.join(args.out, "expected.csv"), "w") as out:
        out.write("id,prediction," + ",".join("score_%d" % k for k in range(args.classes)) + "\n")
        for start in range(0, args.records, 256):
            scores = loaded(values[start:start + 256])
            for offset, row in enumerate(scores.tolist()):
                best = max(range(len(row)), key=lambda k: row[k])
                out.write("%s,%d,%s\n" % (ids[start + offset], best, ",".join(repr(v) for v in row)))


if __name__ == "__main__":
    main()
