"""Composite functions built from primitives, and the fused losses (minigrad.functional as F)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad import replay
from minigrad.engine import scope
from minigrad.fused import SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy
from minigrad.tensor import Tensor, _axes, _axis

__all__ = [
    "binary_cross_entropy",
    "cross_entropy",
    "log_softmax",
    "logsumexp",
    "mse",
    "naive_softmax",
    "relu",
    "sigmoid",
    "sigmoid_binary_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "tanh",
]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def softmax(z: Any, axis: int = -1) -> Tensor:
    """softmax(z)_i = exp(z_i - m) / sum_j exp(z_j - m), m = max(z) (detached), along axis."""
    z = _tensor(z)
    axis = _axis(axis, z.ndim, "softmax")  # errors name softmax, not the max inside it
    with scope("softmax"):
        m = z.max(axis=axis, keepdims=True).detach()
        m.name = "max (detached)"  # the shift changes no value or gradient, only avoids overflow
        shifted = z - m
        e = shifted.exp()
        p = e / e.sum(axis=axis, keepdims=True)
    if axis == max(z.ndim - 1, 0):
        # Lets a from_logits=False loss recover the logits and use the fused op, with or without
        # a recorded graph (evaluate runs under no_grad).
        p._logits = ("softmax", z)
    return p


def naive_softmax(z: Any, axis: int = -1) -> Tensor:
    """exp(z) / sum(exp(z)) with no shift: overflows to inf/nan for large z (kept to show why)."""
    z = _tensor(z)
    axis = _axis(axis, z.ndim, "naive_softmax")
    with scope("naive_softmax"):
        e = z.exp()
        return e / e.sum(axis=axis, keepdims=True)


def logsumexp(z: Any, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False) -> Tensor:
    """log(sum(exp(z))) = m + log(sum(exp(z - m))), m = max(z) detached; axis: int, tuple or None (all)."""
    z = _tensor(z)
    if z.ndim == 0:
        return z  # one term: log(exp(z)) = z
    axis = _axes(axis, z.ndim, "logsumexp")  # errors name logsumexp, not the max inside it
    with scope("logsumexp"):
        m = z.max(axis=axis, keepdims=True).detach()
        # An all -inf slice has m = -inf and z - m = nan; shifting by 0 there gives the right -inf.
        m = Tensor._wrap(np.where(np.isfinite(m.data), m.data, 0).astype(m.dtype))
        total = (z - m).exp().sum(axis=axis, keepdims=keepdims).log()
        # m holds the reduced axes as 1s; a sum without keepdims dropped them, so m drops them too.
        return total + (m if keepdims else Tensor._wrap(m.data.reshape(total.shape)))


def log_softmax(z: Any, axis: int = -1) -> Tensor:
    """log softmax(z) = z - logsumexp(z), along axis."""
    z = _tensor(z)
    axis = _axis(axis, z.ndim, "log_softmax")
    with scope("log_softmax"):
        return z - logsumexp(z, axis=axis, keepdims=True)


def relu(x: Any) -> Tensor:
    """max(x, 0)."""
    return _tensor(x).relu()


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    return _tensor(x).sigmoid()  # marks its output with the logits (Tensor._logits)


def tanh(x: Any) -> Tensor:
    """tanh(x)."""
    return _tensor(x).tanh()


# ----- losses ------------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _float_input(op: str, x: Any, what: str) -> Tensor:
    x = _tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be a float tensor, got {x.dtype}; convert with .astype('float32')")
    return x


def _like(op: str, target: Any, like: Tensor, what: str) -> Tensor:
    """`target` as a tensor of `like`'s dtype and shape (float targets, probability rows)."""
    if isinstance(target, Tensor):
        t = target if target.dtype == like.dtype else target.astype(like.dtype)
    else:
        t = Tensor._wrap(replay.asarray(target, dtype=like.dtype))
    if t.shape != like.shape:
        raise ValueError(f"{op}: {what} have shape {t.shape} but the input has shape {like.shape}; "
                         f"give one value per element, shape {like.shape}")
    return t


# Native integer dtypes and the unsigned dtype of the same width (class_indices' one-reduction range check).
_UNSIGNED = {np.dtype(t): np.dtype(f"u{np.dtype(t).itemsize}") for t in
             (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)}


def class_indices(op: str, labels: Any, n: int, num_classes: int, allow_float: bool = False) -> np.ndarray:
    """Check labels are `n` class indices in 0..num_classes-1 and return them as an int array.

    Floats are refused unless `allow_float` (Keras' sparse losses accept 3.0 for class 3); even
    then a float that is not a whole number is refused. Errors name the bad value and the classes.
    """
    y = labels.data if isinstance(labels, Tensor) else labels
    if type(y) is replay.TracedArray:  # traced labels: the check is part of the program, run on every batch
        return replay.call_whole(class_indices, op, y, n, num_classes, allow_float)
    # The common case, native integer indices in range, costs one reduction: viewed as unsigned,
    # a negative index becomes huge, so max() < num_classes checks both ends at once.
    unsigned = _UNSIGNED.get(y.dtype) if type(y) is np.ndarray else None
    if unsigned is not None and y.shape == (n,) and (n == 0 or y.view(unsigned).max() < num_classes):
        return y
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{op}: labels have shape {y.shape} but the batch has {n} rows; give class indices "
                         f"of shape ({n},) or probability rows of shape ({n}, {num_classes})")
    if y.dtype.kind == "f":
        if not allow_float:
            raise ValueError(f"{op}: labels of shape ({n},) must be integer class indices 0..{num_classes - 1} "
                             f"for {num_classes} classes, got {y.dtype} values such as {y[0].item()!r}; "
                             f"convert with .astype(int), or give probability rows of shape ({n}, {num_classes})")
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{op}: label {y[i].item()!r} at position {i} is not a class index: labels must be "
                             f"whole numbers 0..{num_classes - 1} for {num_classes} classes")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iu":
        raise ValueError(f"{op}: labels must be integer class indices 0..{num_classes - 1} for {num_classes} "
                         f"classes, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):  # two reductions, no temporary arrays
        i = int(np.argmax((y < 0) | (y >= num_classes)))
        raise ValueError(f"{op}: label {int(y[i])} at position {i} is out of range for {num_classes} classes "
                         f"(valid labels are 0..{num_classes - 1})")
    return y


def _class_logits_and_labels(op: str, z: Any, labels: Any, what: str) -> tuple[Tensor, Tensor, bool]:
    """(z as (N, C), labels as an int (N,) tensor or float (N, C) rows, whether z was one row)."""
    z = _float_input(op, z, what)
    single = z.data.ndim == 1
    if single:  # one example of C classes, a label that is a scalar index or one row
        z = z.reshape(1, -1)
        if isinstance(labels, Tensor):
            labels = labels.reshape(1, -1) if labels.ndim == 1 else labels.reshape(1)
        else:
            labels = np.asarray(labels)
            labels = labels.reshape(1, -1) if labels.ndim == 1 else labels.reshape(1)
    shape = z.data.shape
    if len(shape) != 2:
        raise ValueError(f"{op}: expects {what} of shape (N, C) (a batch of N rows of C classes), got {shape}; "
                         f"reshape to (-1, C)")
    n, c = shape
    if n == 0 or c == 0:
        raise ValueError(f"{op}: {what} of shape {shape} are empty")
    y = labels.data if isinstance(labels, Tensor) else labels
    if (y.ndim if type(y) is np.ndarray else np.ndim(y)) == 2:
        return z, _like(op, labels, z, "probability rows"), single
    y = Tensor._wrap(class_indices(op, labels, n, c))
    y.name = "labels"
    return z, y, single


def softmax_cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """loss_n = logsumexp(z_n) − z_n[y_n], one fused node; d/dz = (softmax(z) − onehot(y)) / N."""
    _check_reduction("softmax_cross_entropy", reduction)
    z, y, single = _class_logits_and_labels("softmax_cross_entropy", logits, labels, "logits")
    out = SoftmaxCrossEntropy.apply(z, y, reduction=reduction)
    return out.reshape(()) if single and reduction == "none" else out


def _checked_softmax_cross_entropy(z: Tensor, labels: np.ndarray, reduction: str) -> Tensor:
    """softmax_cross_entropy without the checks, for callers that made them once for a whole data set.

    `z` is a float (N, C) Tensor; `labels` are N class indices in range or (N, C) rows of z's dtype.
    """
    y = Tensor._wrap(labels)
    if labels.ndim == 1:
        y.name = "labels"
    return SoftmaxCrossEntropy.apply(z, y, reduction=reduction)


def sigmoid_binary_cross_entropy(logits: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """max(z, 0) − z·y + log1p(exp(−|z|)) per element, one fused node; d/dz = (sigmoid(z) − y) / count."""
    _check_reduction("sigmoid_binary_cross_entropy", reduction)
    z = _float_input("sigmoid_binary_cross_entropy", logits, "logits")
    if z.size == 0:
        raise ValueError(f"sigmoid_binary_cross_entropy: logits of shape {z.shape} are empty")
    y = _like("sigmoid_binary_cross_entropy", targets, z, "targets")
    return SigmoidBinaryCrossEntropy.apply(z, y, reduction=reduction)


def cross_entropy(probs: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """−log p[y] per row (or −Σ y·log p for probability rows), a composite from probabilities."""
    _check_reduction("cross_entropy", reduction)
    p, y, single = _class_logits_and_labels("cross_entropy", probs, labels, "probabilities")
    with scope("cross_entropy"):
        if y.ndim == 1:
            loss = -p[np.arange(p.shape[0]), y.data].log()
        else:
            loss = -(y * p.log()).sum(axis=-1)
        if single and reduction == "none":
            return loss.reshape(())
        return _reduce(loss, reduction)


def binary_cross_entropy(probs: Any, targets: Any, reduction: str = "mean") -> Tensor:
    """−(y·log p + (1 − y)·log(1 − p)) per element, a composite from probabilities."""
    _check_reduction("binary_cross_entropy", reduction)
    p = _float_input("binary_cross_entropy", probs, "probabilities")
    y = _like("binary_cross_entropy", targets, p, "targets")
    with scope("binary_cross_entropy"):
        loss = -(y * p.log() + (1 - y) * (1 - p).log())
        return _reduce(loss, reduction)


def mse(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(pred − target)², averaged over all elements by default."""
    _check_reduction("mse", reduction)
    pred = _float_input("mse", pred, "predictions")
    target = _like("mse", target, pred, "targets")
    with scope("mse"):
        d = pred - target
        return _reduce(d * d, reduction)
