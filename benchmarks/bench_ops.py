#!/usr/bin/env python
"""Per-op overhead of minigrad in microseconds, next to raw numpy (and PyTorch when installed).

On tiny arrays an op's cost is almost all bookkeeping (wrapping, recording the node), so these
numbers say how much a framework adds per op; at MNIST batch sizes a training step makes ~50
ops forward and backward plus the optimizer, so 10 µs of overhead per op is ~1 ms per step.

    python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --shape 128,64 --repeat 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["benchmarks", "main", "measure"]


def measure(fn: Callable[[], Any], repeat: int = 7, target_seconds: float = 0.05) -> tuple[float, float]:
    """(min, median) microseconds per call of `fn`, over `repeat` timeit runs of ~target_seconds each."""
    timer = timeit.Timer(fn)
    number = 1
    while True:  # calibrate: grow the call count until one run takes a tenth of the target
        elapsed = timer.timeit(number)
        if elapsed >= target_seconds / 10 or number >= 10**7:
            break
        number *= 10
    number = max(1, round(number * target_seconds / max(elapsed, 1e-9)))
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]
    return min(runs), statistics.median(runs)


def benchmarks(shape: tuple[int, ...], with_torch: bool) -> list[tuple[str, Callable[[], Any]]]:
    """(label, zero-argument callable) pairs: each callable does the op once."""
    import minigrad as mg

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal(shape).astype(np.float32)
    b_np = rng.standard_normal(shape).astype(np.float32)
    square = (shape[-1], shape[-1])
    w_np = rng.standard_normal(square).astype(np.float32)
    a, b = mg.Tensor(a_np), mg.Tensor(b_np)
    ag, bg, wg = (mg.Tensor(v, requires_grad=True) for v in (a_np, b_np, w_np))

    def tiny_graph_forward() -> Any:
        return ((ag * bg + ag) @ wg).sum()

    def tiny_graph_forward_backward() -> None:
        ag.grad = bg.grad = wg.grad = None
        tiny_graph_forward().backward()

    def add_no_grad() -> Any:
        with mg.no_grad():
            return ag + bg

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("numpy a + b", lambda: a_np + b_np),
        ("minigrad a + b (no requires_grad)", lambda: a + b),
        ("minigrad a + b (requires_grad: records a node)", lambda: ag + bg),
        ("minigrad a + b (requires_grad, inside no_grad)", add_no_grad),
        ("minigrad a + 1.0 (Python scalar)", lambda: a + 1.0),
        ("numpy a @ w", lambda: a_np @ w_np),
        ("minigrad a @ w (requires_grad)", lambda: ag @ wg),
        ("numpy relu (np.maximum(a, 0))", lambda: np.maximum(a_np, 0)),
        ("minigrad a.relu() (requires_grad)", lambda: ag.relu()),
        ("minigrad a.sum() (requires_grad)", lambda: ag.sum()),
        ("minigrad tiny graph forward (4 ops)", tiny_graph_forward),
        ("minigrad tiny graph forward + backward", tiny_graph_forward_backward),
        ("numpy np.asarray(array)", lambda: np.asarray(a_np)),
        ("minigrad Tensor(array)", lambda: mg.Tensor(a_np)),
        ("minigrad Tensor(array, requires_grad=True)", lambda: mg.Tensor(a_np, requires_grad=True)),
        ("minigrad Tensor._wrap(array) (internal fast path)", lambda: mg.Tensor._wrap(a_np)),
    ]
    if with_torch:
        import torch

        ta, tb, tw = torch.from_numpy(a_np), torch.from_numpy(b_np), torch.from_numpy(w_np)
        tag, tbg, twg = (t.clone().requires_grad_(True) for t in (ta, tb, tw))

        def torch_graph_forward_backward() -> None:
            tag.grad = tbg.grad = twg.grad = None
            ((tag * tbg + tag) @ twg).sum().backward()

        cases += [
            ("torch a + b (no requires_grad)", lambda: ta + tb),
            ("torch a + b (requires_grad)", lambda: tag + tbg),
            ("torch a @ w (requires_grad)", lambda: tag @ twg),
            ("torch tiny graph forward + backward", torch_graph_forward_backward),
            ("torch torch.from_numpy(array)", lambda: torch.from_numpy(a_np)),
        ]
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-op overhead of minigrad (µs per call) next to numpy "
                                                 "and, when installed, PyTorch.")
    parser.add_argument("--shape", default="4,4", help="operand shape, comma-separated (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=7, help="timeit runs per op (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=0.05,
                        help="approximate length of one timeit run (default: %(default)s)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when it is installed")
    args = parser.parse_args(argv)
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
    except ValueError:
        parser.error(f"--shape: {args.shape!r} is not a comma-separated list of ints such as 4,4")
    if not shape or any(s <= 0 for s in shape) or args.repeat < 1 or args.seconds <= 0:
        parser.error("--shape needs positive dimensions, --repeat >= 1 and --seconds > 0")
    with_torch = False
    if not args.no_torch:
        try:
            import torch  # noqa: F401  (imported before any timing)

            with_torch = True
        except ImportError:
            pass

    print(f"float32 operands of shape {shape}; min and median of {args.repeat} timeit runs, µs per call")
    print(f"| {'operation':<52} | {'min µs':>8} | {'median µs':>9} |")
    print(f"|{'-' * 54}|{'-' * 9}:|{'-' * 10}:|")
    for label, fn in benchmarks(shape, with_torch):
        low, mid = measure(fn, args.repeat, args.seconds)
        print(f"| {label:<52} | {low:8.2f} | {mid:9.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
