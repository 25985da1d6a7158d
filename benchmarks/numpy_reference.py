"""Hand-written numpy MLP training: the floor minigrad's speed is measured against.

The recipe is the one the benchmark gives every implementation: float32 throughout, glorot-uniform
kernels and zero biases, relu hidden layers, a linear output layer trained with the fused
softmax-cross-entropy gradient (p - onehot(y)) / N, Adam with Keras' update
(alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t); p -= alpha * m / (sqrt(v) + epsilon)), batches of
128, shuffled every epoch.

It is written the way a careful person writes numpy by hand, not golfed: every temporary that can
be reused is (Adam updates m, v and the step in place with `out=`), nothing is copied needlessly,
and nothing is fused beyond what numpy offers. numpy calls per training step for L Dense layers:

    gather the batch          2             x[idx], y[idx]
    forward                   3(L-1) + 2    matmul, += bias, relu (in place); last layer: matmul, += bias
    loss and its gradient     13            max, -=, exp, sum, log, sum, z[rows, y], sum, /= s,
                                            e[rows, y] -= 1 (get, subtract, set), /= N
    backward                  2L + 3(L-1)   grad kernel (matmul), grad bias (sum); d @ W.T, mask, *=
    Adam                      12 * 2L       per parameter: see `NumpyMLP._adam`

which is 107 for the 3-layer networks of the benchmark, 72 of them in Adam (tests count them).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["NumpyMLP", "glorot_uniform_params", "numpy_calls_per_step", "run_epoch"]


def glorot_uniform_params(sizes: list[int], rng: np.random.Generator) -> list[np.ndarray]:
    """[W0, b0, W1, b1, ...] for layer widths `sizes` (input first): W ~ U(±sqrt(6/(fan_in+fan_out))), b = 0."""
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
        params.append(np.zeros(fan_out, dtype=np.float32))
    return params


def numpy_calls_per_step(n_layers: int) -> int:
    """How many numpy calls one `NumpyMLP.train_step` makes for `n_layers` Dense layers (see module doc)."""
    return 2 + (3 * (n_layers - 1) + 2) + 13 + (2 * n_layers + 3 * (n_layers - 1)) + 12 * 2 * n_layers


class NumpyMLP:
    """An MLP (relu hidden layers, linear output) trained with softmax cross-entropy and Adam, in numpy."""

    def __init__(self, params: list[np.ndarray], learning_rate: float = 1e-3, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        if len(params) % 2 or not params:
            raise ValueError(f"NumpyMLP: params must be [W0, b0, W1, b1, ...], got {len(params)} arrays")
        # Copies, so several implementations can start from the same initial arrays.
        self.params = [np.array(p, dtype=np.float32) for p in params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]  # Adam's temporaries, reused every step
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.iterations = 0
        self._rows = np.arange(0)

    @property
    def n_layers(self) -> int:
        return len(self.params) // 2

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The output layer's pre-activations for a batch `x` (N, in)."""
        h = x
        for i in range(self.n_layers):
            z = h @ self.params[2 * i]
            z += self.params[2 * i + 1]
            if i < self.n_layers - 1:
                np.maximum(z, 0, out=z)
            h = z
        return h

    def accuracy(self, x: np.ndarray, y: np.ndarray, batch_size: int = 10_000) -> float:
        """Fraction of rows of `x` whose largest logit is at the label `y`."""
        correct = 0
        for start in range(0, len(x), batch_size):
            correct += int((self.logits(x[start:start + batch_size]).argmax(axis=1) == y[start:start + batch_size]).sum())
        return correct / len(x)

    def gradients(self, xb: np.ndarray, yb: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """(mean loss, [dW0, db0, dW1, ...]) on the batch (xb float32 (N, in), yb int labels (N,))."""
        params, n_layers = self.params, self.n_layers
        n = len(xb)
        if len(self._rows) < n:
            self._rows = np.arange(n)
        rows = self._rows[:n]

        # Forward, keeping each layer's input for the backward pass.
        inputs = []
        h = xb
        for i in range(n_layers):
            inputs.append(h)
            z = h @ params[2 * i]
            z += params[2 * i + 1]
            if i < n_layers - 1:
                np.maximum(z, 0, out=z)
            h = z

        # Fused softmax cross-entropy: loss = logsumexp(z) - z_y, gradient (softmax(z) - onehot(y)) / N.
        z = h
        z -= z.max(axis=1, keepdims=True)  # shifting by the row max changes nothing but overflow
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = (float(np.log(s).sum()) - float(z[rows, yb].sum())) / n
        e /= s
        e[rows, yb] -= 1.0
        e /= n
        d = e

        # Backward: layer i's kernel gradient is input_i^T d, its bias gradient the column sums of d.
        grads: list[np.ndarray] = [d] * len(params)
        for i in range(n_layers - 1, -1, -1):
            grads[2 * i] = inputs[i].T @ d
            grads[2 * i + 1] = d.sum(axis=0)
            if i > 0:
                d = d @ params[2 * i].T
                d *= inputs[i] > 0  # relu's derivative, from its output
        return loss, grads

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One Adam step on the batch; returns the batch's mean loss (before the step)."""
        loss, grads = self.gradients(xb, yb)
        self._adam(grads)
        return loss

    def parameters(self) -> list[np.ndarray]:
        """The current [W0, b0, W1, b1, ...] (kernels (in, out), as Keras stores them)."""
        return self.params

    def _adam(self, grads: list[np.ndarray]) -> None:
        """Keras' Adam, in place: 12 numpy calls per parameter, no allocation."""
        self.iterations += 1
        t = self.iterations
        b1, b2 = self.beta_1, self.beta_2
        alpha = self.learning_rate * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.scratch):
            v *= b2                           # v = b2 v + (1 - b2) g^2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v += tmp
            m *= b1                           # m = b1 m + (1 - b1) g  (g is ours to overwrite)
            g *= 1.0 - b1
            m += g
            np.sqrt(v, out=tmp)               # p -= alpha m / (sqrt(v) + eps)
            tmp += self.epsilon
            np.divide(m, tmp, out=tmp)
            tmp *= alpha
            p -= tmp

    def train_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, order: np.ndarray) -> float:
        """One pass over (x, y) in the given sample order, batch by batch; returns the mean batch loss."""
        return run_epoch(self.train_step, x, y, batch_size, order)


def run_epoch(train_step: Callable[[Any, Any], float], x: Any, y: Any, batch_size: int, order: Any) -> float:
    """train_step(x[idx], y[idx]) for each batch of indices in `order`; the mean of the losses it returns."""
    total, steps = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        total += train_step(x[idx], y[idx])
        steps += 1
    return total / max(steps, 1)
