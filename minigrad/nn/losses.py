"""Keras-style losses: `loss(y_true, y_pred)` returns a scalar Tensor (the mean over the batch).

With `from_logits=False` on an output that `F.softmax` / a sigmoid made, the loss recovers that
op's input logits and uses the fused op (`F.softmax_cross_entropy`, `F.sigmoid_binary_cross_entropy`),
which stays finite and exact where log(probabilities) would not; it says so once per loss object.
`F.softmax` (= `Tensor.softmax`) and `Tensor.sigmoid` (= `F.sigmoid`) mark their output with its
logits (`Tensor._logits`) even under `no_grad`, so `evaluate` recovers them as `fit` does.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import functional as F
from minigrad.engine import scope
from minigrad.tensor import Tensor

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "LossFunctionWrapper",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "get",
    "squeeze_or_expand_to_same_rank",
]

EPSILON = 1e-7  # Keras' backend epsilon: probabilities are clipped to [EPSILON, 1 - EPSILON]

# Keras' reduction names and ours: the mean over the batch is Keras' "sum_over_batch_size".
_REDUCTIONS = {"mean": "mean", "sum_over_batch_size": "mean", "auto": "mean", "sum": "sum", "none": "none",
               None: "none"}


class Loss:
    """A loss called Keras' way, `loss(y_true, y_pred)`: `call()`'s losses reduced by `reduction` (mean, sum, none)."""

    default_name = "loss"

    def __init__(self, reduction: str | None = "mean", name: str | None = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of 'mean' (Keras' "
                             f"'sum_over_batch_size'), 'sum' or 'none', got {reduction!r}")
        self.reduction = _REDUCTIONS[reduction]
        self.name = name or self.default_name

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)
        if y_pred.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: y_pred must be a float tensor (the model's outputs), "
                            f"got {y_pred.dtype}")
        with scope(self.name):
            return self._reduce(self.call(y_true, y_pred))

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _reduce(self, losses: Any) -> Any:
        """call()'s output reduced as Keras' Loss.__call__ does: mean (or sum) of all its elements, "none" as is.

        A scalar passes unchanged, so the built-in losses, which reduce inside call(), give the same
        values; a subclass whose call() returns per-sample losses gets its reduction applied.
        """
        if not isinstance(losses, Tensor) or losses.ndim == 0 or self.reduction == "none":
            return losses
        return losses.mean() if self.reduction == "mean" else losses.sum()

    # fit and evaluate check and convert the targets of the whole data set once (`_prepare_targets`),
    # then compute each batch's loss with `_batch_loss`, which skips the checks `__call__` repeats.
    # Only for the classes below as they are (`_has_batch_path`): a subclass may change what
    # __call__, call or labels do, so it gets its own checked __call__ on every batch.
    def _prepare_targets(self, y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
        """All the targets, checked and converted for `_batch_loss`; `y_pred` is one batch of outputs."""
        return y_true

    def _batch_loss(self, y_true: np.ndarray, y_pred: Tensor) -> Tensor:
        """The loss of one batch of targets `_prepare_targets` made, on outputs shaped like its probe's."""
        with scope(self.name):
            return self.call(y_true, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def _per_sample(self, loss: Tensor) -> Tensor:
        """Elementwise losses (N, ...) averaged over the non-batch axes, then reduced over the batch."""
        if loss.ndim > 1:
            loss = loss.mean(axis=tuple(range(1, loss.ndim)))
        if self.reduction == "mean":
            return loss.mean()
        return loss.sum() if self.reduction == "sum" else loss


def _elementwise_targets(y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
    """Targets with one value per output, in the outputs' dtype (what `_same_shape` and `F._like` make per batch)."""
    shape = (len(y_true),) + y_pred.shape[1:]
    if y_true.shape not in (shape, shape + (1,)) and y_true.shape + (1,) != shape:
        return y_true  # left as given: the batch's loss call explains the mismatch
    return np.asarray(y_true, dtype=y_pred.dtype).reshape(shape)


def _same_shape(name: str, y_true: Any, y_pred: Tensor) -> Any:
    """Keras squeezes or expands a trailing axis of size 1, so (N,) targets fit (N, 1) outputs."""
    shape = y_true.shape if isinstance(y_true, Tensor) else np.shape(y_true)
    if tuple(shape) == y_pred.shape:
        return y_true
    if int(np.prod(shape)) == y_pred.size and (tuple(shape) + (1,) == y_pred.shape
                                               or tuple(shape) == y_pred.shape + (1,)):
        return y_true.reshape(y_pred.shape) if isinstance(y_true, Tensor) else np.reshape(y_true, y_pred.shape)
    raise ValueError(f"{name}: y_true has shape {tuple(shape)} but y_pred has shape {y_pred.shape}; "
                     "give one target per output")


class _ProbabilisticLoss(Loss):
    """Shared by the cross-entropies: from_logits, logit recovery, and the two warnings."""

    activation = "softmax"  # the op whose output this loss expects when from_logits=False

    def __init__(self, from_logits: bool = False, reduction: str | None = "mean", name: str | None = None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self._warned = False

    def get_config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, **super().get_config()}

    def recovered_logits(self, y_pred: Tensor) -> Tensor | None:
        """The logits y_pred was made from by a softmax over its last axis (sigmoid), else None."""
        marked = y_pred._logits  # set by F.softmax (last axis) and sigmoid, with or without a graph
        if marked is not None and marked[0] == self.activation:
            return marked[1]
        return None

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(message, UserWarning, stacklevel=_first_frame_outside_minigrad())

    def logits_or_none(self, y_pred: Tensor) -> Tensor | None:
        """y_pred itself when from_logits, the recovered logits when possible, else None (clip)."""
        recovered = self.recovered_logits(y_pred)
        who = type(self).__name__
        if self.from_logits:
            if recovered is not None:
                self._warn_once(
                    f"{who}(from_logits=True) got an output made by a {self.activation}: it looks like "
                    f"probabilities, not logits. Use a linear output layer with from_logits=True, or keep "
                    f"the {self.activation} and pass from_logits=False.")
            return y_pred
        if recovered is not None:
            self._warn_once(
                f"{who}: y_pred was made by a {self.activation}, so this loss recovered the logits and used "
                f"the fused, numerically stable loss on them. To silence this, use a linear output layer with "
                f"from_logits=True, or warnings.filterwarnings('ignore', message='.*recovered the logits').")
        return recovered


class _CategoricalLoss(_ProbabilisticLoss):
    """Cross-entropy over C classes per row: the fused op on logits, else the clipped composite."""

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__}: y_pred must have shape (N, C) (one row of C class "
                             f"scores per example), got {y_pred.shape}")
        labels = self.labels(y_true, y_pred)
        logits = self.logits_or_none(y_pred)
        if logits is not None:
            return F.softmax_cross_entropy(logits, labels, reduction=self.reduction)
        return F.cross_entropy(_clipped_rows(y_pred), labels, reduction=self.reduction)

    def labels(self, y_true: Any, y_pred: Tensor) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _batch_loss(self, y_true: np.ndarray, y_pred: Tensor) -> Tensor:
        shape = y_pred.data.shape
        if len(shape) != 2 or len(y_true) != shape[0]:
            return self(y_true, y_pred)  # not what the probe saw: the checked path says what is wrong
        logits = self.logits_or_none(y_pred)
        with scope(self.name):
            if logits is not None:
                return F._checked_softmax_cross_entropy(logits, y_true, self.reduction)
            return F.cross_entropy(_clipped_rows(y_pred), y_true, reduction=self.reduction)


class SparseCategoricalCrossentropy(_CategoricalLoss):
    """−log p[y] averaged over the batch; y_true holds class indices, shape (N,) or (N, 1)."""

    default_name = "sparse_categorical_crossentropy"

    def labels(self, y_true: Any, y_pred: Tensor) -> np.ndarray:
        return self._class_indices(y_true, y_pred.shape)

    def _class_indices(self, y_true: Any, shape: tuple[int, ...]) -> np.ndarray:
        """y_true checked as class indices for outputs of `shape` (N, C), as an int array of shape (N,)."""
        labels = np.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels.reshape(-1)  # Keras accepts (N, 1) labels
        if labels.shape == tuple(shape) and labels.ndim == 2:
            raise ValueError(
                f"{type(self).__name__}: labels of shape {labels.shape} look like one-hot rows; this loss "
                f"takes class indices of shape ({shape[0]},). Use CategoricalCrossentropy for one-hot "
                "labels, or pass labels.argmax(axis=1)"
            )
        return F.class_indices(type(self).__name__, labels, *shape, allow_float=True)

    def _prepare_targets(self, y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
        if y_pred.ndim != 2:
            return y_true
        return self._class_indices(y_true, (len(y_true), y_pred.shape[1]))


class CategoricalCrossentropy(_CategoricalLoss):
    """−Σ y·log p averaged over the batch; y_true holds one-hot (or probability) rows, shape (N, C)."""

    default_name = "categorical_crossentropy"

    def labels(self, y_true: Any, y_pred: Tensor) -> Any:
        shape = tuple(y_true.shape if isinstance(y_true, Tensor) else np.shape(y_true))
        if shape != y_pred.shape:
            hint = " (class indices? use SparseCategoricalCrossentropy)" if len(shape) == 1 else ""
            raise ValueError(f"{type(self).__name__}: y_true has shape {shape} but y_pred has shape "
                             f"{y_pred.shape}; give one-hot rows of shape {y_pred.shape}{hint}")
        return y_true

    def _prepare_targets(self, y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
        if y_pred.ndim != 2 or y_true.shape != (len(y_true), y_pred.shape[1]):
            return y_true
        return np.asarray(y_true, dtype=y_pred.dtype)  # as F.softmax_cross_entropy converts each batch


def _clipped_rows(y_pred: Tensor) -> Tensor:
    """Keras' path from probabilities: rows rescaled to sum to 1, then clipped to [ε, 1 − ε]."""
    p = y_pred / y_pred.sum(axis=-1, keepdims=True)
    return p.clip(EPSILON, 1 - EPSILON)


class BinaryCrossentropy(_ProbabilisticLoss):
    """−(y·log p + (1 − y)·log(1 − p)) averaged over the outputs and the batch; y_true like y_pred."""

    default_name = "binary_crossentropy"
    activation = "sigmoid"

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        y_true = _same_shape(type(self).__name__, y_true, y_pred)
        logits = self.logits_or_none(y_pred)
        if self.reduction == "mean":  # one fused node for the whole batch (the training hot path)
            if logits is not None:
                return F.sigmoid_binary_cross_entropy(logits, y_true)
            return F.binary_cross_entropy(y_pred.clip(EPSILON, 1 - EPSILON), y_true)
        if logits is not None:
            return self._per_sample(F.sigmoid_binary_cross_entropy(logits, y_true, reduction="none"))
        return self._per_sample(F.binary_cross_entropy(y_pred.clip(EPSILON, 1 - EPSILON), y_true, reduction="none"))

    def _prepare_targets(self, y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
        return _elementwise_targets(y_true, y_pred)


class MeanSquaredError(Loss):
    """(y_pred − y_true)² averaged over the outputs and the batch."""

    default_name = "mean_squared_error"

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        y_true = _same_shape(type(self).__name__, y_true, y_pred)
        if self.reduction == "mean":
            return F.mse(y_pred, y_true)
        return self._per_sample(F.mse(y_pred, y_true, reduction="none"))

    def _prepare_targets(self, y_true: np.ndarray, y_pred: Tensor) -> np.ndarray:
        return _elementwise_targets(y_true, y_pred)


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any) -> tuple[Any, Any]:
    """Keras' rank fix: when the ranks differ by one and the longer ends in 1, expand a rank-1 partner, else squeeze.

    So (N,) targets meet (N, 1) outputs as (N, 1), instead of broadcasting to (N, N).
    """
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1:
            x2 = _expand_last(x2)
        else:
            x1 = _squeeze_last(x1)
    elif r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1:
            x1 = _expand_last(x1)
        else:
            x2 = _squeeze_last(x2)
    return x1, x2


def _expand_last(x: Any) -> Any:
    return x.reshape(tuple(x.shape) + (1,)) if isinstance(x, Tensor) else np.expand_dims(x, -1)


def _squeeze_last(x: Any) -> Any:
    return x.reshape(tuple(x.shape)[:-1]) if isinstance(x, Tensor) else np.squeeze(x, -1)


class LossFunctionWrapper(Loss):
    """A function `fn(y_true, y_pred)` as a Loss (what compile makes of one): Keras' rank fix, then the reduction."""

    def __init__(self, fn: Callable[[Any, Tensor], Any], reduction: str | None = "mean",
                 name: str | None = None) -> None:
        given = getattr(fn, "name", None) or getattr(fn, "__name__", None)  # as Keras names it; "loss" for a lambda
        super().__init__(reduction, name or (given if isinstance(given, str) and given.isidentifier() else None))
        self.fn = fn

    def call(self, y_true: Any, y_pred: Tensor) -> Any:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {"fn": getattr(self.fn, "__name__", repr(self.fn)), **super().get_config()}


_BATCH_PATH = (SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy, MeanSquaredError)


def _has_batch_path(loss: Any) -> bool:
    """True when fit may use `loss._prepare_targets` once and `loss._batch_loss` per batch."""
    return type(loss) in _BATCH_PATH


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}


def get(identifier: Any) -> Loss:
    """A loss from a Keras name ("mse", ...), a Loss (a class is instantiated), or a function wrapped as a Loss."""
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(f"unknown loss {identifier!r}; choose one of {', '.join(sorted(_BY_NAME))}")
        return _BY_NAME[key]()
    if isinstance(identifier, type):  # loss=nn.SparseCategoricalCrossentropy without (): Keras makes one
        try:
            identifier = identifier()
        except TypeError as exc:
            raise TypeError(f"loss {identifier.__name__} is a class that cannot be made without arguments "
                            f"({exc}); pass an instance, loss={identifier.__name__}(...)") from None
    if isinstance(identifier, Loss):
        return identifier
    if identifier is F.mse:  # symmetric: the order cannot matter, so it is taken, and called outputs first
        return LossFunctionWrapper(_mse_outputs_first, name="mse")
    if getattr(identifier, "__module__", None) == F.__name__:
        raise ValueError(_functional_refusal(identifier))
    if callable(identifier):
        return LossFunctionWrapper(identifier)  # as Keras' compile wraps a function: rank fix and reduction
    raise TypeError(f"a loss must be a name or a callable loss(y_true, y_pred), got {type(identifier).__name__}")


# minigrad.functional's losses take (outputs, targets), the reverse of Keras' loss(y_true, y_pred): given
# to compile they would be called with swapped arguments and train on nonsense without an error.
_INSTEAD_OF_FUNCTIONAL = {
    F.softmax_cross_entropy: "nn.SparseCategoricalCrossentropy(from_logits=True) for class-index labels "
                             "(nn.CategoricalCrossentropy(from_logits=True) for one-hot rows)",
    F.cross_entropy: "nn.SparseCategoricalCrossentropy() on the softmax outputs "
                     "(nn.CategoricalCrossentropy() for one-hot rows)",
    F.sigmoid_binary_cross_entropy: "nn.BinaryCrossentropy(from_logits=True)",
    F.binary_cross_entropy: "nn.BinaryCrossentropy()",
}


def _mse_outputs_first(y_true: Any, y_pred: Tensor) -> Tensor:
    """F.mse given to compile: called as minigrad.functional defines it, outputs first."""
    return F.mse(y_pred, y_true)


def _functional_refusal(fn: Any) -> str:
    """Why a minigrad.functional function cannot be a compile loss, and what to pass instead."""
    name = getattr(fn, "__name__", repr(fn))
    code = getattr(fn, "__code__", None)
    args = ", ".join(code.co_varnames[:code.co_argcount]) if code is not None else "..."
    if fn not in _INSTEAD_OF_FUNCTIONAL:
        return (f"loss: minigrad.functional.{name}({args}) is not a loss; pass a loss such as "
                "nn.SparseCategoricalCrossentropy() or a function loss(y_true, y_pred)")
    return (f"loss: minigrad.functional.{name}({args}) takes the outputs first, but compile calls a loss "
            f"Keras' way, loss(y_true, y_pred), so it would train on swapped arguments. Use "
            f"{_INSTEAD_OF_FUNCTIONAL[fn]} instead, or swap them yourself: "
            f"loss=lambda y_true, y_pred: F.{name}(y_pred, y_true)")


def _first_frame_outside_minigrad() -> int:
    """The stacklevel of the user's code that led here (their loss(...) or model.fit(...) call)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level
