#!/usr/bin/env python3
"""The peer of `aimass-coordinator infer` in scripts/bench_infer.sh: a plain PyTorch loop over
the same export. torch.jit.load, the gzip CSV part files read with the csv module, batched
forward passes, predictions written as CSV (id,prediction,score_0..). Prints one JSON line."""
import argparse
import csv
import gzip
import json
import os
import time

import torch


def part_files(root):
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d[0] not in "_.")
        for name in sorted(files):
            if name[0] not in "_.":
                yield os.path.join(directory, name)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    start = time.time()
    model = torch.jit.load(args.model).eval()
    records = 0
    with torch.no_grad(), open(args.output, "w", newline="") as out:
        writer = csv.writer(out)
        header_written = False
        for path in part_files(args.input):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", newline="") as part:
                reader = csv.reader(part)
                next(reader)  # header
                ids, rows = [], []
                for row in reader:
                    ids.append(row[0])
                    rows.append([float(v) for v in row[1:]])
                    if len(rows) == args.batch:
                        records += flush(model, ids, rows, writer, header_written)
                        header_written = True
                        ids, rows = [], []
                if rows:
                    records += flush(model, ids, rows, writer, header_written)
                    header_written = True
    seconds = time.time() - start
    print(json.dumps({"records": records, "seconds": seconds,
                      "records_per_second": records / seconds if seconds else 0.0}))


def flush(model, ids, rows, writer, header_written):
    scores = model(torch.tensor(rows, dtype=torch.float32))
    if not header_written:
        writer.writerow(["id", "prediction"] + ["score_%d" % k for k in range(scores.shape[1])])
    predictions = scores.argmax(dim=1).tolist()
    for record_id, prediction, row in zip(ids, predictions, scores.tolist()):
        writer.writerow([record_id, prediction] + row)
    return len(ids)


if __name__ == "__main__":
    main()
