"""Composite functions built from primitives, and the fused losses (minigrad.functional as F)."""

from __future__ import annotations

from typing import Any

from minigrad.engine import scope
from minigrad.tensor import Tensor

__all__ = ["softmax", "naive_softmax", "log_softmax", "logsumexp", "relu", "sigmoid", "tanh"]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def softmax(z: Any, axis: int = -1) -> Tensor:
    """softmax(z)_i = exp(z_i - m) / sum_j exp(z_j - m), m = max(z) (detached), along axis."""
    z = _tensor(z)
    with scope("softmax"):
        m = z.max(axis=axis, keepdims=True).detach()
        m.name = "max (detached)"  # the shift changes no value or gradient, only avoids overflow
        shifted = z - m
        e = shifted.exp()
        p = e / e.sum(axis=axis, keepdims=True)
    if p.op is not None:
        p.op.composite = ("softmax", z, axis)  # lets from_logits=False losses recover the logits
    return p


def naive_softmax(z: Any, axis: int = -1) -> Tensor:
    """exp(z) / sum(exp(z)) with no shift: overflows to inf/nan for large z (kept to show why)."""
    z = _tensor(z)
    with scope("naive_softmax"):
        e = z.exp()
        return e / e.sum(axis=axis, keepdims=True)


def logsumexp(z: Any, axis: int = -1, keepdims: bool = False) -> Tensor:
    """log(sum(exp(z))) = m + log(sum(exp(z - m))), m = max(z) (detached), along axis."""
    z = _tensor(z)
    with scope("logsumexp"):
        m = z.max(axis=axis, keepdims=True).detach()
        out = (z - m).exp().sum(axis=axis, keepdims=True).log() + m
        return out if keepdims else out.reshape(tuple(n for i, n in enumerate(out.shape) if i != axis % z.ndim))


def log_softmax(z: Any, axis: int = -1) -> Tensor:
    """log softmax(z) = z - logsumexp(z), along axis."""
    z = _tensor(z)
    with scope("log_softmax"):
        return z - logsumexp(z, axis=axis, keepdims=True)


def relu(x: Any) -> Tensor:
    """max(x, 0)."""
    return _tensor(x).relu()


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    return _tensor(x).sigmoid()


def tanh(x: Any) -> Tensor:
    """tanh(x)."""
    return _tensor(x).tanh()
