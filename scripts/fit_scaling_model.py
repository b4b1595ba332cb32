#!/usr/bin/python3
"""Alpha-beta model of ring allreduce, fitted to bench_allreduce_hosts.sh measurements, and the
weak-scaling efficiency it predicts at 8 to 512 GPUs (docs/scaling.md explains every term).

  scripts/fit_scaling_model.py --allreduce RUN1/allreduce.csv [RUN2/allreduce.csv ...]
                               [--scaling SCALING/scaling-hosts.csv ...] [--out DIR]
                               [--alpha-us A]

Model: an allreduce of S bytes over n workers on a ring costs
  T(n, S) = 2 (n - 1) alpha + 2 (n - 1) / n * S / B
(2(n-1) steps of one message each; every worker sends and receives 2(n-1)/n * S bytes). The
reduction's own cost (gamma per byte) also grows as (n-1)/n * S, so with these measurements it
cannot be told apart from 1/B: it is folded into B. Fitted per link rate by least squares on
relative error (the times span four orders of magnitude; plain least squares would fit only the
largest sizes). Prints Markdown tables; with --out also writes fit.csv, prediction.csv and
prediction.png (gnuplot).
"""
import argparse
import csv
import math
import os
import statistics
import subprocess
import sys

import numpy as np

MIB = 1 << 20

# Parameter counts of the builtin models, from their layers in models/*.cc:
#   mlp: 784x512 + 512 + 512x256 + 256 + 256x10 + 10
#   cnn: conv 1->32 3x3 (+bias), conv 32->64 3x3 (+bias), 3136x128 + 128, 128x10 + 10
#   resnet: 3x3 stem (32), 3 stages of two BasicBlocks (32, 64, 128 channels, bias-free convs,
#           1x1 projections where the shape changes), batch-norm weights and biases, 128x10 + 10
BUILTIN_PARAMETERS = {
    "mlp": 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10,
    "cnn": (1 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (3136 * 128 + 128) + (128 * 10 + 10),
    "resnet": 696042,  # counted from the same layers in PyTorch (docs/scaling.md)
}
RESNET50_PARAMETERS = 25_557_032  # torchvision resnet50

# Published per-GPU training throughput of ResNet-50 v1.5 (assumptions, see docs/scaling.md),
# turned into a step time at 256 images per GPU.
RESNET50_IMAGES_PER_SECOND = {
    "ResNet-50 V100 AMP": 727.0,   # NVIDIA DeepLearningExamples RN50v1.5 PyTorch, DGX-1: 5,815.8 img/s / 8
    "ResNet-50 A100 AMP": 2600.0,  # pytorch-image-models issue #1491: A100, AMP, channels-last
}
RESNET50_BATCH = 256

# aimass's gradient buckets (docs/training.md: gradient_sync.bucket_mb 25, first_bucket_mb 1).
BUCKET_BYTES = 25 * MIB
FIRST_BUCKET_BYTES = 1 * MIB

# Backward's share of a step's compute, for the overlap case: communication can hide under
# backward only. Roughly 2/3 for convolutional networks (backward computes two gradients per
# layer, forward one); an assumption, not measured on a GPU here.
BACKWARD_SHARE = 2.0 / 3.0

# Bandwidth classes predicted for: (label, busbw B in GB/s). Network links at the fraction of
# the link that was measured here (fit), NVLink-class at NVIDIA's published nccl-tests allreduce
# busbw for a DGX A100 (about 230 GB/s, 8 GPUs on NVSwitch).
NETWORK_LINKS_GBIT = [10, 25, 100]
NVLINK_BUSBW_GBYTES = 230.0

GPU_COUNTS = [8, 16, 32, 64, 128, 256, 512]


def read_rows(paths):
    rows = []
    for path in paths:
        for row in csv.DictReader(open(path)):
            row["source"] = os.path.basename(os.path.dirname(os.path.abspath(path))) or path
            rows.append(row)
    return rows


def fit(rows):
    """Least squares on relative error: returns (alpha s, B bytes/s, rms relative error)."""
    n = np.array([float(r["hosts"]) for r in rows])
    size = np.array([float(r["bytes"]) for r in rows])
    seconds = np.array([float(r["time_us"]) * 1e-6 for r in rows])
    design = np.stack([2 * (n - 1), 2 * (n - 1) / n * size], axis=1) / seconds[:, None]
    (alpha, inverse_bandwidth), *_ = np.linalg.lstsq(design, np.ones_like(seconds), rcond=None)
    predicted = alpha * 2 * (n - 1) + inverse_bandwidth * 2 * (n - 1) / n * size
    rms = math.sqrt(float(np.mean(((predicted - seconds) / seconds) ** 2)))
    return alpha, 1.0 / inverse_bandwidth, rms


def allreduce_seconds(n, size, alpha, bandwidth):
    """T(n, S) summed over aimass's buckets: each bucket pays the latency term."""
    if n <= 1:
        return 0.0
    buckets = [min(size, FIRST_BUCKET_BYTES)]
    rest = size - buckets[0]
    while rest > 0:
        buckets.append(min(rest, BUCKET_BYTES))
        rest -= buckets[-1]
    return sum(2 * (n - 1) * alpha + 2 * (n - 1) / n * b / bandwidth for b in buckets)


def efficiency(compute, communication, overlap):
    """Weak scaling: step time at N workers against the step alone (no communication)."""
    exposed = max(0.0, communication - BACKWARD_SHARE * compute) if overlap else communication
    return compute / (compute + exposed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--allreduce", nargs="+", required=True)
    parser.add_argument("--scaling", nargs="*", default=[])
    parser.add_argument("--out")
    parser.add_argument("--alpha-us", type=float,
                        help="predict with this latency instead of the fitted one")
    args = parser.parse_args()

    rows = [r for r in read_rows(args.allreduce) if r["correct"] == "True"]
    links = []
    for r in rows:
        if r["link"] not in links:
            links.append(r["link"])

    print("## Fit: T(n, S) = 2(n-1) alpha + 2(n-1)/n S / B\n")
    print("| run | link | hosts | points | alpha (us) | B (GB/s) | B / link | rms rel. error | "
          "link-bound from 16 MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    fits = []
    sources = sorted({r["source"] for r in rows})
    for link in links:
        for source in sources + ["all runs"]:
            for hosts in ["2", "4", "2+4"]:
                subset = [r for r in rows if r["link"] == link
                          and (source == "all runs" or r["source"] == source)
                          and (hosts == "2+4" or r["hosts"] == hosts)]
                if len(subset) < 3:
                    continue
                alpha, bandwidth, rms = fit(subset)
                link_gb = float(subset[0]["link_gbytes_per_s"] or 0)
                large = [r for r in subset if int(r["bytes"]) >= 16 * MIB]
                bound = "/".join(sorted({r["bound"] for r in large}))
                link_bound_share = sum(r["bound"] == "link" for r in large) / max(1, len(large))
                fits.append(dict(source=source, link=link, link_gbytes=link_gb, hosts=hosts,
                                 points=len(subset),
                                 alpha_us=alpha * 1e6, busbw_gbytes=bandwidth / 1e9,
                                 link_fraction=(bandwidth / 1e9 / link_gb) if link_gb else "",
                                 rms=rms, bound=bound, link_bound_share=link_bound_share))
                f = fits[-1]
                print("| %s | %s | %s | %d | %.1f | %.4g | %s | %.0f%% | %s |" % (
                    source, link, hosts, len(subset), f["alpha_us"], f["busbw_gbytes"],
                    "%.2f" % f["link_fraction"] if link_gb else "-", 100 * rms,
                    "%d of %d" % (round(link_bound_share * len(large)), len(large))))

    # The network classes are predicted with the latency and link efficiency fitted at the
    # lowest shaped rate over all runs, on the host counts where the most of its large transfers
    # (16 MiB and up) were link-bound: the fit that measures a link rather than this machine's CPU.
    shaped = [f for f in fits if f["link"] != "none" and f["source"] == "all runs"
              and f["link_bound_share"] > 0]
    if not shaped:
        sys.exit("no link-bound measurements to fit")
    reference = min(shaped, key=lambda f: (f["link_gbytes"], -f["link_bound_share"], -f["points"]))
    alpha = reference["alpha_us"] * 1e-6
    if args.alpha_us is not None:
        alpha = args.alpha_us * 1e-6
    link_fraction = reference["link_fraction"]
    print("\nPrediction uses alpha = %.1f us%s and %.0f%% of the link (fit at %s, all runs, %s hosts)."
          % (alpha * 1e6, " (--alpha-us)" if args.alpha_us is not None else "",
             100 * link_fraction, reference["link"], reference["hosts"]))

    # Check against the training runs across hosts: the exposed communication per step the model
    # predicts at the scaling runs' link (fit at that link, all runs, 2+4 hosts) against what
    # worker 0 measured (fp32, no overlap; its communication time includes waiting for the
    # slowest worker).
    scaling_rows = read_rows(args.scaling)
    if scaling_rows:
        scaling_link = scaling_rows[0]["link"]
        match = [f for f in fits if f["link"] == scaling_link and f["source"] == "all runs"
                 and f["hosts"] == "2+4"]
        if match:
            a, b = match[0]["alpha_us"] * 1e-6, match[0]["busbw_gbytes"] * 1e9
            print("\n## Check: measured exposed communication per step against the model "
                  "(fit at %s: alpha %.1f us, B %.3g GB/s)\n" % (scaling_link, a * 1e6, b / 1e9))
            print("| model | gradient MB (fp32) | workers | run | measured comm (ms) | "
                  "predicted (ms) | compute (ms) |")
            print("|---|---|---|---|---|---|---|")
            for r in scaling_rows:
                if r["compression"] != "none" or r["overlap"] != "false" or r["workers"] == "1":
                    continue
                size = 4 * BUILTIN_PARAMETERS[r["model"]]
                print("| %s | %.2f | %s | %s | %.1f | %.1f | %.1f |" % (
                    r["model"], size / 1e6, r["workers"], r["source"], float(r["communication_ms"]),
                    1e3 * allreduce_seconds(int(r["workers"]), size, a, b), float(r["compute_ms"])))

    # Step compute: measured at one worker (no allreduce) in the scaling runs, per model.
    workloads = []
    compute_by_model = {}
    for r in read_rows(args.scaling):
        if r["workers"] == "1" and r["compression"] == "none" and r["overlap"] == "false":
            compute_by_model.setdefault(r["model"], []).append(float(r["compute_ms"]) * 1e-3)
    for model, parameters in BUILTIN_PARAMETERS.items():
        if model in compute_by_model:
            workloads.append((model + " (CPU step here)", parameters,
                              statistics.median(compute_by_model[model])))
    for label, rate in RESNET50_IMAGES_PER_SECOND.items():
        workloads.append((label, RESNET50_PARAMETERS, RESNET50_BATCH / rate))

    bandwidths = [("%d Gbit/s" % g, g / 8 * link_fraction * 1e9) for g in NETWORK_LINKS_GBIT]
    bandwidths.append(("NVLink-class 230 GB/s", NVLINK_BUSBW_GBYTES * 1e9))

    print("\n## Predicted weak-scaling efficiency (flat ring, fp32 gradients)\n")
    print("| workload | params | step compute (ms) | bandwidth | overlap | "
          + " | ".join(str(n) for n in GPU_COUNTS) + " |")
    print("|---|---|---|---|---|" + "---|" * len(GPU_COUNTS))
    prediction = []
    for label, parameters, compute in workloads:
        size = 4 * parameters
        for bandwidth_label, bandwidth in bandwidths:
            for overlap in (False, True):
                values = []
                for n in GPU_COUNTS:
                    communication = allreduce_seconds(n, size, alpha, bandwidth)
                    e = efficiency(compute, communication, overlap)
                    values.append(e)
                    prediction.append(dict(workload=label, parameters=parameters,
                                           compute_ms=compute * 1e3, bandwidth=bandwidth_label,
                                           overlap=overlap, gpus=n,
                                           communication_ms=communication * 1e3, efficiency=e))
                print("| %s | %.3g M | %.1f | %s | %s | %s |" % (
                    label, parameters / 1e6, compute * 1e3, bandwidth_label,
                    "yes" if overlap else "no", " | ".join("%.2f" % v for v in values)))

    print("\n## ResNet-50 (102 MB fp32) allreduce time, flat ring (ms)\n")
    print("| bandwidth | " + " | ".join(str(n) for n in GPU_COUNTS) + " |")
    print("|---|" + "---|" * len(GPU_COUNTS))
    for bandwidth_label, bandwidth in bandwidths:
        print("| %s | %s |" % (bandwidth_label, " | ".join(
            "%.0f" % (1e3 * allreduce_seconds(n, 4 * RESNET50_PARAMETERS, alpha, bandwidth))
            for n in GPU_COUNTS)))
    buckets = 1 + math.ceil((4 * RESNET50_PARAMETERS - FIRST_BUCKET_BYTES) / BUCKET_BYTES)
    print("\nAt 512 GPUs the latency term alone (%d buckets x 2 x 511 x alpha) is %.0f ms." %
          (buckets, buckets * 2 * 511 * alpha * 1e3))

    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "fit.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(fits[0].keys()))
            writer.writeheader()
            writer.writerows(fits)
        prediction_csv = os.path.join(args.out, "prediction.csv")
        with open(prediction_csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(prediction[0].keys()))
            writer.writeheader()
            writer.writerows(prediction)
        plot(prediction, os.path.join(args.out, "prediction.png"), alpha, link_fraction)


def plot(prediction, png, alpha, link_fraction):
    """Efficiency against GPUs for ResNet-50 on A100 and on V100, every bandwidth class."""
    data = png + ".dat"
    series = []
    with open(data, "w") as f:
        for workload in ("ResNet-50 V100 AMP", "ResNet-50 A100 AMP"):
            for bandwidth in sorted({p["bandwidth"] for p in prediction},
                                    key=lambda b: [p["bandwidth"] for p in prediction].index(b)):
                for overlap in (False, True):
                    points = [p for p in prediction if p["workload"] == workload
                              and p["bandwidth"] == bandwidth and p["overlap"] == overlap]
                    if not points:
                        continue
                    for p in points:
                        f.write("%d %.4f\n" % (p["gpus"], p["efficiency"]))
                    f.write("\n\n")
                    series.append((workload, bandwidth, "%s, %s" % (
                        bandwidth, "overlap" if overlap else "no overlap")))
    commands = [
        'set terminal pngcairo size 1000,520 font ",9"',
        'set output "%s"' % png,
        'set multiplot layout 1,2 title "Predicted weak-scaling efficiency, flat ring, '
        'alpha %.0f us, %.0f%% of link (fitted here)"' % (alpha * 1e6, 100 * link_fraction),
        "set logscale x 2; set xrange [8:512]; set yrange [0:1.05]; set grid",
        'set xlabel "GPUs"; set ylabel "efficiency"; set key below maxrows 4',
    ]
    for workload in ("ResNet-50 V100 AMP", "ResNet-50 A100 AMP"):
        parts = []
        bandwidths = []
        for index, (w, bandwidth, title) in enumerate(series):
            if w == workload:
                if bandwidth not in bandwidths:
                    bandwidths.append(bandwidth)
                dash = 2 if "no overlap" in title else 1
                parts.append('"%s" index %d using 1:2 with linespoints dt %d lc %d lw 2 title "%s"'
                             % (data, index, dash, bandwidths.index(bandwidth) + 1, title))
        commands.append('set title "%s, batch 256 per GPU"' % workload)
        commands.append("plot " + ", ".join(parts))
    commands.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(commands), text=True, check=True)
    os.remove(data)


if __name__ == "__main__":
    main()
