"""Optimizers with Keras' names and update rules: SGD (momentum, Nesterov) and Adam.

The step runs after every batch, so it is built to be cheap: when an optimizer is bound to its
parameters it moves their values into one flat buffer (each parameter's `.data` becomes a view
into it) and keeps the gradients and the moments in flat buffers of the same layout. An update is
then a dozen whole-array numpy operations, whatever the number of layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from minigrad.engine import note_write
from minigrad.tensor import Tensor

__all__ = ["SGD", "Adam", "Optimizer", "get"]


class _FlatGroup:
    """Parameters of one dtype laid out end to end in flat buffers (values, gradients, slots)."""

    __slots__ = (
        "data",
        "grad",
        "grad_views",
        "indices",
        "params",
        "shapes",
        "slots",
        "spans",
        "tmp",
        "views",
        "whole",
    )

    def __init__(self, params: list[Tensor], indices: list[int], dtype: np.dtype, slot_names: tuple[str, ...]):
        self.params = params
        self.indices = indices  # positions in the optimizer's parameter list (for state_dict keys)
        self.shapes = [p.shape for p in params]
        self.spans: list[tuple[int, int]] = []
        start = 0
        for p in params:
            self.spans.append((start, start + p.size))
            start += p.size
        self.data = np.empty(start, dtype)
        self.grad = np.zeros(start, dtype)
        self.views: list[np.ndarray] = []
        self.grad_views: list[np.ndarray] = []
        for p, (a, b) in zip(params, self.spans):
            self.data[a:b] = p.data.reshape(-1)
            view = self.data[a:b].reshape(p.shape)
            p.data = view  # from now on the parameter's values live in the flat buffer
            self.views.append(view)
            self.grad_views.append(self.grad[a:b].reshape(p.shape))
        self.slots = {name: np.zeros(start, dtype) for name in slot_names}
        self.tmp = np.empty(start, dtype)
        # What an update works on, in _update's argument order. One scratch buffer is enough: the
        # flat gradient is a copy the optimizer owns, so an update may overwrite it once it has
        # read it (one buffer fewer for every step's memory traffic).
        self.whole = [self.data, self.grad, *self.slots.values(), self.tmp]

    def gather(self) -> list[tuple[int, int]] | None:
        """Copy each `.grad` into the flat gradient; the spans to update (None = all of them)."""
        missing = False
        for i, (p, view, gview) in enumerate(zip(self.params, self.views, self.grad_views)):
            if p.data is not view:
                self._rebind(i)
            g = p.grad
            if g is None:
                missing = True
                continue
            if g.data.shape != gview.shape:
                raise ValueError(f"optimizer: parameter {p.name or i} has shape {p.shape} but its .grad has "
                                 f"shape {g.data.shape}")
            np.copyto(gview, g.data)
        if not missing:
            return None
        runs: list[tuple[int, int]] = []
        for p, (a, b) in zip(self.params, self.spans):
            if p.grad is None:
                continue  # PyTorch and Keras skip parameters without a gradient
            if runs and runs[-1][1] == a:
                runs[-1] = (runs[-1][0], b)
            else:
                runs.append((a, b))
        return runs

    def _rebind(self, i: int) -> None:
        """Someone replaced `p.data` with a new array: take its values and make `.data` a view again."""
        p, view = self.params[i], self.views[i]
        if p.data.shape != view.shape:
            raise ValueError(f"optimizer: parameter {p.name or i} changed shape from {view.shape} to "
                             f"{p.data.shape} after the optimizer was bound; bind it again")
        np.copyto(view, p.data)
        p.data = view

    def arrays(self, span: tuple[int, int] | None) -> list[np.ndarray]:
        """[values, grad, *slots, tmp], whole or restricted to span."""
        if span is None:
            return self.whole
        a, b = span
        return [x[a:b] for x in self.whole]


class Optimizer:
    """Base: binds parameters into flat buffers; subclasses define `_update` on whole arrays."""

    name = "Optimizer"
    slot_names: tuple[str, ...] = ()  # per-parameter state, e.g. Adam's ("m", "v")
    hyperparameter_names: tuple[str, ...] = ("learning_rate",)

    def __init__(self, params: Iterable[Tensor] | None = None,
                 learning_rate: float | Callable[[int], float] = 0.01) -> None:
        if not callable(learning_rate):
            learning_rate = _positive(f"{self.name}: learning_rate", learning_rate)
        self.learning_rate = learning_rate
        self.iterations = 0  # steps taken (Keras' optimizer.iterations)
        self._params: list[Tensor] | None = None
        self._groups: list[_FlatGroup] = []
        self._pending: dict[str, Any] | None = None  # state loaded before the parameters were bound
        if params is not None:
            self.bind(params)

    # ----- parameters -----------------------------------------------------------------------
    @property
    def params(self) -> list[Tensor] | None:
        """The parameters this optimizer updates (None until bound)."""
        return None if self._params is None else list(self._params)

    def bind(self, params: Iterable[Tensor]) -> None:
        """Attach to `params`; their `.data` become views into one flat buffer. Resets the slots."""
        if isinstance(params, Tensor):
            params = [params]
        if isinstance(params, (int, float)):  # Keras' Adam(0.01) is a learning rate; here params come first
            raise TypeError(f"{self.name}: the first argument is the parameters; pass the learning rate by "
                            f"name: {self.name}(learning_rate={params!r})")
        unique: list[Tensor] = []
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self.name}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if p.dtype.kind != "f":
                raise TypeError(f"{self.name}: parameter {p.name or i} is {p.dtype}; only float tensors train")
            if not p.requires_grad or p.op is not None:
                raise ValueError(f"{self.name}: parameter {p.name or i} must be a leaf tensor with "
                                 "requires_grad=True")
            if id(p) not in seen:
                seen.add(id(p))
                unique.append(p)
        if not unique:
            raise ValueError(f"{self.name}: got no parameters to optimize")
        by_dtype: dict[np.dtype, list[int]] = {}
        for i, p in enumerate(unique):
            by_dtype.setdefault(p.dtype, []).append(i)
        self._groups = [_FlatGroup([unique[i] for i in idx], idx, dtype, self.slot_names)
                        for dtype, idx in by_dtype.items()]
        self._params = unique
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.load_state_dict({"optimizer": self.name, **pending})  # the slot arrays kept before binding

    def bound_to(self, params: list[Tensor]) -> bool:
        """True when bound to exactly these parameters, in this order."""
        return self._params is not None and len(params) == len(self._params) and all(
            a is b for a, b in zip(params, self._params))

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None."""
        for p in self._params or ():
            p.grad = None

    # ----- stepping ------------------------------------------------------------------------
    def step(self) -> None:
        """Update every parameter that has a `.grad` (parameters without one are skipped)."""
        if self._params is None:
            raise RuntimeError(f"{self.name}.step(): no parameters; pass them when creating the optimizer, "
                               "call .bind(params), or let model.compile/fit bind them")
        lr = self.learning_rate(self.iterations) if callable(self.learning_rate) else self.learning_rate
        work = [(group, group.gather()) for group in self._groups]
        if all(runs == [] for _, runs in work):
            return  # no gradient anywhere: nothing to do, and the step count stays
        self.iterations += 1
        for group, runs in work:
            # The values change in place: a graph made before this step must not backward through
            # them (only the updated spans: a parameter without a gradient is left as it was).
            if runs is None:
                self._update(*group.arrays(None), lr=lr)
                note_write(group.data)
            else:
                for span in runs:
                    self._update(*group.arrays(span), lr=lr)
                    note_write(group.data[span[0]:span[1]])

    def _update(self, p: np.ndarray, g: np.ndarray, *slots_and_tmp: np.ndarray, lr: float) -> None:
        """Update the values p in place from the gradient g: the optimizer's own flat copy, which the
        update may use as scratch once it has read it."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ----- state ---------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The hyperparameters by name."""
        return {name: getattr(self, name) for name in self.hyperparameter_names}

    def state_dict(self) -> dict[str, Any]:
        """{"optimizer", "iterations", hyperparameters, "m.0", ...}: flat, so `np.savez(**state)` stores it."""
        state: dict[str, Any] = {"optimizer": self.name, "iterations": self.iterations}
        for name, value in self.get_config().items():
            if not callable(value):  # a schedule function cannot be stored; re-create it in code
                state[name] = value
        if self._params is None:
            if self._pending is not None:
                state.update({k: v for k, v in self._pending.items() if _slot_key(k, self.slot_names)})
            return state
        for group in self._groups:
            for index, (a, b), shape in zip(group.indices, group.spans, group.shapes):
                for slot in self.slot_names:
                    state[f"{slot}.{index}"] = group.slots[slot][a:b].reshape(shape).copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict()` returned (also after a trip through np.savez/np.load)."""
        state = dict(state)
        if "optimizer" not in state:
            raise ValueError(f"{self.name}.load_state_dict: this is not an optimizer state (it has no "
                             f"'optimizer' entry; keys: {', '.join(map(str, list(state)[:5])) or 'none'}); "
                             "pass what optimizer.state_dict() returned")
        kind = _plain(state["optimizer"])
        if str(kind).lower() != self.name.lower():
            raise ValueError(f"{self.name}.load_state_dict: the state is for {kind}, not {self.name}")
        known = {"optimizer", "iterations", *self.hyperparameter_names}
        unknown = [k for k in state if k not in known and not _slot_key(k, self.slot_names)]
        if unknown:
            raise ValueError(f"{self.name}.load_state_dict: unknown entry '{unknown[0]}' in the state (an "
                             f"{self.name} state holds 'optimizer', 'iterations', "
                             f"{', '.join(repr(n) for n in self.hyperparameter_names)} and "
                             f"{' and '.join(repr(f'{n}.<i>') for n in self.slot_names) or 'no'} arrays)")
        slots = {k: np.asarray(v) for k, v in state.items() if _slot_key(k, self.slot_names)}
        if self.slot_names and not slots and int(_plain(state.get("iterations", -1))) != 0:
            # Only a state saved before any step (iterations 0) has no slot arrays: loading this one
            # would silently start the moments from zero in the middle of training.
            taken = f"says {_plain(state['iterations'])} steps were taken" if "iterations" in state else \
                "has no 'iterations'"
            raise ValueError(f"{self.name}.load_state_dict: the state {taken} but holds none of the "
                             f"{'/'.join(self.slot_names)} arrays; it is incomplete (save all of "
                             "optimizer.state_dict())")
        if self._params is not None and slots:  # no slot arrays: a state saved before any binding (zeros)
            self._check_slots(slots)
        hyper = {name: _plain(state[name]) for name in self.hyperparameter_names if name in state}
        self._check_hyperparameters(hyper)
        # All checked: from here nothing raises, so a refused state leaves the optimizer as it was.
        for name, value in hyper.items():
            setattr(self, name, value)
        if "iterations" in state:
            self.iterations = int(_plain(state["iterations"]))
        if self._params is None:
            self._pending = {k: v.copy() for k, v in slots.items()} if slots else None
            return
        for group in self._groups:
            for index, (a, b) in zip(group.indices, group.spans):
                for slot in self.slot_names:
                    group.slots[slot][a:b] = slots[f"{slot}.{index}"].reshape(-1) if slots else 0

    def _check_slots(self, slots: dict[str, np.ndarray]) -> None:
        expected = {f"{slot}.{i}": p.shape for i, p in enumerate(self._params) for slot in self.slot_names}
        for key, shape in expected.items():
            if key not in slots:
                raise ValueError(f"{self.name}.load_state_dict: the state has no '{key}' (it holds "
                                 f"{len(slots)} slot arrays; this optimizer has {len(self._params)} "
                                 f"parameters needing {len(expected)})")
            if slots[key].shape != shape:
                i = int(key.split(".")[1])
                raise ValueError(f"{self.name}.load_state_dict: '{key}' has shape {slots[key].shape} but "
                                 f"parameter {i} ({self._params[i].name or 'unnamed'}) has shape {shape}")
        extra = sorted(set(slots) - set(expected))
        if extra:
            raise ValueError(f"{self.name}.load_state_dict: the state has {len(slots)} slot arrays but this "
                             f"optimizer has {len(self._params)} parameters; first extra: '{extra[0]}'")

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> None:
        if "learning_rate" in hyper:
            _positive(f"{self.name}: learning_rate", hyper["learning_rate"])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        bound = "unbound" if self._params is None else f"{sum(p.size for p in self._params)} values"
        return f"{self.name}({args}) [{bound}, iterations={self.iterations}]"


def _slot_key(key: str, slot_names: tuple[str, ...]) -> bool:
    head, _, tail = key.partition(".")
    return head in slot_names and tail.isdigit()


def _plain(value: Any) -> Any:
    """A 0-d array from np.load back to a Python scalar or string."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _positive(what: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number, got {value!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{what} must be a positive number, got {value}")
    return value


def _fraction(what: str, value: Any, upper_inclusive: bool = False) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0 if upper_inclusive else 0.0 <= value < 1.0):
        raise ValueError(f"{what} must be in [0, 1{']' if upper_inclusive else ')'}, got {value}")
    return value


class SGD(Optimizer):
    """Keras' SGD: v = momentum·v − lr·g; p += v (Nesterov: p += momentum·v − lr·g); plain p −= lr·g."""

    name = "SGD"
    slot_names = ("momentum",)
    hyperparameter_names = ("learning_rate", "momentum", "nesterov")

    def __init__(self, params: Iterable[Tensor] | None = None,
                 learning_rate: float | Callable[[int], float] = 0.01, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        self.momentum = _fraction("SGD: momentum", momentum, upper_inclusive=True)
        self.nesterov = bool(nesterov)
        super().__init__(params, learning_rate)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> None:
        super()._check_hyperparameters(hyper)
        if "momentum" in hyper:
            _fraction("SGD: momentum", hyper["momentum"], upper_inclusive=True)

    def _update(self, p, g, velocity, tmp, *, lr):
        np.multiply(g, lr, out=tmp)
        if self.momentum == 0.0:
            p -= tmp
            return
        velocity *= self.momentum
        velocity -= tmp  # v = momentum·v − lr·g
        if self.nesterov:
            np.multiply(velocity, self.momentum, out=g)  # g has been read: it is scratch now
            g -= tmp
            p += g
        else:
            p += velocity


class Adam(Optimizer):
    """Keras' Adam: m += (1−β1)(g − m); v += (1−β2)(g² − v); p −= α·m/(√v + ε), α = lr·√(1−β2ᵗ)/(1−β1ᵗ)."""

    name = "Adam"
    slot_names = ("m", "v")
    hyperparameter_names = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, params: Iterable[Tensor] | None = None,
                 learning_rate: float | Callable[[int], float] = 1e-3, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        self.beta_1 = _fraction("Adam: beta_1", beta_1)
        self.beta_2 = _fraction("Adam: beta_2", beta_2)
        self.epsilon = float(epsilon)
        if not self.epsilon >= 0:
            raise ValueError(f"Adam: epsilon must be >= 0, got {epsilon}")
        super().__init__(params, learning_rate)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> None:
        super()._check_hyperparameters(hyper)
        for name in ("beta_1", "beta_2"):
            if name in hyper:
                _fraction(f"Adam: {name}", hyper[name])

    def _update(self, p, g, m, v, tmp, *, lr):
        t = self.iterations
        alpha = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp
        np.square(g, out=g)  # the last read of g: from here on it is scratch
        g -= v
        g *= 1.0 - self.beta_2
        v += g
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.multiply(m, alpha, out=g)  # Keras' order: (m·α) / (√v + ε)
        g /= tmp
        p -= g


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from "adam"/"sgd" (Keras' defaults), or an Optimizer instance as is."""
    if isinstance(identifier, Optimizer):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(f"an optimizer must be a name or an Optimizer instance, got {type(identifier).__name__}")
    if identifier.lower() not in _BY_NAME:
        raise ValueError(f"unknown optimizer {identifier!r}; choose one of {', '.join(_BY_NAME)} "
                         "or pass an instance such as optim.Adam(learning_rate=1e-3)")
    return _BY_NAME[identifier.lower()]()
