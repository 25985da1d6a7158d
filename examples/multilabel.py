"""Multi-label classification: one sigmoid per label, trained with the fused sigmoid cross-entropy.

An image can show a car, a bus and a pedestrian at once, so the three answers are independent
yes/no questions: three sigmoid outputs (their probabilities need not sum to 1), not one softmax.
The data is synthetic (6 features per "image", each label a different rule of them, one of which
a straight line cannot separate). The network is written with the engine alone: plain Tensor
parameters, `F.sigmoid_binary_cross_entropy` on the logits, and Adam written out by hand.

Run:  python examples/multilabel.py [--steps 400] [--plain]
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor
from viz.softmax_demo import terminal_console

LABELS = ("car", "bus", "pedestrian")


def make_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n samples of 6 features and 3 independent 0/1 labels (float32)."""
    x = np.random.default_rng(seed).normal(size=(n, 6)).astype(np.float32)
    car = x[:, 0] + x[:, 1] > 0  # a straight line
    bus = x[:, 2] * x[:, 3] > 0  # opposite quadrants: needs the hidden layer
    pedestrian = x[:, 4] ** 2 + x[:, 5] ** 2 < 1.4  # inside a circle
    return x, np.stack([car, bus, pedestrian], axis=1).astype(np.float32)


def init_params(hidden: int, seed: int) -> list[Tensor]:
    """Glorot-uniform weights and zero biases for 6 -> hidden (relu) -> 3 (logits)."""
    mg.manual_seed(seed)
    params = []
    for fan_in, fan_out in ((6, hidden), (hidden, len(LABELS))):
        limit = np.sqrt(6 / (fan_in + fan_out))
        params.append(Tensor((mg.rand(fan_in, fan_out).data * 2 - 1) * limit, requires_grad=True))
        params.append(mg.zeros(fan_out).requires_grad_())
    return params


def logits(params: list[Tensor], x: Any) -> Tensor:
    w1, b1, w2, b2 = params
    return (Tensor(x) @ w1 + b1).relu() @ w2 + b2


def per_label_accuracy(params: list[Tensor], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fraction right for each label, predicting yes when sigmoid(z) > 0.5 (that is, z > 0)."""
    with mg.no_grad():
        predicted = logits(params, x).data > 0
    return (predicted == (y > 0.5)).mean(axis=0)


def train(steps: int = 400, n_train: int = 1000, hidden: int = 32, learning_rate: float = 0.02,
          seed: int = 0) -> dict[str, Any]:
    """Full-batch Adam on the fused loss; returns accuracies before and after, and the losses."""
    x, y = make_data(n_train, seed)
    x_test, y_test = make_data(1000, seed + 1)
    params = init_params(hidden, seed)
    before = per_label_accuracy(params, x_test, y_test)
    m = [np.zeros_like(p.data) for p in params]
    v = [np.zeros_like(p.data) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-7
    losses = []
    for t in range(1, steps + 1):
        for p in params:
            p.grad = None
        loss = F.sigmoid_binary_cross_entropy(logits(params, x), y)  # one fused node, grad sigmoid(z) − y
        loss.backward()
        losses.append(loss.item())
        alpha = learning_rate * np.sqrt(1 - beta2**t) / (1 - beta1**t)  # Keras' Adam step size
        with mg.no_grad():
            for p, m_i, v_i in zip(params, m, v):
                g = p.grad.data
                m_i += (1 - beta1) * (g - m_i)
                v_i += (1 - beta2) * (g * g - v_i)
                p.data -= alpha * m_i / (np.sqrt(v_i) + eps)
    after = per_label_accuracy(params, x_test, y_test)
    with mg.no_grad():
        predicted = logits(params, x_test).data > 0
        sample = F.sigmoid(logits(params, x_test[:4])).data
    exact_match = float((predicted == (y_test > 0.5)).all(axis=1).mean())
    return {"before": before, "after": after, "exact_match": exact_match, "losses": losses,
            "sample_probabilities": sample, "sample_labels": y_test[:4]}


def main(steps: int = 400, n_train: int = 1000, console: Any = None, plain: bool = False) -> dict[str, Any]:
    """Train, then print the per-label accuracy before and after and a few predictions."""
    result = train(steps=steps, n_train=n_train)
    losses = result["losses"]
    checkpoints = sorted({0, len(losses) // 4, len(losses) // 2, 3 * len(losses) // 4, len(losses) - 1})
    loss_line = "loss (fused sigmoid BCE): " + ", ".join(f"step {i + 1}: {losses[i]:.4f}" for i in checkpoints)
    accuracy_rows = [(name, f"{b:.3f}", f"{a:.3f}") for name, b, a in zip(LABELS, result["before"], result["after"])]
    sample_rows = [(f"image {i}", *(f"{p:.2f}" for p in probs), " ".join(n for n, t in zip(LABELS, truth) if t) or "-")
                   for i, (probs, truth) in enumerate(zip(result["sample_probabilities"], result["sample_labels"]))]
    closing = (f"All three labels right on {result['exact_match']:.1%} of the test images. Each row of "
               "probabilities is three separate answers, so it need not sum to 1.")
    console = terminal_console(console, plain)
    if console is None:
        print(loss_line)
        print(f"\n{'label':<12}{'before':>8}{'after':>8}   (test accuracy)")
        for row in accuracy_rows:
            print(f"{row[0]:<12}{row[1]:>8}{row[2]:>8}")
        print(f"\n{'':<9}" + "".join(f"{n:>12}" for n in LABELS) + "   true labels")
        for row in sample_rows:
            print(f"{row[0]:<9}" + "".join(f"{c:>12}" for c in row[1:4]) + f"   {row[4]}")
        print("\n" + textwrap.fill(closing, 100))
        return result
    from rich.table import Table

    console.print(loss_line, markup=False, highlight=False)
    table = Table(title="Test accuracy per label")
    for name in ("label", "before training", "after training"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for row in accuracy_rows:
        table.add_row(*row)
    console.print(table)
    samples = Table(title="sigmoid(z) for four test images")
    for name in ("", *LABELS, "true labels"):
        samples.add_column(name, justify="right" if name in LABELS else "left")
    for row in sample_rows:
        samples.add_row(*row)
    console.print(samples)
    console.print(closing, markup=False, highlight=False)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="full-batch Adam steps (default 400)")
    parser.add_argument("--plain", action="store_true", help="plain text instead of rich tables")
    args = parser.parse_args()
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    main(steps=args.steps, plain=args.plain)
