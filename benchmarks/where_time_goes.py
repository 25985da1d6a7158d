#!/usr/bin/env python
"""Where a minigrad training step spends the time the hand-written numpy trainer does not.

Three ways to take the same Adam step of an MNIST-sized MLP (784-25-15-10, batch 128, by default):

    numpy            the hand-written floor (`numpy_reference.NumpyMLP`)
    minigrad         the public API in a hand loop (`bench_mlp.MinigradLoop`)
    minigrad's numpy the numpy calls that minigrad step makes, in a row, with none of its Python
                     bookkeeping around them (`TranscribedStep`; the tests check that it takes the
                     same steps, so it stays a faithful copy)
    fit, replayed    what `model.fit` runs per batch once it replays its traced step
                     (`compile(jit_compile="auto")`, minigrad.replay): the program, then the optimizer

They are timed interleaved, in rotating order, two ways: hot (the same batch, step after step,
everything in the CPU caches) and cold (a pass over 4 MiB of other memory before each step, as a
real epoch's new batch and matrix products evict the caches; that pass's own time is measured alone
and taken off). Bookkeeping = minigrad − minigrad's numpy. The Python bytecodes each step executes
are counted too (sys.settrace), which do not vary from run to run.

    python benchmarks/where_time_goes.py
    python benchmarks/where_time_goes.py --hidden 128,64 --repeats 15
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import MinigradFit, MinigradLoop, limit_threads
from numpy_reference import NumpyMLP, glorot_uniform_params

__all__ = ["FitStep", "TranscribedStep", "bytecodes_per_step", "main"]

EVICT_BYTES = 4 << 20


class TranscribedStep:
    """minigrad's training step (Dense layers, F.softmax_cross_entropy, Adam) as its bare numpy calls.

    Each line is the call minigrad's code makes at that point, in the same order and with the same
    operands, so the results are bit for bit minigrad's; what is missing is everything else
    (Tensors, nodes, the backward walk, the layer, loss and optimizer wrappers).
    """

    def __init__(self, params: list[np.ndarray], learning_rate: float = 1e-3, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        sizes = [p.size for p in params]
        self.data = np.concatenate([p.reshape(-1) for p in params]).astype(np.float32)
        self.grad = np.zeros_like(self.data)
        self.m, self.v, self.tmp = (np.zeros_like(self.data) for _ in range(3))
        bounds = np.cumsum([0, *sizes])
        self.params = [self.data[a:b].reshape(p.shape) for a, b, p in zip(bounds, bounds[1:], params)]
        self.grads = [self.grad[a:b].reshape(p.shape) for a, b, p in zip(bounds, bounds[1:], params)]
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.iterations = 0
        classes = params[-1].shape[0]
        self.identity = np.eye(classes, dtype=np.float32)
        self.class_ones = np.ones(classes, np.float32)
        self.batch_ones: dict[int, np.ndarray] = {}

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One Adam step on the batch; the batch's mean loss before the step."""
        params, n_layers, n = self.params, len(self.params) // 2, len(xb)
        ones = self.batch_ones.get(n)
        if ones is None:
            ones = self.batch_ones[n] = np.ones(n, np.float32)
        # Forward: Dense = the linear node (matmul, bias added into its result), then relu.
        inputs, linear_outputs = [], []
        h = xb
        for i in range(n_layers):
            inputs.append(h)
            z = np.matmul(h, params[2 * i])
            z += params[2 * i + 1]
            linear_outputs.append(z)
            h = np.maximum(z, 0) if i < n_layers - 1 else z
        # F.softmax_cross_entropy: the label check, then the fused node's forward.
        if not yb.view(np.uint64).max() < self.identity.shape[0]:
            raise ValueError("labels out of range")
        row_max = np.maximum.reduce(np.ascontiguousarray(h.T), axis=0)[:, None]
        shifted = h - row_max
        p = np.exp(shifted)
        total = np.dot(p, self.class_ones)[:, None]
        log_total = np.log(total)
        p /= total
        per_row = log_total[:, 0] - shifted[np.arange(n), yb]
        loss = np.asarray(np.add.reduce(per_row, None) / per_row.size, dtype=np.float32)
        # Backward: the seed, the fused node's (p − onehot)·g/N, then each layer's linear and relu.
        seed = np.array(1, dtype=np.float32)
        scale = np.asarray(seed * np.array(1.0 / n, dtype=np.float32))
        d = (p - self.identity.take(yb, axis=0)) * scale
        grads: list[np.ndarray] = [d] * len(params)
        for i in range(n_layers - 1, -1, -1):
            dx = np.matmul(d, params[2 * i].T) if i > 0 else None
            grads[2 * i] = np.matmul(inputs[i].T, d)
            grads[2 * i + 1] = ones @ d
            if i > 0:
                d = dx * (linear_outputs[i - 1] > 0)
        # Adam on the flat buffers: the gradients gathered, then a dozen whole-buffer operations.
        for view, g in zip(self.grads, grads):
            np.copyto(view, g)
        self.iterations += 1
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        g, m, v, tmp = self.grad, self.m, self.v, self.tmp
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp
        np.square(g, out=g)
        g -= v
        g *= 1.0 - self.beta_2
        v += g
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.multiply(m, alpha, out=g)
        g /= tmp
        self.data -= g
        return loss.item()

    def parameters(self) -> list[np.ndarray]:
        return self.params


class FitStep:
    """`model.fit`'s work for one batch once its step is replayed: the traced program (forward and
    backward as numpy calls) and the optimizer step, without fit's loop around them."""

    def __init__(self, params: list[np.ndarray], xb: np.ndarray, yb: np.ndarray, learning_rate: float = 1e-3):
        self.fit = MinigradFit(params, learning_rate)
        model = self.fit.model
        # Three batches of this shape: fit traces the first, checks the trace on the second, replays the third.
        model.fit(np.concatenate([xb] * 3), np.concatenate([yb] * 3), batch_size=len(xb), verbose=0)
        if model.train_function is None or not model.train_function.ready:
            raise RuntimeError(f"fit did not replay its step: {model.train_function and model.train_function.refused}")
        self.step, self.optimizer = model.train_function, model.optimizer

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        loss, _ = self.step(xb, yb)
        self.optimizer.step()
        return float(loss)


def bytecodes_per_step(train_step: Callable[[np.ndarray, np.ndarray], float], xb: np.ndarray,
                       yb: np.ndarray) -> int:
    """How many Python bytecodes one call of `train_step(xb, yb)` executes (after a warm-up call)."""
    train_step(xb, yb)
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        frame.f_trace_opcodes = True
        if event == "opcode":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        train_step(xb, yb)
    finally:
        sys.settrace(None)
    return count


def _timed(steps: dict[str, Callable[[], Any]], repeats: int, number: int) -> dict[str, float]:
    """Median µs per call of each function, interleaved in an order that rotates every repetition."""
    names = list(steps)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        start = rep % len(names)
        for name in names[start:] + names[:start]:
            times[name].append(timeit.timeit(steps[name], number=number) / number * 1e6)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", default="25,15", help="hidden widths (default: 25,15)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved repetitions (default: 9)")
    parser.add_argument("--number", type=int, default=100, help="steps per timing (default: 100)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default: 1)")
    args = parser.parse_args(argv)
    try:
        hidden = [int(h) for h in args.hidden.split(",") if h]
    except ValueError:
        parser.error(f"--hidden must be comma-separated widths such as 25,15, got {args.hidden!r}")
    if not hidden or min(hidden) < 1 or min(args.batch, args.repeats, args.number) < 1:
        parser.error("--hidden widths, --batch, --repeats and --number must be positive whole numbers")
    if problem := limit_threads(args.threads):
        parser.error(problem)

    rng = np.random.default_rng(0)
    params = glorot_uniform_params([784, *hidden, 10], rng)
    xb = rng.random((args.batch, 784), dtype=np.float32)
    yb = rng.integers(0, 10, args.batch)
    trainers = {"numpy": NumpyMLP(params), "minigrad": MinigradLoop(params, 1e-3),
                "minigrad's numpy": TranscribedStep(params), "fit, replayed": FitStep(params, xb, yb)}
    elsewhere = np.ones(EVICT_BYTES // 4, np.float32)

    def evict() -> None:
        elsewhere.sum()

    def hot(trainer: Any) -> Callable[[], Any]:
        return lambda: trainer.train_step(xb, yb)

    def cold(trainer: Any) -> Callable[[], Any]:
        def step() -> None:
            evict()
            trainer.train_step(xb, yb)
        return step

    codes = {name: bytecodes_per_step(t.train_step, xb, yb) for name, t in trainers.items()}
    hot_us = _timed({name: hot(t) for name, t in trainers.items()}, args.repeats, args.number)
    cold_us = _timed({**{name: cold(t) for name, t in trainers.items()}, "evict": evict},
                     args.repeats, args.number)
    evict_us = cold_us.pop("evict")
    cold_us = {name: us - evict_us for name, us in cold_us.items()}

    print(f"784-{'-'.join(map(str, hidden))}-10, batch {args.batch}, Adam; median of {args.repeats} "
          f"interleaved repetitions of {args.number} steps; BLAS threads {args.threads}")
    print(f"cold: a {EVICT_BYTES >> 20} MiB pass before each step ({evict_us:.0f} µs, taken off)\n")
    print("| step | bytecodes | hot µs | × numpy | cold µs | × numpy |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in trainers:
        print(f"| {name} | {codes[name]:,} | {hot_us[name]:.0f} | {hot_us[name] / hot_us['numpy']:.2f} "
              f"| {cold_us[name]:.0f} | {cold_us[name] / cold_us['numpy']:.2f} |")
    bare = "minigrad's numpy"
    print(f"\nminigrad's bookkeeping (minigrad − {bare}): {hot_us['minigrad'] - hot_us[bare]:.0f} µs hot, "
          f"{cold_us['minigrad'] - cold_us[bare]:.0f} µs cold")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
