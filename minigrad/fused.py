"""Fused loss primitives: softmax + cross-entropy and sigmoid + binary cross-entropy as single nodes.

Each is one node of the graph whose forward never forms log(softmax) or log(sigmoid) from rounded
probabilities, so it stays finite and accurate in float32 for logits of any size, and whose backward
is the short formula the algebra collapses to (p − y). Users call them through
`minigrad.functional` (`F.softmax_cross_entropy`, `F.sigmoid_binary_cross_entropy`), which checks
the labels; these classes assume checked inputs.
"""

from __future__ import annotations

import numpy as np

from minigrad.engine import STATE
from minigrad.primitives import Function, _add_reduce, _blas_ones
from minigrad.replay import TracedArray, call_whole
from minigrad.tensor import Tensor

__all__ = ["SigmoidBinaryCrossEntropy", "SoftmaxCrossEntropy"]


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    # np.add.reduce, not loss.sum() or np.mean: their Python-level wrappers cost more than the sum;
    # asanyarray keeps a traced array (minigrad.replay) traced
    if reduction == "mean":
        return np.asanyarray(_add_reduce(loss, None) / loss.size, dtype=loss.dtype)
    if reduction == "sum":
        return np.asanyarray(_add_reduce(loss, None), dtype=loss.dtype)
    return loss


def _row_max(z: np.ndarray) -> np.ndarray:
    """The maximum of each row of a (N, C) array, as (N, 1)."""
    if z.shape[1] <= 32:
        # numpy reduces a short last axis (C = 10) row by row, 2-3x slower than an axis-0 reduction
        # of the transposed copy, which runs down all N rows at once. Past ~48 classes the copy
        # costs more than it saves (15x more at C = 10,000), so wide rows reduce as they are.
        return np.maximum.reduce(z.T.copy(), axis=0)[:, None]  # .copy(): C order
    return z.max(axis=-1, keepdims=True)


def _row_sum(e: np.ndarray) -> np.ndarray:
    """The sum of each row of a (N, C) array, as (N, 1)."""
    ones = _blas_ones(e.shape[1], e.dtype)
    if ones is None:
        return e.sum(axis=-1, keepdims=True)
    return np.dot(e, ones)[:, None]  # BLAS' e·1: 5x faster than e.sum(axis=1) at (128, 10)


_IDENTITIES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _one_hot(labels: np.ndarray, num_classes: int, dtype: np.dtype) -> np.ndarray:
    """(N, C) one-hot rows for N class indices: rows of the C×C identity, picked in one numpy call."""
    if type(labels) is TracedArray:  # identity.take would read traced labels without telling them
        return call_whole(_one_hot, labels, num_classes, dtype)
    if num_classes > 256:  # an identity that large is not worth keeping: set N ones in zeros
        onehot = np.zeros((len(labels), num_classes), dtype)
        onehot[np.arange(len(labels)), labels] = 1
        return onehot
    identity = _IDENTITIES.get((num_classes, dtype))
    if identity is None:
        if len(_IDENTITIES) >= 8:  # many class counts: start over rather than grow without bound
            _IDENTITIES.clear()
        identity = _IDENTITIES[(num_classes, dtype)] = np.eye(num_classes, dtype=dtype)
        identity.flags.writeable = False
    return identity.take(labels, axis=0)  # 3x faster than zeros + arange + a fancy assignment


def _grad_scale(g: Tensor, reduction: str, shape: tuple[int, ...], count: int) -> Tensor:
    """The upstream gradient per element, broadcastable to the input: g/count (mean), g (sum, none)."""
    if reduction == "none":
        return g.reshape(shape)
    return g * (1.0 / count) if reduction == "mean" else g  # g has shape (): it broadcasts as it is


class SoftmaxCrossEntropy(Function):
    """loss_n = logsumexp(z_n) − z_n[y_n] (or −Σ_c y_nc·log_softmax(z_n)_c for probability rows)."""

    # NOTE: exists for numerical stability: log(softmax(z)) from rounded probabilities is -inf/nan for large logits.
    op, rule = "softmax_cross_entropy", "d/dz = (p − y)/N"
    saved_names = ("p",)

    def forward(self, z, labels):
        # One pass: shift, exp, sum and log once each; p is kept for the backward.
        m = _row_max(z)
        shifted = z - m
        e = np.exp(shifted)
        total = _row_sum(e)
        log_total = np.log(total)
        e /= total  # e becomes p in place: one (N, C) buffer fewer on every training step
        self.saved = e
        if labels.ndim == 1:  # class indices
            loss = log_total[:, 0] - shifted[np.arange(z.shape[0]), labels]
        else:  # probability rows: −Σ y·(shifted − log_total)
            loss = log_total[:, 0] * labels.sum(axis=-1) - (labels * shifted).sum(axis=-1)
        return _reduce(loss, self.attrs["reduction"])

    def backward(self, g):
        z, labels = self.inputs
        n = z.shape[0]
        scale = _grad_scale(g, self.attrs["reduction"], (n, 1), n)
        # Recording (create_graph): rebuild p from z so second derivatives flow through it.
        p = z.softmax(axis=-1) if STATE.grad_enabled else Tensor._wrap(self.saved)
        need_z, need_labels = self.needs_input_grad
        dz = dlabels = None
        if need_z:
            if labels.ndim == 1:
                dz = (p - Tensor._wrap(_one_hot(labels.data, z.shape[1], z.dtype))) * scale
            else:
                # p·Σy − y, which is p − y when each row of y sums to 1
                dz = (p * labels.sum(axis=-1, keepdims=True) - labels) * scale
        if need_labels:
            dlabels = -z.log_softmax(axis=-1) * scale
        return dz, dlabels


class SigmoidBinaryCrossEntropy(Function):
    """loss = max(z, 0) − z·y + log1p(exp(−|z|)), elementwise: −y·log σ(z) − (1−y)·log(1−σ(z))."""

    # NOTE: exists for numerical stability: log(sigmoid(z)) from a rounded sigmoid is -inf once σ(z) rounds to 0 or 1.
    op, rule = "sigmoid_binary_cross_entropy", "d/dz = (σ(z) − y)/N"
    saved_names = ("sigmoid",)

    def forward(self, z, y):
        e = np.exp(-np.abs(z))  # never overflows
        self.saved = np.where(z >= 0, 1, e) / (1 + e)  # σ(z), stable on both sides
        loss = np.maximum(z, 0) - z * y + np.log1p(e)
        return _reduce(loss, self.attrs["reduction"])

    def backward(self, g):
        z, y = self.inputs
        scale = _grad_scale(g, self.attrs["reduction"], z.shape, z.size)
        s = z.sigmoid() if STATE.grad_enabled else Tensor._wrap(self.saved)
        need_z, need_y = self.needs_input_grad
        dz = (s - y) * scale if need_z else None
        dy = -z * scale if need_y else None
        return dz, dy
