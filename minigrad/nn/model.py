"""Keras-style models: `Model` (compile, fit, evaluate, predict, weights files) and `Sequential`.

`fit` is the training loop a learner would write by hand: for each batch, forward, loss, clear
the gradients, backward, optimizer step. It keeps the Python work per batch small (no per-batch
validation, metrics from the outputs it already has, sums kept as Python numbers), because at
MNIST scale that overhead, not numpy, is what a step costs.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from minigrad import creation, optim
from minigrad.engine import no_grad, note_write
from minigrad.nn.callbacks import CallbackList, History
from minigrad.nn.layers import ACTIVATIONS, Activation, Dense, Flatten, Layer
from minigrad.nn.losses import _first_frame_outside_minigrad, _has_batch_path
from minigrad.nn.module import Module
from minigrad.nn.train_step import TrainStep, run_eagerly
from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["Model", "Sequential"]

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


class _Accuracy(NamedTuple):
    """One compiled accuracy metric, checked against the data by `_probe`."""

    name: str  # its key in the logs, the History and evaluate's dict: the identifier given, as Keras names it
    count: Callable[[np.ndarray, np.ndarray], int]  # correct values in a batch of outputs and labels
    per_sample: int  # values counted per sample (every output, for the binary accuracy)
    labels: np.ndarray  # all the labels, as `count` reads them


class Model(Module):
    """A Module that trains itself Keras' way; subclass it and define `forward` (or use Sequential)."""

    # What fit sets on the model for itself and a training step never reads: changing them must not
    # send fit's replayed step back to tracing (nn/train_step.py).
    _not_read_by_step = ("history", "stop_training", "train_function")

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name or "model"
        self.optimizer: optim.Optimizer | None = None
        self.loss: Callable[[Any, Tensor], Tensor] | None = None
        self.metrics: list[str] = []  # the compiled metrics' names, the keys fit and evaluate report
        self._metric_identifiers: list[str] = []  # which accuracy each one is ("acc", "binary_accuracy", ...)
        self.stop_training = False
        self.history: History | None = None
        self.jit_compile: bool | str = "auto"
        self.train_function: TrainStep | None = None  # the last fit's traced step, when it had one

    def __getstate__(self) -> dict[str, Any]:
        # A traced step reads this model's arrays: a copy (deepcopy, pickle) traces its own.
        return {**self.__dict__, "train_function": None}

    # ----- structure ----------------------------------------------------------------------
    @property
    def built(self) -> bool:
        """True when every layer has its weights (layers learn their input size on the first call)."""
        return all(m.built for m in self.modules() if isinstance(m, Layer))

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype (inputs are cast to it, as Keras does)."""
        for m in self.modules():
            for _, t in m._own_parameters():
                return t.dtype
        for m in self.modules():
            if isinstance(m, Layer):
                return m.dtype
        return get_default_dtype()

    def _weight_items(self) -> list[tuple[str, Tensor]]:
        """(key in a weights file, parameter)."""
        return self.named_parameters()

    def _summary_rows(self) -> list[tuple[str, str, int]]:
        rows = []
        for name, child in self.named_children():
            label = f"{getattr(child, 'name', name)} ({type(child).__name__})"
            rows.append((label, _shape_text(getattr(child, "output_shape", None)), _count(child)))
        return rows

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print each layer's name, output shape and parameter count (a rich table when rich is installed).

        With `print_fn`, call it once with the plain-text table instead of printing.
        """
        if not getattr(self, "_names_assigned", False):
            self._assign_layer_names()  # the names the layers will have once called, not their provisional ones
        rows = self._summary_rows()
        total = sum(t.size for t in self.parameters())
        unbuilt = "" if self.built else " (not built yet: call the model on data or fit it)"
        if print_fn is None:
            try:
                from rich.console import Console
                from rich.table import Table
            except ImportError:
                Console = None
            if Console is not None:
                table = Table(title=f'Model: "{self.name}"', title_justify="left")
                table.add_column("Layer (type)")
                table.add_column("Output Shape")
                table.add_column("Param #", justify="right")
                for layer, shape, count in rows:
                    table.add_row(layer, shape, f"{count:,}")
                console = Console()
                console.print(table, markup=False)
                console.print(f"Total params: {total:,}{unbuilt}", markup=False, highlight=False)
                return
        width = max([len(r[0]) for r in rows] + [len("Layer (type)")]) + 2
        shape_width = max([len(r[1]) for r in rows] + [len("Output Shape")]) + 2
        lines = [f'Model: "{self.name}"',
                 f"{'Layer (type)':<{width}}{'Output Shape':<{shape_width}}{'Param #':>10}"]
        lines.append("-" * len(lines[-1]))
        lines += [f"{layer:<{width}}{shape:<{shape_width}}{count:>10,}" for layer, shape, count in rows]
        lines.append(f"Total params: {total:,}{unbuilt}")
        text = "\n".join(lines)
        (print_fn or print)(text)

    # ----- compile ------------------------------------------------------------------------
    def compile(self, optimizer: str | optim.Optimizer = "adam", loss: Any = None,
                metrics: list[str] | None = None, run_eagerly: bool = False,
                jit_compile: bool | str = "auto") -> None:
        """Choose the optimizer ("adam", "sgd" or an instance), the loss (name or instance) and metrics.

        `jit_compile` (Keras' name): "auto" lets fit replay its traced training step (minigrad.replay)
        for models of built-in layers and losses, True tries it for any model and warns about batches
        it cannot replay, False never; `run_eagerly=True` means jit_compile=False. A replayed step
        makes the same numpy calls, so it trains to the same weights.
        """
        from minigrad.nn import losses

        # Everything is resolved before anything is set: a refused argument leaves the model as it was.
        optimizer = optim.get(optimizer)
        loss = losses.get(loss) if loss is not None else None
        names, identifiers = _compiled_metrics(metrics)
        if not (isinstance(jit_compile, bool) or jit_compile == "auto"):  # (1 == True: not a mode)
            raise ValueError(f"compile: jit_compile must be True, False or 'auto', got {jit_compile!r}")
        self.optimizer, self.loss = optimizer, loss
        self.metrics, self._metric_identifiers = names, identifiers
        self.jit_compile = False if run_eagerly else jit_compile
        self.train_function = None  # programs traced for the last compile's loss and optimizer go

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            missing = "compile(...)" if self.optimizer is None else "compile(loss=...)"
            raise RuntimeError(f"{what}: call model.{missing} first, e.g. model.compile(optimizer='adam', "
                               "loss='sparse_categorical_crossentropy', metrics=['accuracy'])")

    # ----- data ---------------------------------------------------------------------------
    def _inputs(self, x: Any, what: str = "x") -> np.ndarray:
        array = x.data if isinstance(x, Tensor) else np.asarray(x)
        if array.ndim < 2 or len(array) == 0:
            hint = "; for one feature per sample pass x.reshape(-1, 1)" if array.ndim == 1 else ""
            raise ValueError(f"{what}: inputs need shape (samples, features, ...), got {array.shape}{hint}")
        dtype = self.dtype
        if array.dtype != dtype:
            array = array.astype(dtype)  # Keras casts inputs to the model's dtype: float64 x trains in float32
        return array

    def _targets(self, y: Any, n: int, what: str = "y") -> np.ndarray:
        if y is None:
            raise ValueError(f"{what}: targets are required")
        array = y.data if isinstance(y, Tensor) else np.asarray(y)
        if array.ndim == 0 or len(array) != n:
            raise ValueError(f"{what}: got {array.shape[0] if array.ndim else 0} targets for {n} samples "
                             f"(x and y must have the same length; y has shape {array.shape})")
        return array

    def _probe(self, x: np.ndarray, y: np.ndarray, what: str,
               batch_size: int) -> tuple[np.ndarray, list[_Accuracy]]:
        """Build on the first batch and check the targets against the outputs, once, before any step.

        Returns the targets as the loss takes them (checked and converted once, for `_batch_loss`)
        and the compiled accuracies, each with the labels as it reads them.
        """
        rows = min(len(x), batch_size)  # a batch like the ones to come, so errors show familiar shapes
        with no_grad():
            out = self(Tensor._wrap(x[:rows]))
        if not isinstance(out, Tensor):
            raise TypeError(f"{what}: the model must return a Tensor, got {type(out).__name__}")
        shape = out.shape
        if y.ndim == 1 and len(shape) > 2:
            first = next((m for m in self.modules() if isinstance(m, Layer)), None)
            hint = f" (inputs {(None,) + x.shape[1:]} reached '{first.name}' unflattened)" if first else ""
            raise ValueError(f"{what}: the model's outputs have shape {(None,) + shape[1:]} but the labels "
                             f"have shape {y.shape}{hint}; add nn.Flatten() as the first layer for image inputs")
        with no_grad():
            value = self.loss(y[:rows], out)
        if not isinstance(value, Tensor) or value.size != 1:
            got = value.shape if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"{what}: the loss must return a scalar Tensor, got {got}")
        # A built-in loss checks every target of the set here, so a bad label gets the loss's
        # message whatever the metrics; _check_labels covers accuracy with other losses.
        targets = self.loss._prepare_targets(y, out) if _has_batch_path(self.loss) else y
        accuracies = []
        for name, identifier in zip(self.metrics, self._metric_identifiers, strict=True):
            kind = _accuracy_kind(identifier, self.loss, y, shape)
            _check_metric_labels(name, kind, y, shape, what)
            labels = y
            if kind == "sparse":
                if y.ndim == 2 and y.shape[1] == 1:
                    labels = y.reshape(-1)
                _check_labels(labels, shape[-1], what)
            count, per_sample = _accuracy_counter(kind, self.loss, shape)
            accuracies.append(_Accuracy(name, count, per_sample, labels))
        return targets, accuracies

    def _batch_loss_function(self) -> Callable[[Any, Tensor], Tensor]:
        """The per-batch loss: a built-in Loss's unchecked `_batch_loss` (targets prepared by `_probe`), else the loss."""
        return self.loss._batch_loss if _has_batch_path(self.loss) else self.loss

    def _bind_optimizer(self) -> list[Tensor]:
        params = self.parameters()
        if not params:
            raise ValueError("fit: the model has no trainable parameters")
        if not self.optimizer.bound_to(params):
            self.optimizer.bind(params)
        return params

    # ----- fit ----------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1, verbose: int | str = 1,
            callbacks: list[Any] | None = None, validation_split: float = 0.0,
            validation_data: tuple[Any, Any] | None = None, shuffle: bool = True,
            initial_epoch: int = 0) -> History:
        """Train for epochs `initial_epoch..epochs-1`; returns the History (Ctrl-C stops after the current batch)."""
        self._require_compiled("fit")
        batch_size = _positive_int("fit: batch_size", 32 if batch_size is None else batch_size)
        epochs = int(epochs)
        initial_epoch = int(initial_epoch)
        verbose = 1 if verbose == "auto" else int(verbose)
        x = self._inputs(x)
        y = self._targets(y, len(x))
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split > 0:
            split = math.floor(len(x) * (1.0 - validation_split))  # Keras takes the last part, unshuffled
            if split == 0 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} of {len(x)} samples leaves one side empty")
            x, xv, y, yv = x[:split], x[split:], y[:split], y[split:]
            validation_data = (xv, yv)
        targets, accuracies = self._probe(x, y, "fit", batch_size)
        validation = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a pair (x_val, y_val)")
            xv = self._inputs(validation_data[0], "validation_data x")
            yv = self._targets(validation_data[1], len(xv), "validation_data y")
            validation = (xv, *self._probe(xv, yv, "validation_data", batch_size))
        params = self._bind_optimizer()
        optimizer, loss_fn, forward = self.optimizer, self._batch_loss_function(), self.forward

        def eager_step(xb: np.ndarray, tb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = forward(Tensor._wrap(xb))
            loss = loss_fn(tb, out)
            for p in params:
                p.grad = None  # cleared before backward, so callbacks can read this batch's grads
            loss.backward()
            return loss.data, out.data

        train_step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] = eager_step
        if self.jit_compile is True or (self.jit_compile == "auto" and self._runs_only_builtin_code()):
            step = self.train_function
            made_for = (self.loss, getattr(self.forward, "__func__", self.forward))
            if step is None or not step.runs(params, made_for):  # an earlier fit's programs serve while they hold
                step = TrainStep(eager_step, params, self._read_by_step, made_for=made_for)
            step.start()
            step.eager = eager_step
            step.on_refuse = _warn_eager if self.jit_compile is True else None
            self.train_function = train_step = step
        else:
            self.train_function = None

        n = len(x)
        steps = -(-n // batch_size)
        history = History()
        cbs = CallbackList(list(callbacks or []) + [history], self,
                           {"verbose": verbose, "epochs": epochs, "steps": steps})
        batch_begin, batch_end = cbs.batch_begin, cbs.batch_end
        self.history = history
        self.stop_training = False
        self.train()

        interrupted = False

        def on_sigint(signum: int, frame: Any) -> None:
            nonlocal interrupted
            if interrupted:  # a second Ctrl-C: stop now, mid-batch
                raise KeyboardInterrupt
            interrupted = True

        previous_handler = None
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if current is not None and current is not signal.SIG_IGN:
                previous_handler = current
                signal.signal(signal.SIGINT, on_sigint)
        logs: dict[str, Any] = {}
        epoch, step = initial_epoch, -1
        try:
            for hook in cbs.train_begin:
                hook(logs)
            rng = creation.generator()
            for epoch in range(initial_epoch, epochs):
                for hook in cbs.epoch_begin:
                    hook(epoch, {})
                started = time.perf_counter()
                # One permutation per epoch; each batch gathers its rows with a slice of it (cheaper than
                # gathering a shuffled copy of the whole set, and no second copy of x in memory).
                order = rng.permutation(n) if shuffle else None
                loss_sum, seen = 0.0, 0
                correct = [0] * len(accuracies)
                for step in range(steps):
                    lo = step * batch_size
                    hi = min(lo + batch_size, n)
                    if batch_begin:
                        for hook in batch_begin:
                            hook(step, {"batch": step, "size": hi - lo})
                    if order is None:
                        index = slice(lo, hi)
                        xb, tb = x[lo:hi], targets[lo:hi]
                    else:
                        index = order[lo:hi]
                        xb, tb = x[index], targets[index]
                    loss, out = train_step(xb, tb)
                    optimizer.step()
                    size = hi - lo
                    loss_sum += float(loss) * size
                    seen += size
                    for i, accuracy in enumerate(accuracies):
                        # the labels the loss takes when they are the accuracy's too: no second gather
                        labels = tb if accuracy.labels is targets else accuracy.labels[index]
                        correct[i] += accuracy.count(out, labels)
                    if batch_end:
                        logs = {"loss": loss_sum / seen, "size": size, **_fractions(accuracies, correct, seen)}
                        for hook in batch_end:
                            hook(step, logs)
                    if interrupted or self.stop_training:
                        break
                logs = {"loss": loss_sum / seen, **_fractions(accuracies, correct, seen)}
                if interrupted:
                    break  # a partial epoch: no validation, no on_epoch_end, not in the history
                if validation is not None:
                    val = self._evaluate_arrays(*validation, batch_size)
                    logs.update({f"val_{k}": v for k, v in val.items()})
                if verbose:
                    print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - started:.1f}s - "
                          + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
                for hook in cbs.epoch_end:
                    hook(epoch, logs)
                if self.stop_training or interrupted:  # Ctrl-C during the validation: stop here
                    break
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
        if interrupted:
            history.interrupted = True
            if verbose:
                print(f"Interrupted (Ctrl-C) after batch {step + 1}/{steps} of epoch {epoch + 1}/{epochs}; "
                      "the model keeps the weights it has learned.", flush=True)
        for hook in cbs.train_end:
            hook(logs)
        return history

    def _read_by_step(self) -> list[Any]:
        """What a training step's code reads besides the parameters: the modules and the loss."""
        return [*self.modules(), self.loss]

    def _runs_only_builtin_code(self) -> bool:
        """True when the step runs only minigrad's own layers, activations and loss: what "auto" replays.

        Code of your own may read Python state a replay would not read again, so it is traced only
        when you ask (jit_compile=True)."""
        def builtin(module: Module) -> bool:
            if type(module) not in _REPLAYABLE or "forward" in vars(module) or "call" in vars(module):
                return False  # not our class, or our class with its code replaced on the instance
            return not isinstance(module, (Dense, Activation)) or module._activation in ACTIVATIONS.values()
        return _has_batch_path(self.loss) and all(map(builtin, self.modules()))

    # ----- evaluate / predict -------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: int = 0) -> dict[str, float]:
        """{"loss": mean loss, then each compiled metric by name} over (x, y), batched, without recording a graph."""
        self._require_compiled("evaluate")
        batch_size = _positive_int("evaluate: batch_size", 32 if batch_size is None else batch_size)
        x = self._inputs(x)
        y = self._targets(y, len(x))
        targets, accuracies = self._probe(x, y, "evaluate", batch_size)
        started = time.perf_counter()
        result = self._evaluate_arrays(x, targets, accuracies, batch_size)
        if verbose:
            print(f"evaluate - {time.perf_counter() - started:.1f}s - "
                  + " - ".join(f"{k}: {v:.4f}" for k, v in result.items()), flush=True)
        return result

    def _evaluate_arrays(self, x: np.ndarray, targets: np.ndarray, accuracies: list[_Accuracy],
                         batch_size: int) -> dict[str, float]:
        loss_fn, forward = self._batch_loss_function(), self.forward
        loss_sum, correct, n = 0.0, [0] * len(accuracies), len(x)
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for lo in range(0, n, batch_size):
                    xb = x[lo:lo + batch_size]
                    out = forward(Tensor._wrap(xb))
                    loss_sum += float(loss_fn(targets[lo:lo + batch_size], out).data) * len(xb)
                    for i, accuracy in enumerate(accuracies):
                        correct[i] += accuracy.count(out.data, accuracy.labels[lo:lo + batch_size])
        finally:
            self.train(was_training)
        return {"loss": loss_sum / n, **_fractions(accuracies, correct, n)}

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int = 0) -> np.ndarray:
        """The model's outputs for x as one numpy array, computed in batches under no_grad."""
        batch_size = _positive_int("predict: batch_size", 32 if batch_size is None else batch_size)
        x = self._inputs(x)
        n = len(x)
        started = time.perf_counter()
        result: np.ndarray | None = None
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for lo in range(0, n, batch_size):
                    out = self(Tensor._wrap(x[lo:lo + batch_size]))
                    data = out.data if isinstance(out, Tensor) else np.asarray(out)
                    if result is None:
                        result = np.empty((n,) + data.shape[1:], data.dtype)
                    result[lo:lo + len(data)] = data
        finally:
            self.train(was_training)
        if verbose:
            print(f"predict - {n} samples - {time.perf_counter() - started:.1f}s", flush=True)
        return result

    # ----- weights files ------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as numpy arrays, in `parameters()` order (kernel, bias per layer), as Keras."""
        return [t.data.copy() for _, t in self._weight_items()]

    def weights_by_key(self) -> dict[str, np.ndarray]:
        """{key: copy of the values}, keyed as in weights files and checkpoints (`layer0.kernel`, ...)."""
        return {key: t.data.copy() for key, t in self._weight_items()}

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write the weights to `path` (exactly that name) as .npz, atomically: a crash never leaves half a file."""
        if not self.built:
            raise ValueError("save_weights: the model is not built yet; call it on data (or fit it) first")
        arrays = {key: t.data for key, t in self._weight_items()}
        path = os.fspath(path)
        tmp = os.path.join(os.path.dirname(path) or ".",
                           f".{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(tmp, "xb") as f:  # a file object: np.savez would append .npz to a bare name
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, OSError):
                # The OS names the temporary file, which the user never asked for: name their path.
                raise type(exc)(exc.errno, f"save_weights: cannot write {path!r}: {_write_problem(path, exc)}") \
                    from None
            raise

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load a weights file; an unbuilt model builds itself from the file's shapes first.

        Refuses (ValueError naming the first mismatch, nothing changed) a file whose names or shapes
        do not match this model.
        """
        path = os.fspath(path)
        try:
            arrays = read_npz(path)
        except ValueError as exc:
            raise ValueError(f"load_weights: {path!r} is not a readable .npz weights file ({exc}); "
                             "model.save_weights writes one") from None
        self._set_weights_by_key(arrays, source=path)

    def set_weights(self, weights: list[Any] | dict[str, np.ndarray], source: str = "the weights") -> None:
        """Copy `get_weights()`'s list (or `weights_by_key()`'s dict) into the parameters in place.

        Everything is checked first (count, shapes, numbers): all or nothing. Only a dict can build
        an unbuilt model, since its keys say which layer each array belongs to.
        """
        if isinstance(weights, dict):
            self._set_weights_by_key(weights, source)
            return
        if isinstance(weights, (str, bytes, np.ndarray)) or not isinstance(weights, (list, tuple)):
            raise TypeError(f"set_weights: expected a list of arrays as get_weights() returns, "
                            f"got {type(weights).__name__}")
        if not self.built:
            raise ValueError("set_weights: the model is not built yet; call it on one batch of inputs first "
                             "(a list of arrays does not say which layer each belongs to)")
        items = self._weight_items()
        if len(weights) != len(items):
            raise ValueError(f"set_weights: got {len(weights)} arrays but the model has {len(items)} weights "
                             f"({', '.join(f'{key} {t.shape}' for key, t in items)})")
        arrays = [np.asarray(w) for w in weights]
        for i, ((key, t), array) in enumerate(zip(items, arrays, strict=True)):
            if array.shape != t.shape:
                raise ValueError(f"set_weights: array {i} has shape {array.shape} but weight {i} ({key}, "
                                 f"{t.name}) has shape {t.shape}")
            if array.dtype.kind not in "fiu":
                raise TypeError(f"set_weights: array {i} ({key}) holds {array.dtype} values, not numbers")
        for (_, t), array in zip(items, arrays, strict=True):
            _write_in_place(t, array)

    def _set_weights_by_key(self, arrays: dict[str, np.ndarray], source: str) -> None:
        newly_built = self._build_from_weights(arrays, source)
        try:
            items = self._weight_items()
            _check_weights(items, arrays, source)
            self._check_layer_chain(source)
        except BaseException:
            for layer in newly_built:
                layer._unbuild()
            raise
        for key, t in items:
            _write_in_place(t, arrays[key])

    def _build_from_weights(self, arrays: dict[str, np.ndarray], source: str) -> list[Layer]:
        unbuilt = [m for m in self.modules() if isinstance(m, Layer) and not m.built]
        if unbuilt:
            raise ValueError(f"load_weights: layer '{unbuilt[0].name}' is not built; call the model on one "
                             "batch of inputs before loading weights into it")
        return []

    def _check_layer_chain(self, source: str) -> None:
        """Raise ValueError if the loaded shapes make neighbouring layers disagree (none to check here)."""

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, f"{type(self).__name__} '{self.name}'", 1)


class Sequential(Model):
    """A stack of layers, each feeding the next: `nn.Sequential([nn.Dense(25, activation="relu"), ...])`."""

    def __init__(self, layers: list[Module] | None = None, name: str | None = None) -> None:
        super().__init__(name or "sequential")
        self.layers: list[Module] = []
        for layer in layers or []:
            self._check_layer(layer)
            self.layers.append(layer)
        # Named together, so explicit names anywhere in the list are skipped by the automatic ones.
        self._assign_layer_names()

    def add(self, layer: Module) -> None:
        """Append a layer (named dense, dense_1, ... when it has no name); ValueError if its name is taken."""
        self._check_layer(layer)
        self.layers.append(layer)
        try:
            self._assign_layer_names()
        except ValueError:
            self.layers.pop()  # a refused layer leaves the model as it was
            raise

    @staticmethod
    def _check_layer(layer: Any) -> None:
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential: layers must be nn layers (Modules), got {type(layer).__name__}")

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        """The first layer's input shape, (None, features...), once known."""
        return getattr(self.layers[0], "input_shape", None) if self.layers else None

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        """The last layer's output shape, (None, units...), once known (a nested model's row in summary())."""
        return getattr(self.layers[-1], "output_shape", None) if self.layers else None

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """(name, parameter) with the layers' names: ("dense.kernel", ...), ("dense_1.kernel", ...)."""
        out, seen = [], set()
        for layer in self.layers:
            prefix = _layer_key(layer)
            for role, t in layer.named_parameters():
                if id(t) not in seen:
                    seen.add(id(t))
                    out.append((f"{prefix}.{role}", t))
        return out

    def _weight_items(self) -> list[tuple[str, Tensor]]:
        # Keyed by position and role, so any model of the same architecture loads the file.
        out, seen = [], set()
        for i, layer in enumerate(self.layers):
            for role, t in layer.named_parameters():
                if id(t) not in seen:
                    seen.add(id(t))
                    out.append((f"layer{i}.{role}", t))
        return out

    def _summary_rows(self) -> list[tuple[str, str, int]]:
        return [(f"{getattr(layer, 'name', '?')} ({type(layer).__name__})",
                 _shape_text(getattr(layer, "output_shape", None)), _count(layer)) for layer in self.layers]

    def _build_from_weights(self, arrays: dict[str, np.ndarray], source: str) -> list[Layer]:
        built: list[Layer] = []
        try:
            self._build_layers(arrays, source, [(f"layer{i}", str(i)) for i in range(len(self.layers))], built)
        except BaseException:
            for layer in built:
                layer._unbuild()
            raise
        return built

    def _build_layers(self, arrays: dict[str, np.ndarray], source: str, keys: list[tuple[str, str]],
                      built: list[Layer], outer: str = "") -> None:
        """Build each unbuilt layer from the arrays under its key (appending it to `built`).

        `keys` holds each layer's key and its position for messages. A nested Sequential's arrays
        sit under its key with its own `named_parameters` names ("layer0.dense.kernel"), as
        `_weight_items` writes them, so it builds its layers from those (`outer`: the keys' part above
        this model, for messages).
        """
        for layer, (key, position) in zip(self.layers, keys, strict=True):
            prefix = key + "."
            mine = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            if isinstance(layer, Sequential):
                inner = [(_layer_key(sub), f"{position}.{j}") for j, sub in enumerate(layer.layers)]
                layer._build_layers(mine, source, inner, built, outer + prefix)
                continue
            if not isinstance(layer, Layer) or layer.built:
                continue
            shapes = {role: tuple(v.shape) for role, v in mine.items()}
            if not shapes and type(layer).build_from_weights is Layer.build_from_weights:
                continue  # a layer without weights that cannot build this way: it builds on its first call
            try:
                layer.build_from_weights(shapes)
            except ValueError as exc:
                if not shapes:  # nothing under this layer's key: say where the file's weights are instead
                    found = ", ".join(f"'{outer}{k}'" for k in sorted(arrays)[:6]) + (", ..." if len(arrays) > 6 else "")
                    hint = (" Inside a nested model the weights are keyed by its layers' names: give them the "
                            "names they had when the file was saved.") if "." in position else ""
                    raise ValueError(f"load_weights: {source} holds no weights under '{outer}{prefix}' for layer "
                                     f"{position} ('{layer.name}'); beside it the file holds "
                                     f"{found or 'nothing'}.{hint}") from None
                raise ValueError(f"load_weights: {source} does not fit layer {position} ('{layer.name}'): "
                                 f"{exc}") from None
            built.append(layer)

    def _check_layer_chain(self, source: str) -> None:
        # Each layer's inputs are the previous layer's outputs: a file may not make them disagree.
        previous = None
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Sequential):
                layer._check_layer_chain(source)
            shape_in = getattr(layer, "input_shape", None)
            if previous is not None and shape_in is not None and previous[1] is not None \
                    and shape_in[-1] != previous[1][-1]:
                raise ValueError(f"load_weights: {source} does not match this model: layer {i} "
                                 f"('{layer.name}') takes {shape_in[-1]} features but layer {previous[0]} "
                                 f"gives {previous[1][-1]}")
            previous = (i, getattr(layer, "output_shape", None))


# ----- helpers -----------------------------------------------------------------------------

# The modules whose code jit_compile="auto" knows to replay: no random draws, no state, no Python reads
_REPLAYABLE = frozenset({Sequential, Dense, Flatten, Activation})


def _warn_eager(shape: tuple[int, ...] | None, reasons: list[str]) -> None:
    """jit_compile=True, and fit runs some batches eagerly: say which and why, once per shape."""
    warnings.warn(f"fit: jit_compile=True, but {run_eagerly(shape)}: {'; '.join(reasons)}", RuntimeWarning,
                  stacklevel=_first_frame_outside_minigrad())


def _layer_key(layer: Any) -> str:
    """A layer's part of a Sequential's parameter names: its name (its type's, for a Module without one)."""
    return getattr(layer, "name", type(layer).__name__.lower())


def _positive_int(what: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _shape_text(shape: tuple | None) -> str:
    return "?" if shape is None else "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _count(module: Any) -> int:
    return sum(t.size for t in module.parameters()) if isinstance(module, Module) else 0


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{name: array} of an .npz archive; ValueError saying why when it is not one (FileNotFoundError kept).

    Shared by `load_weights` and the trainer's checkpoints, which put the file's name and their own
    words around the reason.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # np.save's single array, not an archive
            raise ValueError("it is a single array saved with np.save, not an .npz archive")  # noqa: TRY004
        with loaded as npz:
            return {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:  # truncated or foreign
        # numpy's message for a file that is not an archive suggests allow_pickle, which is not the problem
        raise ValueError("it is not an .npz archive" if "pickle" in str(exc) else str(exc)) from None


def _write_problem(path: str, exc: OSError) -> str:
    """Why writing `path` failed, for a person: a missing folder is the usual case and deserves a fix."""
    folder = os.path.dirname(path) or "."
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(folder):
        return f"the folder {folder!r} does not exist; create it first"
    if isinstance(exc, IsADirectoryError) or os.path.isdir(path):
        return "it is a folder; give a file name inside it"
    return exc.strerror or str(exc)


def _write_in_place(t: Tensor, values: np.ndarray) -> None:
    """Copy values into a weight in place (an optimizer bound to it keeps it as a view of its flat
    buffer), and say so: a graph made before must not backward through the old values."""
    np.copyto(t.data, values, casting="same_kind")
    note_write(t.data)


def _check_weights(items: list[tuple[str, Tensor]], arrays: dict[str, np.ndarray], source: str) -> None:
    """Raise ValueError naming the first difference between the model's weights and the file's arrays."""
    counts = f"the file holds {len(arrays)} arrays, the model has {len(items)} weights"
    if len(arrays) != len(items):  # a different number of layers: say so before any shape
        expected = {key for key, _ in items}
        missing = [key for key, _ in items if key not in arrays]
        extra = [key for key in arrays if key not in expected]
        first = (f"'{extra[0]}' in the file has no place in the model" if extra
                 else f"no '{missing[0]}' in the file" if missing else "")
        raise ValueError(f"load_weights: {source} does not match this model ({counts}): {first}")
    for key, t in items:
        if key not in arrays:
            raise ValueError(f"load_weights: {source} does not match this model ({counts}): "
                             f"no '{key}' ({t.name}, shape {t.shape}) in the file")
        if tuple(arrays[key].shape) != t.shape:
            raise ValueError(f"load_weights: {source} does not match this model: '{key}' has shape "
                             f"{tuple(arrays[key].shape)} in the file but {t.shape} in the model ({t.name})")
        if arrays[key].dtype.kind not in "fiu":
            raise TypeError(f"load_weights: '{key}' in {source} holds {arrays[key].dtype} values, not numbers")
    expected = {key for key, _ in items}
    extra = [key for key in arrays if key not in expected]
    if extra:
        raise ValueError(f"load_weights: {source} does not match this model ({counts}): "
                         f"'{extra[0]}' in the file has no place in the model")


def _check_labels(y: np.ndarray, classes: int, what: str) -> None:
    """Class-index labels must be whole numbers in [0, classes): say which one is not, before training."""
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{what}: labels must be class indices (integers), got {y.dtype}")
    low, high = y.min(), y.max()
    if low < 0 or high >= classes:
        bad = int(np.flatnonzero((y < 0) | (y >= classes))[0])
        raise ValueError(f"{what}: label {y[bad].item()!r} at index {bad} is out of range for a model with {classes} "
                         f"outputs (labels must be in [0, {classes}))")
    if y.dtype.kind == "f" and not np.array_equal(y, np.floor(y)):
        bad = int(np.flatnonzero(y != np.floor(y))[0])
        raise ValueError(f"{what}: label {y[bad].item()!r} at index {bad} is not a whole number (class index)")


def _compiled_metrics(metrics: Any) -> tuple[list[str], list[str]]:
    """(names, identifiers) of compile's metrics: each named by the identifier given, as Keras 3 names them.

    Keras makes a repeated name unique with a suffix ("accuracy", "accuracy_1"). Only the accuracy
    family minigrad computes is known; anything else is refused here, at compile.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    if metrics is None:
        metrics = []
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(f"compile: metrics must be a list of names such as ['accuracy'], got {type(metrics).__name__}")
    names: list[str] = []
    identifiers: list[str] = []
    for metric in metrics:
        if not isinstance(metric, str) or metric.lower() not in _ACCURACY_NAMES:
            raise ValueError(f"compile: unknown metric {metric!r}; minigrad supports "
                             f"{', '.join(repr(n) for n in _ACCURACY_NAMES)}")
        name, k = metric, 1
        while name in names:
            name, k = f"{metric}_{k}", k + 1
        names.append(name)
        identifiers.append(metric.lower())
    return names, identifiers


def _fractions(accuracies: list[_Accuracy], correct: list[int], samples: int) -> dict[str, float]:
    """{name: fraction correct} of each accuracy after `samples` samples."""
    return {a.name: c / (samples * a.per_sample) for a, c in zip(accuracies, correct, strict=True)}


def _accuracy_kind(name: str, loss: Any, y: np.ndarray, out_shape: tuple[int, ...]) -> str:
    """The accuracy ("sparse", "categorical" or "binary") that the metric `name` computes.

    An explicit name is taken at its word. "accuracy"/"acc" follows Keras 2's rule, not Keras 3's:
    a built-in cross-entropy loss decides (BinaryCrossentropy -> binary, CategoricalCrossentropy ->
    categorical, SparseCategoricalCrossentropy -> sparse), and only other losses fall back to the
    shapes, which Keras 3 uses for every loss (one output -> binary; labels a rank short of the
    outputs or ending in 1 -> sparse; else categorical). The loss already says how the labels are
    meant: BinaryCrossentropy on several sigmoid outputs (multi-label) counts every output against
    its target, where Keras 3's shape rule would compare argmaxes.
    """
    if name in ("sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy"):
        return name.split("_accuracy")[0].replace("_categorical", "")
    from minigrad.nn import losses

    if isinstance(loss, losses.BinaryCrossentropy):
        return "binary"
    if isinstance(loss, losses.CategoricalCrossentropy):
        return "categorical"
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return "sparse"
    if out_shape[-1] == 1:
        return "binary"
    if y.ndim < len(out_shape) or (y.shape[-1] == 1 and out_shape[-1] > 1):
        return "sparse"
    return "categorical"


def _check_metric_labels(name: str, kind: str, y: np.ndarray, out_shape: tuple[int, ...], what: str) -> None:
    """Raise ValueError when an accuracy cannot read these labels: at the probe, before a step changes a weight."""
    outputs, labels = tuple(out_shape[1:]), tuple(y.shape[1:])
    indices = bool(outputs) and labels in (outputs[:-1], outputs[:-1] + (1,))  # one class index per row of scores
    rows = labels == outputs
    classes = outputs[-1] if outputs else 1
    if kind == "sparse" and not indices:
        reads = "compares class indices with the argmax of the outputs"
        hint = ("they look like one-hot rows: pass metrics=['categorical_accuracy'] (or 'accuracy'), or the "
                "labels as class indices, y.argmax(axis=-1)") if rows else \
            f"give class indices of shape {(len(y),) + outputs[:-1]}"
    elif kind == "categorical" and not rows:
        reads = "compares one-hot rows shaped like the outputs by their argmax"
        hint = ("they look like class indices: pass metrics=['sparse_categorical_accuracy'] (or 'accuracy'), or "
                f"one-hot labels np.eye({classes})[y]") if indices else f"give labels of shape {(len(y),) + outputs}"
    elif kind == "binary" and not (rows or labels + (1,) == outputs or labels == outputs + (1,)):
        reads = "compares each output with a 0/1 target of the same shape"
        hint = ("they look like class indices: pass metrics=['sparse_categorical_accuracy']" if indices and classes > 1
                else f"give targets of shape {(len(y),) + outputs}")
    else:
        return
    raise ValueError(f"{what}: metric {name!r} {reads}, but the labels have shape {y.shape} for outputs of shape "
                     f"{(None,) + outputs}; {hint}")


def _accuracy_counter(kind: str, loss: Any, out_shape: tuple[int, ...]) -> tuple[Callable, int]:
    """(count_correct(outputs, targets) -> int, values counted per sample) for an accuracy kind."""
    if kind == "sparse":
        return (lambda out, y: int(np.count_nonzero(out.argmax(axis=-1) == y))), 1
    if kind == "categorical":
        return (lambda out, y: int(np.count_nonzero(out.argmax(axis=-1) == y.argmax(axis=-1)))), 1
    # binary: probabilities above 0.5, or logits above 0 when the loss takes logits
    threshold = 0.0 if getattr(loss, "from_logits", False) else 0.5
    per_sample = math.prod(out_shape[1:]) or 1

    def count_binary(out: np.ndarray, y: np.ndarray) -> int:
        return int(np.count_nonzero((out > threshold) == (y.reshape(out.shape) > 0.5)))

    return count_binary, per_sample
