"""fit's training step, replayed: trace it once per batch shape, check it once, then replay it.

`minigrad/replay.py` turns one run of a step into a Program; this module decides when `fit` may use
one. A batch shape is traced on its second batch (a shape seen once, like an epoch's short last
batch in the first epoch, is not worth a trace). Its Program is kept only after it computed, on the
next batch of that shape, exactly what the eager step computed (every bit of the loss, the outputs
and each gradient), and it is used only while the model is as it was traced: the same parameter
arrays, the same `requires_grad`, the same objects in every layer's and the loss's attributes.
Anything else, and that batch runs eagerly (and the step is traced again). Programs outlive one
`fit`: the model's next `fit` reuses them while that check holds.
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np

from minigrad.engine import STATE
from minigrad.replay import Program, _owner, trace
from minigrad.tensor import Tensor

__all__ = ["TrainStep", "run_eagerly"]

_MAX_RETRACES = 16  # a model that changes more often than this in one fit trains eagerly for the rest
_MAX_PROGRAMS = 8  # batch shapes kept traced (and checked), each; the oldest goes first
_MAX_SEEN = 64  # batch shapes remembered as seen once


class TrainStep:
    """fit's forward and backward pass for one batch, replayed from a checked Program per batch shape.

    `eager(x, y)` is the step itself: it sets each parameter's `.grad` and returns (the loss's array,
    the outputs' array). `watch()` lists what the step's code reads besides the parameters: objects
    (layers, the loss) whose attributes are watched, all but those an object names in its
    `_not_read_by_step` (a model's history, say).
    `on_refuse(shape, reasons)` hears of each batch shape that stays eager (shape None: every batch).
    """

    def __init__(self, eager: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                 params: list[Tensor], watch: Callable[[], Sequence[Any]] = list,
                 on_refuse: Callable[[tuple[int, ...] | None, list[str]], None] | None = None,
                 made_for: Sequence[Any] = ()) -> None:
        self.eager = eager
        self.params = params
        self.made_for = tuple(made_for)  # what else the eager step was made from (the loss, the forward)
        self.on_refuse = on_refuse
        self.ready: dict[tuple[Any, ...], Program] = {}  # batch key -> the program to run
        self.pending: dict[tuple[Any, ...], Program] = {}  # traced, not yet checked against a second batch
        self.seen: set[tuple[Any, ...]] = set()  # batch keys met once, not yet traced
        self.refused: dict[tuple[Any, ...] | None, list[str]] = {}  # keys that stay eager (None: all), and why
        self.retraces = 0  # how often a change in the model sent the step back to tracing
        self._watch = watch
        self._owners: list[dict[str, Any]] = []  # with _names: watched attribute i is _owners[i][_names[i]]
        self._names: list[str] = []
        self._containers: list[Any] = []  # lists, tuples and dict views among those attributes
        self._tensors: list[Tensor] = list(params)  # the parameters and every Tensor among those attributes
        self._kept: list[Any] = []  # the objects the snapshot names by id, alive, so no id is reused
        self._traced_with: tuple[Any, ...] | None = None  # the snapshot the programs were traced with

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Strides too: whether a reshape views or copies, so which arrays share memory, depends on them.
        key = (x.shape, x.dtype, x.strides, y.shape, y.dtype, y.strides)
        replayable = STATE.grad_enabled and not STATE.anomaly
        program = self.ready.get(key)
        if program is not None and replayable and self._snapshot() == self._traced_with:
            loss, out, *grads = program(x, y)
            self._set_grads(grads)
            return loss, out
        if not replayable or None in self.refused:
            return self.eager(x, y)
        self._forget_programs_if_the_model_changed()
        if key in self.refused or None in self.refused:
            return self.eager(x, y)
        program = self.pending.pop(key, None)
        if program is None:
            if key not in self.seen:  # the first batch of this shape: eager, and remembered
                if len(self.seen) >= _MAX_SEEN:
                    self.seen.clear()
                self.seen.add(key)
                return self.eager(x, y)
            self.seen.discard(key)
            return self._traced_step(x, y, key)
        expected = self._outputs(x, y)  # the eager step, and the gradients it set
        if _replays(program, x, y, expected):
            _keep(self.ready, key, program)
        else:
            self._refuse(key, ["its replay differed from the eager step on the next batch"])
        return expected[0], expected[1]

    def start(self) -> None:
        """A new fit begins: its model may change again as often as one fit allows."""
        self.retraces = 0
        self.refused.pop(None, None)

    def runs(self, params: list[Tensor], made_for: Sequence[Any] = ()) -> bool:
        """True when this step trains exactly these parameters, with the same loss and forward (so a
        later fit may reuse its programs)."""
        return _same_objects(params, self.params) and _same_objects(made_for, self.made_for)

    def _snapshot(self) -> tuple[Any, ...]:
        """What the programs depend on besides their inputs, as ids and flags."""
        # All C loops (map, chain): this runs before every replayed batch.
        tensors = self._tensors
        return (tuple(map(id, map(_DATA, tensors))), tuple(map(_REQUIRES_GRAD, tensors)),
                tuple(map(id, map(dict.get, self._owners, self._names))),
                tuple(map(id, chain.from_iterable(self._containers))))

    def _forget_programs_if_the_model_changed(self) -> None:
        if self._snapshot() == self._traced_with:
            return
        self._look_again()  # a layer added or swapped: watch what the step reads now
        state = self._snapshot()
        if self._traced_with is not None and state != self._traced_with:
            self.ready.clear()
            self.pending.clear()
            self.retraces += 1
            if self.retraces == _MAX_RETRACES:
                self._refuse(None, [f"the model changed {_MAX_RETRACES} times in one fit"])
        self._traced_with = state
        self._kept = [list(map(_DATA, self._tensors)), list(map(dict.get, self._owners, self._names)),
                      *(list(c) for c in self._containers)]

    def _look_again(self) -> None:
        """The watched objects' attributes by name (an attribute added later, as a callback's note on
        the model, is not read by the step), the lists, tuples and dicts among them, and the Tensors
        among both that fit does not train (a weight's array can change without its layer's attributes)."""
        owners, names = [], []
        for thing in self._watch():
            if hasattr(thing, "__dict__"):
                attributes = vars(thing)
                skip = getattr(thing, "_not_read_by_step", ())
                for name in attributes:
                    if name not in skip:
                        owners.append(attributes)
                        names.append(name)
        values = list(map(dict.get, owners, names))
        self._owners, self._names = owners, names
        self._containers = [v.values() if type(v) is dict else v for v in values if type(v) in (list, tuple, dict)]
        params = set(map(id, self.params))
        found = chain(values, chain.from_iterable(self._containers))
        self._tensors = [*self.params, *(v for v in found if isinstance(v, Tensor) and id(v) not in params)]

    def _traced_step(self, x: np.ndarray, y: np.ndarray, key: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        weights = {p.name or f"param{i}": p.data for i, p in enumerate(self.params)}
        others = self._tensors[len(self.params):]  # watched Tensors fit does not train
        grads_before = [t.grad for t in others]
        result = trace(self._outputs, (x, y), ("x", "y"), weights)  # the step itself: its errors are eager's
        loss, out, *grads = result.outputs
        self._set_grads(grads)  # the plain arrays, not the traced ones the step made
        reasons = list(result.reasons)
        for t, before in zip(others, grads_before):
            if t.grad is not before:  # backward reached it: a replay would not keep its .grad going
                reasons.append(f"its backward also sets .grad of {t.name or 'a tensor'}, which fit does not train")
                t.grad = _wrap(np.asarray(t.grad.data))  # a plain array, not the trace's
        if result.program is None or reasons:
            self._refuse(key, reasons)
        else:
            _keep(self.pending, key, result.program)
        return loss, out

    def _outputs(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
        loss, out = self.eager(x, y)
        return (loss, out, *[None if p.grad is None else p.grad.data for p in self.params])

    def _set_grads(self, grads: Sequence[np.ndarray | None]) -> None:
        for p, g in zip(self.params, grads):
            p.grad = None if g is None else _wrap(g)

    def _refuse(self, key: tuple[Any, ...] | None, reasons: list[str]) -> None:
        self.refused[key] = reasons
        if self.on_refuse is not None:
            self.on_refuse(None if key is None else key[0], reasons)

    def refusals(self) -> str:
        """Which batches run eagerly, and why, in a sentence ("" when every batch shape is replayed)."""
        return "; ".join(f"{run_eagerly(None if key is None else key[0])}: {', '.join(why)}"
                         for key, why in self.refused.items())

    def __repr__(self) -> str:
        shapes = "".join(f"\n# batches of shape {key[0]}\n{program.source}" for key, program in self.ready.items())
        return f"<TrainStep: {len(self.ready)} replayed batch shape(s)>{shapes}"


def run_eagerly(shape: tuple[int, ...] | None) -> str:
    """The words for the batches of one input shape (None: all of them) that run eagerly."""
    return "every batch runs eagerly" if shape is None else f"batches of shape {shape} run eagerly"


def _same_objects(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _keep(programs: dict[tuple[Any, ...], Program], key: tuple[Any, ...], program: Program) -> None:
    """programs[key] = program, forgetting the oldest past _MAX_PROGRAMS (shapes that keep changing)."""
    if len(programs) >= _MAX_PROGRAMS:
        del programs[next(iter(programs))]
    programs[key] = program


def _replays(program: Program, x: np.ndarray, y: np.ndarray, expected: Sequence[Any]) -> bool:
    """True when the program computes `expected`, the eager step's outputs on this batch."""
    # The eager step has just warned about this batch (an overflow, say): the check does not again.
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _identical(program(x, y), expected)
        except Exception:  # noqa: BLE001 - a program that cannot run on this batch is one to refuse
            return False


def _identical(got: Sequence[Any], expected: Sequence[Any]) -> bool:
    """True when both hold the same arrays bit for bit (NaNs included), None in the same places, and
    the same ones share memory (two .grad sharing it would change together)."""
    if len(got) != len(expected) or _sharing(got) != _sharing(expected):
        return False
    for a, b in zip(got, expected):
        if a is None or b is None:
            if a is not b:
                return False
            continue
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype or a.tobytes() != b.tobytes():
            return False
    return True


def _sharing(arrays: Sequence[Any]) -> list[int]:
    """For each array, the position of the first one with the same memory owner (-1 for None)."""
    owners = [None if a is None else _owner(np.asarray(a)) for a in arrays]
    return [-1 if o is None else owners.index(o) for o in owners]


_DATA = operator.attrgetter("data")
_REQUIRES_GRAD = operator.attrgetter("requires_grad")
_wrap = Tensor._wrap
