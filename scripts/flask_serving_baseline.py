#!/usr/bin/env python3
"""The peer of `aimass-coordinator serve`'s online prediction in scripts/bench_serving.sh:
a threaded Flask app (python3-flask) that torch.jit.load()s the very model.pt the service
serves and answers the same route with the same JSON, one forward pass per request.

  make-model --out FILE            torch.jit.script of an MLP 784 -> 256 -> 10 (ReLU), input
                                   [N, 784], seeded: the untrained model the benchmark trains
  bodies --table DIR --out FILE    the first --count records of a converted Fashion-MNIST
                                   table (data convert: id,label,pixel0..783) as request bodies,
                                   one {"instances": [[784 numbers]]} per line
  serve --model FILE --port N      POST /api/v1/models/<name>/predict, bearer token from the
                                   environment (AIMASS_BENCH_TOKEN), features normalized as the
                                   training run did ((x * scale - mean) / std), answer
                                   {"predictions": argmax, "scores": raw outputs,
                                   "model_version": N}; GET /healthz
  compare --bodies FILE --url A --url B --token-file F
                                   posts the first --count bodies to both: the same predictions
                                   and scores within --tolerance, or exit 1 naming the record
"""
import argparse
import gzip
import hmac
import json
import logging
import os
import sys
import urllib.request


def make_model(args):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(784, 256)
            self.out = torch.nn.Linear(256, 10)

        def forward(self, x):
            return self.out(torch.relu(self.hidden(x)))

    torch.manual_seed(args.seed)
    torch.jit.script(Net().eval()).save(args.out)


def bodies(args):
    names = sorted(n for n in os.listdir(args.table) if n.startswith("part-"))
    written = 0
    with open(args.out, "w") as out:
        for name in names:
            path = os.path.join(args.table, name)
            with (gzip.open(path, "rt") if name.endswith(".gz") else open(path)) as f:
                for line in f:
                    if not line[:1].isdigit():
                        continue  # the header
                    fields = line.rstrip("\n").split(",")
                    pixels = [int(v) for v in fields[2:]]
                    if len(pixels) != 784:
                        sys.exit(f"flask_serving_baseline: {path}: {len(pixels)} values, expected 784")
                    out.write(json.dumps({"instances": [pixels]}, separators=(",", ":")) + "\n")
                    written += 1
                    if written == args.count:
                        return
    if written == 0:
        sys.exit(f"flask_serving_baseline: no records in {args.table}")


def serve(args):
    import torch
    from flask import Flask, Response, request

    token = os.environ.get("AIMASS_BENCH_TOKEN", "")
    if not token:
        sys.exit("flask_serving_baseline: AIMASS_BENCH_TOKEN is not set")
    expected_auth = ("Bearer " + token).encode()
    torch.set_num_threads(args.threads)
    model = torch.jit.load(args.model).eval()
    scale, mean, std = args.scale, args.mean, args.std

    app = Flask(__name__)
    # The access log (one line per request on stderr) is off: the service keeps none either.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def error(status, code, message):
        return Response(json.dumps({"error": message, "code": code}), status, mimetype="application/json")

    @app.get("/healthz")
    def healthz():
        return Response('{"ok":true}', 200, mimetype="application/json")

    @app.post("/api/v1/models/<name>/predict")
    def predict(name):
        if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected_auth):
            return error(401, "unauthenticated", "a valid bearer token is required")
        if name != args.name:
            return error(404, "not_found", f"no model '{name}'")
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or not body["instances"]:
            return error(400, "invalid_argument", 'give "instances": a non-empty array')
        try:
            x = torch.tensor(body["instances"], dtype=torch.float32).reshape(len(body["instances"]), -1)
        except (TypeError, ValueError, RuntimeError) as e:
            return error(400, "invalid_argument", f"instances: {e}")
        if x.shape[1] != 784:
            return error(400, "invalid_argument", f"instances: {x.shape[1]} values; the model takes 784")
        x = (x * scale - mean) / std
        with torch.inference_mode():
            scores = model(x)
        answer = {"predictions": scores.argmax(1).tolist(), "scores": scores.tolist(),
                  "model_version": args.version}
        return Response(json.dumps(answer), 200, mimetype="application/json")

    print(f"flask_serving_baseline: serving http://127.0.0.1:{args.port}/ ({args.threads} torch threads)",
          flush=True)
    app.run(host="127.0.0.1", port=args.port, threaded=True)


def post(url, body, token):
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as e:
        sys.exit(f"flask_serving_baseline: POST {url} -> {e.code} {e.read().decode(errors='replace')}")
    except OSError as e:
        sys.exit(f"flask_serving_baseline: POST {url}: {e}")


def compare(args):
    token = open(args.token_file).read().strip()
    with open(args.bodies) as f:
        lines = [line.strip() for line in f if line.strip()][:args.count]
    worst = 0.0
    for index, body in enumerate(lines):
        first, second = (post(url, body, token) for url in args.url)
        for key in ("predictions", "scores"):
            if key not in first or key not in second:
                sys.exit(f"flask_serving_baseline: record {index}: no '{key}' in {first} / {second}")
        if first["predictions"] != second["predictions"]:
            sys.exit(f"flask_serving_baseline: record {index}: predictions differ: "
                     f"{first['predictions']} ({args.url[0]}) vs {second['predictions']} ({args.url[1]})")
        a, b = first["scores"], second["scores"]
        if len(a) != len(b) or any(len(r) != len(s) for r, s in zip(a, b)):
            sys.exit(f"flask_serving_baseline: record {index}: score shapes differ: {a} vs {b}")
        difference = max(abs(u - v) for r, s in zip(a, b) for u, v in zip(r, s))
        worst = max(worst, difference)
        if difference > args.tolerance:
            sys.exit(f"flask_serving_baseline: record {index}: scores differ by {difference:.3g} "
                     f"(> {args.tolerance:g}): {a} vs {b}")
    print(f"{len(lines)} records: the same predictions, scores within {worst:.2g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("make-model")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("bodies")
    p.add_argument("--table", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=64)
    p = commands.add_parser("serve")
    p.add_argument("--model", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default="bench", help="the model name in the route")
    p.add_argument("--version", type=int, default=1, help="reported as model_version")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--scale", type=float, default=1 / 255)
    p.add_argument("--mean", type=float, default=0.0)
    p.add_argument("--std", type=float, default=1.0)
    p = commands.add_parser("compare")
    p.add_argument("--bodies", required=True)
    p.add_argument("--url", action="append", required=True, help="twice: the two predict URLs")
    p.add_argument("--token-file", required=True)
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    if args.command == "compare" and len(args.url) != 2:
        parser.error("compare needs --url twice")
    {"make-model": make_model, "bodies": bodies, "serve": serve, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
