#!/usr/bin/python3
"""Training speed: mnemo-train against the same training loop in PyTorch.

Target: one epoch of `mlp` with batch 64 on Fashion-MNIST takes at most 1.5x PyTorch's
time on the same machine with the same thread count, measured side by side in one run.
A `cnn` case (200 steps) is timed too.

Both sides train the same model with SGD (lr 0.05, momentum 0.9), batch 64, shuffled,
on the same number of threads (torch.set_num_threads(N), and OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS = N in both processes' environments). Runs alternate between the
two sides; each figure is the median of several repetitions.

PyTorch's time is its training loop alone: interpreter start-up, `import torch` and data
loading are excluded. mnemo's is the "train_seconds" mnemo-train prints after its
training loop (the whole process is timed against a build that does not print it). A
one-step run of mnemo-train estimates its start-up and data loading; the table shows
that estimate, for information.

Run with Debian's /usr/bin/python3 (the one with python3-torch). --help for options.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

TARGET = 1.5
LR, MOMENTUM, BATCH = 0.05, 0.9, 64
DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"

# label, model, steps (None: one whole epoch), whether the target applies, default repetitions
CASES = [
    {"label": "mlp, 1 epoch", "model": "mlp", "max_steps": None, "gated": True, "reps": 5},
    {"label": "cnn, 200 steps", "model": "cnn", "max_steps": 200, "gated": False, "reps": 3},
]


# --- the PyTorch side: this file run with --torch-worker, one process per repetition ------

def torch_worker(args):
    started = time.perf_counter()
    import gzip

    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)

    def idx(name, header):
        with gzip.open(os.path.join(args.data, name), "rb") as f:
            return np.frombuffer(f.read(), dtype=np.uint8, offset=header)

    images = torch.from_numpy(idx("train-images-idx3-ubyte.gz", 16).copy()).view(-1, 1, 28, 28)
    labels = torch.from_numpy(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    inputs = (images.float() / 255 - torch.tensor(0.2860)) / torch.tensor(0.3530)
    n = labels.numel()

    torch.manual_seed(0)
    if args.model == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    generator = torch.Generator().manual_seed(0)
    batches = (n + BATCH - 1) // BATCH
    total = batches if args.max_steps is None else min(batches, args.max_steps)

    ready = time.perf_counter()
    model.train()
    order = torch.randperm(n, generator=generator)
    loss_sum, correct = 0.0, 0
    for b in range(total):
        index = order[b * BATCH:(b + 1) * BATCH]
        x, y = inputs[index], labels[index]
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        # What mnemo-train computes every step too: the loss and the accuracy so far.
        loss_sum += loss.item()
        correct += (logits.detach().argmax(1) == y).sum().item()
    done = time.perf_counter()

    print(json.dumps({"train_s": done - ready, "setup_s": ready - started, "steps": total,
                      "mean_loss": loss_sum / total, "torch": torch.__version__,
                      "blas_core": openblas_core()}))


def openblas_core():
    """The kernel set the OpenBLAS loaded in this process uses, or None."""
    import ctypes
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libopenblas" in line}
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return None


# --- the runner --------------------------------------------------------------------------

def environment(threads, coretype):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["OPENBLAS_NUM_THREADS"] = str(threads)
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def run_torch(args, model, max_steps, env):
    command = [sys.executable, os.path.abspath(__file__), "--torch-worker", "--model", model,
               "--threads", str(args.threads), "--data", args.data]
    if max_steps is not None:
        command += ["--max-steps", str(max_steps)]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("PyTorch run failed:\n" + result.stdout + result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


TRAIN_SECONDS = re.compile(r'"train_seconds"\s*:\s*([0-9.eE+-]+)')


def run_mnemo(args, model, max_steps, env):
    command = [args.mnemo_train, "--model", model, "--data", args.data, "--epochs", "1",
               "--batch-size", str(BATCH), "--optimizer", "sgd", "--lr", str(LR),
               "--momentum", str(MOMENTUM), "--quiet"]
    if max_steps is not None:
        command += ["--max-steps", str(max_steps)]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit("mnemo-train failed: " + " ".join(command) + "\n" + result.stdout + result.stderr)
    reported = TRAIN_SECONDS.search(result.stdout)
    return {"process_s": wall, "train_s": float(reported.group(1)) if reported else None}


def bench_case(args, case, env):
    label, model, max_steps = case["label"], case["model"], case["max_steps"]
    reps = args.reps or case["reps"]
    torch_runs, mnemo_runs, setup_runs = [], [], []
    for _ in range(args.warmup):  # one-step runs: page cache, bytecode cache
        run_torch(args, model, 1, env)
        run_mnemo(args, model, 1, env)
    for rep in range(reps):
        # Alternate which side goes first, so that drifts in machine load fall on both.
        if rep % 2 == 0:
            torch_runs.append(run_torch(args, model, max_steps, env))
            mnemo_runs.append(run_mnemo(args, model, max_steps, env))
        else:
            mnemo_runs.append(run_mnemo(args, model, max_steps, env))
            torch_runs.append(run_torch(args, model, max_steps, env))
        setup_runs.append(run_mnemo(args, model, 1, env)["process_s"])
        print(f"  {label} rep {rep + 1}/{reps}: pytorch {torch_runs[-1]['train_s']:.3f} s,"
              f" mnemo {mnemo_runs[-1]['process_s']:.3f} s", file=sys.stderr, flush=True)

    pytorch = statistics.median(r["train_s"] for r in torch_runs)
    reported = [r["train_s"] for r in mnemo_runs if r["train_s"] is not None]
    process = statistics.median(r["process_s"] for r in mnemo_runs)
    setup = statistics.median(setup_runs)
    self_timed = len(reported) == len(mnemo_runs)
    mnemo = statistics.median(reported) if self_timed else process
    return {
        "case": label, "model": model, "steps": torch_runs[0]["steps"], "reps": reps,
        "gated": case["gated"],
        "pytorch_train_s": pytorch,
        "mnemo_s": mnemo, "mnemo_timing": "train_seconds" if self_timed else "process",
        "mnemo_process_s": process, "mnemo_setup_s": setup,
        "ratio": mnemo / pytorch,
        "ratio_without_setup": max(process - setup, 0.0) / pytorch,
        "torch": torch_runs[0]["torch"], "pytorch_blas_core": torch_runs[0]["blas_core"],
    }


def print_table(rows, args, coretype):
    first = rows[0]
    print(f"\nmnemo-train vs PyTorch {first['torch']}: SGD(lr {LR}, momentum {MOMENTUM}), batch {BATCH},"
          f" shuffled; {args.threads} thread(s) on both sides; medians of alternating runs")
    print(f"OPENBLAS_CORETYPE={coretype or '(unset: as detected)'};"
          f" PyTorch's OpenBLAS kernels: {first['pytorch_blas_core'] or 'unknown'}")
    header = (f"{'case':<16} {'steps':>5} {'reps':>4} {'pytorch s':>10} {'mnemo s':>9} {'ratio':>7}"
              f" {'target':>7}  result   {'mnemo setup s':>13} {'ratio w/o setup':>15}")
    print(header)
    print("-" * len(header))
    for r in rows:
        result = ("PASS" if r["ratio"] <= TARGET else "MISS") if r["gated"] else "-"
        target = f"{TARGET:>6.1f}x" if r["gated"] else f"{'-':>7}"
        print(f"{r['case']:<16} {r['steps']:>5} {r['reps']:>4} {r['pytorch_train_s']:>10.3f} {r['mnemo_s']:>9.3f}"
              f" {r['ratio']:>6.2f}x {target}  {result:<6}   {r['mnemo_setup_s']:>13.3f}"
              f" {r['ratio_without_setup']:>14.2f}x")
    if any(r["mnemo_timing"] == "process" for r in rows):
        print("mnemo s: the whole mnemo-train process (it prints no training time), so start-up"
              " and data loading\n  are counted against mnemo; pytorch s: the training loop alone"
              " (import and data loading excluded).")
    if not coretype and first["pytorch_blas_core"] == "Prescott":
        print("OpenBLAS fell back to its generic Prescott kernels here. mnemo-train then re-executes"
              " itself with\n  OPENBLAS_CORETYPE=Haswell (on a CPU with AVX2 and FMA); PyTorch keeps"
              " Prescott. Same kernels: the Haswell table.")
    print("mnemo setup s: a --max-steps 1 run of mnemo-train (start-up, data loading, one step);"
          " 'ratio w/o setup'\n  subtracts it, an estimate for information. The target applies"
          " to the mlp case.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", default="build", help="where bin/mnemo-train is (default: build)")
    parser.add_argument("--mnemo-train", help="mnemo-train to time (default: BUILD_DIR/bin/mnemo-train)")
    parser.add_argument("--data", default=DEFAULT_DATA, help="Fashion-MNIST directory")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)),
                        help="threads for both sides (default: $BENCH_THREADS or 1)")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 0)),
                        help="timed repetitions per side and case (default: $BENCH_REPS,"
                             " else 5 for mlp and 3 for cnn)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed one-step runs per side first")
    parser.add_argument("--coretypes", default=os.environ.get("BENCH_OPENBLAS_CORETYPES", ",Haswell"),
                        help="comma-separated OPENBLAS_CORETYPE settings, one table each, both sides"
                             " alike; an empty one leaves it unset: OpenBLAS detects the CPU"
                             " (default: $BENCH_OPENBLAS_CORETYPES, else ',Haswell': both)")
    parser.add_argument("--cases", default=",".join(c["model"] for c in CASES), help="mlp,cnn")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--max-steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.torch_worker:
        torch_worker(args)
        return 0

    sys.stdout.reconfigure(line_buffering=True)  # the table and the progress lines, in order
    args.mnemo_train = args.mnemo_train or os.path.join(args.build_dir, "bin", "mnemo-train")
    if not os.access(args.mnemo_train, os.X_OK):
        sys.exit(f"no mnemo-train at {args.mnemo_train}: build it first (make build)")
    wanted = set(args.cases.split(","))
    results, missed = [], False
    for coretype in args.coretypes.split(","):
        env = environment(args.threads, coretype.strip())
        rows = [bench_case(args, case, env) for case in CASES if case["model"] in wanted]
        print_table(rows, args, coretype.strip())
        for r in rows:
            r["openblas_coretype"] = coretype.strip() or None
            r["threads"] = args.threads
            missed |= r["gated"] and r["ratio"] > TARGET
        results += rows
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
