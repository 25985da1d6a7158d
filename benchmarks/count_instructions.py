#!/usr/bin/env python
"""Instructions per training step (valgrind's callgrind), minigrad next to the hand-written numpy floor.

Wall-clock time on a shared machine moves by 20-50% from minute to minute; instruction counts do
not move at all, so they show whether a change to the engine made a step cheaper, down to 1%.
On a tiny network (the default: 4-3-3-2, batch 2) a step is nearly all framework overhead; at
MNIST sizes (`--hidden 25,15 --features 784 --batch 128`) it includes the BLAS work. Python code
runs at a lower IPC than numpy's kernels, so a Python instruction saved is worth more time than
a numpy one: confirm a change with `bench_mlp.py`.

    python benchmarks/count_instructions.py                     # needs valgrind (apt install valgrind)
    python benchmarks/count_instructions.py --hidden 25,15 --features 784 --batch 128 --steps 40

Each count is (a run of N steps) - (a run of 0 steps), over N, with only the steps' code counted
(callgrind collects inside `map()`, which runs them), BLAS on one thread.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["count", "main", "run_steps"]

IMPLEMENTATIONS = ("numpy", "minigrad-loop", "minigrad-fit")


def run_steps(name: str, hidden: list[int], features: int, batch: int, steps: int) -> float:
    """Train `name` for `steps` steps on random data (after 3 warm-up steps); the last loss."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import bench_mlp
    from numpy_reference import glorot_uniform_params

    rng = np.random.default_rng(0)
    x = rng.random((batch * 4, features), dtype=np.float32)
    y = np.minimum(x[:, 0] * 10, 9).astype(np.int64)  # a learnable label: the loss falls as it trains
    params = glorot_uniform_params([features, *hidden, 10], rng)
    trainer = bench_mlp.make_trainer(name, params)
    if name == "minigrad-fit":
        # fit runs whole epochs: one epoch of `steps` batches, so its per-epoch setup is counted too
        # (map() again, for callgrind)
        xs, ys = np.resize(x, (batch * max(steps, 1), features)), np.resize(y, batch * max(steps, 1))
        trainer.train_epoch(x[:batch], y[:batch], batch, np.arange(batch))
        epochs = [len(xs)] if steps else []
        losses = list(map(lambda n: trainer.train_epoch(xs, ys, batch, np.arange(n)), epochs))  # noqa: C417
        return losses[-1] if losses else float("nan")
    batches = [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(4)]
    for xb, yb in batches[:3]:
        trainer.train_step(xb, yb)
    # map(), not a comprehension: callgrind collects only inside map_next, i.e. in the steps
    losses = list(map(lambda i: trainer.train_step(*batches[i % 4]), range(steps)))  # noqa: C417
    return losses[-1] if losses else float("nan")


def count(name: str, hidden: list[int], features: int, batch: int, steps: int) -> int:
    """Instructions per step of implementation `name`, from two callgrind runs (N steps and 0 steps)."""
    totals = []
    for n in (0, steps):
        command = ["valgrind", "--tool=callgrind", "--toggle-collect=map_next", "--callgrind-out-file=/dev/null",
                   sys.executable, __file__, "--child", name, "--hidden", ",".join(map(str, hidden)),
                   "--features", str(features), "--batch", str(batch), "--steps", str(n)]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        found = re.search(r"Collected : (\d+)", result.stderr)
        if result.returncode != 0 or not found:
            raise RuntimeError(f"count_instructions: the {name} run failed:\n{result.stderr[-2000:]}")
        totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) // max(steps, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", default="3,3", help="hidden widths (default: 3,3)")
    parser.add_argument("--features", type=int, default=4, help="input width (default: 4; MNIST: 784)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default: 2; MNIST runs: 128)")
    parser.add_argument("--steps", type=int, default=200, help="steps counted (default: 200)")
    parser.add_argument("--impls", default=",".join(IMPLEMENTATIONS), help="comma-separated implementations")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h]
    except ValueError:
        parser.error(f"--hidden must be comma-separated widths such as 25,15, got {args.hidden!r}")
    if not hidden or min(hidden) < 1 or args.features < 1 or args.batch < 1 or args.steps < (0 if args.child else 1):
        parser.error("--hidden widths, --features, --batch and --steps must be positive whole numbers")
    if args.child:
        run_steps(args.child, hidden, args.features, args.batch, args.steps)
        return 0
    if shutil.which("valgrind") is None:
        print("count_instructions: needs valgrind on PATH (Debian/Ubuntu: apt install valgrind)", file=sys.stderr)
        return 2
    names = [n for n in args.impls.split(",") if n]
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        print(f"count_instructions: unknown implementation(s) {unknown}; choose from {IMPLEMENTATIONS}", file=sys.stderr)
        return 2
    counts = {name: count(name, hidden, args.features, args.batch, args.steps) for name in names}
    base = counts.get("numpy")
    print(f"network {args.features}-{'-'.join(map(str, hidden))}-10, batch {args.batch}, {args.steps} steps counted")
    print("| implementation | instructions per step | × numpy |\n|---|---:|---:|")
    for name, n in counts.items():
        ratio = f"{n / base:.2f}" if base else ""
        print(f"| {name} | {n:,} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
