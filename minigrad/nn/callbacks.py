"""Keras-style callbacks: objects whose hooks `fit` calls at the start and end of training, epochs and batches.

Hooks, in the order `fit` calls them: `on_train_begin(logs)`, then per epoch `on_epoch_begin(epoch,
logs)`, per batch `on_train_batch_begin(batch, logs)` and `on_train_batch_end(batch, logs)` (logs:
running means "loss", "accuracy" of the epoch so far, and "size" of the batch), `on_epoch_end(epoch,
logs)` (the epoch's "loss", "accuracy", "val_loss", "val_accuracy"), and `on_train_end(logs)`.
`on_batch_begin`/`on_batch_end` are accepted as aliases of the train-batch hooks, as in Keras.
A callback stops training by setting `self.model.stop_training = True`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["Callback", "CallbackList", "History", "LearningRateScheduler"]


class Callback:
    """Base class: override the hooks you need; `self.model` is the model being trained."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Called once when fit starts."""

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Called once when fit ends (also after Ctrl-C or stop_training)."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before the first batch of each epoch (epochs count from 0)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each complete epoch with its metrics (and val_* ones)."""

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called before each training batch (batches count from 0 in each epoch)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Called after each training step; parameters' `.grad` still hold this batch's gradients."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Alias of on_train_batch_begin (Keras)."""

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Alias of on_train_batch_end (Keras)."""


class History(Callback):
    """What `fit` returns: `.history` maps each metric to its per-epoch values, `.epoch` the epochs run."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.interrupted = False  # True when Ctrl-C stopped fit (after finishing the batch it was on)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        flag = ", interrupted" if self.interrupted else ""
        return f"History(epochs={len(self.epoch)}{flag}{', ' + last if last else ''})"


class LearningRateScheduler(Callback):
    """Sets the optimizer's learning rate at each epoch's start to `schedule(epoch, lr)` or `schedule(epoch)` (Keras)."""

    def __init__(self, schedule: Callable[[int, float], float] | Callable[[int], float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function of (epoch) or (epoch, lr), "
                            f"got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = verbose
        self._takes_lr = _takes_lr(schedule)

    def _call_schedule(self, epoch: int, lr: float) -> Any:
        if self._takes_lr is True:
            return self.schedule(epoch, lr)
        if self._takes_lr is False:
            return self.schedule(epoch)
        # No signature to read (some builtins and C callables): Keras' own fallback.
        try:
            return self.schedule(epoch, lr)
        except TypeError:
            return self.schedule(epoch)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        optimizer = self.model.optimizer
        lr = float(self._call_schedule(epoch, float(optimizer.learning_rate)))
        if not lr > 0:
            raise ValueError(f"LearningRateScheduler: the schedule gave learning rate {lr} for epoch {epoch}")
        optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {lr:.4g}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


def _takes_lr(schedule: Callable[..., Any]) -> bool | None:
    """Whether `schedule` is called (epoch, lr) or (epoch), from its signature; None if it has none.

    Deciding up front, rather than on a TypeError as Keras does, keeps a TypeError raised inside the
    schedule from being mistaken for the wrong number of arguments.
    """
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):
        return None
    for arguments, takes_lr in (((0, 0.1), True), ((0,), False)):
        try:
            signature.bind(*arguments)
        except TypeError:
            continue
        return takes_lr
    raise TypeError(f"LearningRateScheduler: the schedule must take (epoch) or (epoch, lr); "
                    f"{getattr(schedule, '__name__', schedule)!s} takes {signature}")


def _hook(callback: Any, name: str, alias: str | None = None) -> Callable[..., Any] | None:
    """The bound hook if the callback does something there (overrides the base), else None."""
    for hook in (name, alias):
        if hook is None:
            continue
        method = getattr(type(callback), hook, None)
        if method is not None and method is not getattr(Callback, hook, None):
            return getattr(callback, hook)
    return None


class CallbackList:
    """The callbacks of one fit, with each hook resolved once so batches only call hooks that exist."""

    def __init__(self, callbacks: list[Any], model: Any, params: dict[str, Any]) -> None:
        for cb in callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model
            if hasattr(cb, "set_params"):
                cb.set_params(params)
        self.callbacks = callbacks
        self.train_begin = [h for cb in callbacks if (h := _hook(cb, "on_train_begin"))]
        self.train_end = [h for cb in callbacks if (h := _hook(cb, "on_train_end"))]
        self.epoch_begin = [h for cb in callbacks if (h := _hook(cb, "on_epoch_begin"))]
        self.epoch_end = [h for cb in callbacks if (h := _hook(cb, "on_epoch_end"))]
        self.batch_begin = [h for cb in callbacks if (h := _hook(cb, "on_train_batch_begin", "on_batch_begin"))]
        self.batch_end = [h for cb in callbacks if (h := _hook(cb, "on_train_batch_end", "on_batch_end"))]
