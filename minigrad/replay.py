"""Trace a training step's numpy calls once, then replay them: `compile(jit_compile=...)`.

An eager step spends a good part of its time in Python: making Tensors and graph nodes, walking the
graph backwards, checking shapes and dtypes. With the same shapes, all of that comes out the same on
every batch; only the numbers change. So `fit` runs the first batch of each shape once more with
*traced* arrays (real arrays that note down every numpy call made on them) and writes those calls out
as a plain Python function, a `Program` (print `program.source` to read your network's training step
as numpy code). On the next batch of that shape it runs both the eager step and the program, and
uses the program from then on only when the two agree bit for bit. A shape whose trace saw something
it cannot replay (a value read into Python, an array made outside numpy's dispatch, a write into an
array the step did not make), or whose replay disagreed, stays eager. This is what `jax.jit` and
`torch.compile` do, in the simplest form that can work: no new numerics, the same calls in the same
order on the same arrays.
"""

from __future__ import annotations

import linecache
import math
import operator
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from minigrad.engine import STATE, _memory_owner

if TYPE_CHECKING:  # pragma: no cover
    from minigrad.tensor import Tensor

__all__ = ["Program", "Trace", "TracedArray", "TrainStep", "asarray", "call_whole", "trace"]

_TRACING = threading.local()  # .recorder: the trace this thread is recording, if any

# numpy functions that write into their first argument (the rest are taken to make new arrays)
_WRITES_FIRST = frozenset({np.copyto, np.put, np.place, np.putmask, np.fill_diagonal})


class TracedArray(np.ndarray):
    """An ndarray that records the numpy calls made on it while a trace is on.

    `_raw` is the plain array with the same memory (what the recorded call really ran on) and `_slot`
    the program variable that holds it. An instance numpy made on its own (a view from a method this
    class does not wrap) has neither, and using it makes the trace unreplayable.
    """

    _raw: np.ndarray | None = None
    _slot: int | None = None

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        name = f"np.{ufunc.__name__}" if method == "__call__" else f"np.{ufunc.__name__}.{method}"
        if getattr(np, ufunc.__name__, None) is not ufunc:
            name = None
        writes = kwargs.get("out", ())
        if method == "at":
            writes = (inputs[0],)
        return _call(fn, name, inputs, kwargs, writes)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        name = f"np.{func.__name__}" if getattr(np, func.__name__, None) is func else None
        writes = args[:1] if func in _WRITES_FIRST else ()
        return _call(func, name, args, kwargs, writes)

    @property
    def T(self) -> Any:
        return _call(np.ndarray.transpose, "ndarray.transpose", (self,), {}, ())

    def __getitem__(self, index: Any) -> Any:
        return _call(operator.getitem, "getitem", (self, index), {}, ())

    def __setitem__(self, index: Any, value: Any) -> None:
        _call(operator.setitem, "setitem", (self, index, value), {}, (self,))

    def fill(self, value: Any) -> None:
        _call(np.ndarray.fill, "ndarray.fill", (self, value), {}, (self,))

    # Reading a value into Python: the program would replay the branch this trace took, whatever
    # the next batch holds. The trace answers (its values are real) but cannot be replayed.
    def __bool__(self) -> bool:
        return bool(_reads(self, "bool()"))

    def __float__(self) -> float:
        return float(_reads(self, "float()"))

    def __int__(self) -> int:
        return int(_reads(self, "int()"))

    def __index__(self) -> int:
        return operator.index(_reads(self, "an index"))

    def item(self, *args: Any) -> Any:
        return _reads(self, ".item()").item(*args)

    def tolist(self) -> Any:
        return _reads(self, ".tolist()").tolist()

    def __iter__(self) -> Any:
        return iter(_reads(self, "iteration"))


def _method(name: str, in_place: bool = False) -> Callable[..., Any]:
    unbound = getattr(np.ndarray, name)

    def method(self: TracedArray, *args: Any, **kwargs: Any) -> Any:
        writes = (self,) if in_place else ()
        if kwargs.get("out") is not None:
            writes = (*writes, kwargs["out"])
        return _call(unbound, f"ndarray.{name}", (self, *args), kwargs, writes)

    method.__name__ = name
    return method


# ndarray methods that make new arrays (or views) in C without a ufunc or __array_function__ that
# numpy would dispatch: recorded as calls of the unbound method.
for _name in ("reshape", "transpose", "swapaxes", "astype", "copy", "ravel", "flatten", "squeeze", "take",
              "repeat", "argmax", "argmin", "max", "min", "sum", "mean", "prod", "any", "all", "clip",
              "cumsum", "dot", "var", "std", "round", "nonzero", "choose", "compress", "diagonal"):
    setattr(TracedArray, _name, _method(_name))
for _name in ("sort", "partition", "put", "setfield"):  # the ones that write into the array
    setattr(TracedArray, _name, _method(_name, in_place=True))


def _refuse_in_place(name: str) -> Callable[..., Any]:
    def method(self: TracedArray, *args: Any, **kwargs: Any) -> Any:
        recorder = getattr(_TRACING, "recorder", None)
        if recorder is not None:
            recorder.refuse(f"ndarray.{name} changes an array in place in a way the trace cannot note")
        return getattr(np.ndarray, name)(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("resize", "byteswap"):
    setattr(TracedArray, _name, _refuse_in_place(_name))


def _reads(array: TracedArray, how: str) -> np.ndarray:
    recorder = getattr(_TRACING, "recorder", None)
    if recorder is not None:
        recorder.refuse(f"a value of an array of shape {array.shape} is read into Python ({how})")
    return array._raw if array._raw is not None else array.view(np.ndarray)


# numpy functions whose Python-number results describe shapes, not values: the same on every batch
_METADATA = frozenset({np.shape, np.ndim, np.size})


class _Recorder:
    """The program being traced: its lines, variables and constants, and what makes it unreplayable."""

    def __init__(self, names: dict[int, str], input_names: Sequence[str]) -> None:
        self.lines: list[tuple[str, list[int], list[int]]] = []  # (code, slots read, slots assigned)
        self.traced: list[TracedArray] = []  # slot number -> the traced array that holds it
        self.by_raw: dict[int, TracedArray] = {}  # id(plain array) -> its traced twin
        self.namespace: dict[str, Any] = {"np": np, "ndarray": np.ndarray, "getitem": operator.getitem,
                                          "setitem": operator.setitem, "asarray": np.asarray}
        self.constant_names: dict[int, str] = {}
        self.reserved = set(input_names)  # the step's argument names: a constant must not take one
        self.keep: list[Any] = []  # constants named by id stay alive, so no id is reused
        self.names = names  # id(array) -> a readable name for it (the parameters)
        self.by_id: dict[int, Any] = {}  # id -> the named arrays themselves, once the step has used them
        self.weights: set[str] = set()  # the names given to them (and their transposes) in the source
        self.problems: list[str] = []
        self.inputs: set[int] = set()  # ids of the memory owners of the step's inputs: not to be written
        self.owners: set[int] = set()  # ids of the memory owners of every traced array

    def refuse(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def new_slot(self, raw: np.ndarray) -> TracedArray:
        traced = raw.view(TracedArray)
        traced._raw, traced._slot = raw, len(self.traced)
        self.traced.append(traced)
        self.by_raw[id(raw)] = traced
        self.owners.add(_owner(raw))
        return traced

    def constant(self, value: Any, prefix: str = "c") -> str:
        if _literal(value):
            return repr(value)  # a literal in the source, as the reader would write it
        name = self.constant_names.get(id(value))
        if name is None:
            weight = self.names.get(id(value)) or self._transposed_name(value)
            name = re.sub(r"\W", "_", weight or str(value if isinstance(value, np.dtype) else
                                                    getattr(value, "__name__", "")))
            # ASCII: Python folds some other letters when it compiles (NFKC), so "ﬁ" would read "fi"
            if (not (name.isascii() and name.isidentifier()) or name in self.namespace or name in self.reserved
                    or re.fullmatch(r"[scf]\d+", name)):
                name = f"{prefix}{len(self.constant_names)}"
            self.constant_names[id(value)] = name
            self.namespace[name] = value
            if weight:
                self.weights.add(name)
            self.keep.append(value)
        return name

    def _transposed_name(self, value: Any) -> str | None:
        """`dense_kernel_T` for a transposed view of the array named `dense_kernel`."""
        if not isinstance(value, np.ndarray) or value.ndim != 2:
            return None
        for key, name in self.names.items():
            array = self.by_id.get(key)
            if (array is not None and array.shape == value.shape[::-1] and array.strides == value.strides[::-1]
                    and array.__array_interface__["data"][0] == value.__array_interface__["data"][0]):
                return f"{name}_T"
        return None

    def index_text(self, index: Any, reads: list[int]) -> str:
        """An index as Python writes it inside brackets: `:, None`, `c3, y`."""
        items = index if isinstance(index, tuple) else (index,)
        parts = []
        for item in items:
            if isinstance(item, slice) and all(v is None or isinstance(v, int) for v in
                                               (item.start, item.stop, item.step)):
                start, stop = ("" if v is None else v for v in (item.start, item.stop))
                parts.append(f"{start}:{stop}" + ("" if item.step is None else f":{item.step}"))
            elif item is Ellipsis:
                parts.append("...")
            else:
                parts.append(self.encode(item, reads)[0])
        if isinstance(index, tuple) and len(items) < 2:
            return f"{parts[0]}," if parts else "()"
        return ", ".join(parts)

    def encode(self, value: Any, reads: list[int]) -> tuple[str, Any]:
        """(source text, the value as the real call takes it) for one argument."""
        if isinstance(value, TracedArray):
            if value._slot is None:
                self.refuse(f"an array of shape {value.shape} came from a numpy call the trace did not see")
                plain = value.view(np.ndarray)
                return self.constant(plain), plain
            reads.append(value._slot)
            return f"s{value._slot}", value._raw
        if isinstance(value, (tuple, list)) and any(isinstance(v, (TracedArray, tuple, list)) for v in value):
            parts = [self.encode(v, reads) for v in value]
            text = ", ".join(part[0] for part in parts)
            if isinstance(value, list):
                return f"[{text}]", [part[1] for part in parts]
            return (f"({text},)" if len(parts) == 1 else f"({text})"), tuple(part[1] for part in parts)
        if isinstance(value, np.ndarray) and id(value) in self.names:
            self.by_id[id(value)] = value
        if isinstance(value, np.ndarray) and _owner(value) in self.owners:
            self.refuse(f"an array of shape {value.shape} was made from a traced one outside numpy's dispatch "
                        "(np.asarray or np.array on it)")
        return self.constant(value), value

    def results(self, code: str, reads: list[int], result: Any, fn: Any) -> Any:
        """Note the line that made `result` and hand back its traced arrays."""
        if result is None:
            self.lines.append((code, reads, []))
            return None
        several = isinstance(result, tuple)
        items = result if several else (result,)
        if not any(isinstance(r, (np.ndarray, np.generic)) for r in items):
            if fn not in _METADATA:
                self.refuse(f"{code.split('(')[0]}: its result, a {type(result).__name__}, is read into Python")
            return result
        traced, names, assigned = [], [], []
        for r in items:
            known = self.by_raw.get(id(r)) if isinstance(r, np.ndarray) else None
            if known is not None:  # out=, or a call that hands back its argument: the same variable
                traced.append(known)
                names.append("_")
            elif isinstance(r, np.ndarray) or (not several and isinstance(r, np.generic)):
                t = self.new_slot(np.asarray(r))
                traced.append(t)
                names.append(f"s{t._slot}")
                assigned.append(t._slot)
            else:
                self.refuse(f"{code.split('(')[0]}: returns a {type(r).__name__} among several results")
                traced.append(r)
                names.append("_")
        if not assigned:
            self.lines.append((code, reads, []))
        elif not several:
            # numpy gives a scalar for a 0-d result; the trace and its replay keep it a 0-d array
            value = f"asarray({code})" if isinstance(result, np.generic) else code
            self.lines.append((f"{names[0]} = {value}", reads, assigned))
        else:
            self.lines.append((f"{', '.join(names)}{',' if len(names) == 1 else ''} = {code}", reads, assigned))
        return tuple(traced) if several else traced[0]


def _call(fn: Callable[..., Any], name: str | None, args: Sequence[Any], kwargs: dict[str, Any],
          writes: Sequence[Any]) -> Any:
    """Run `fn` on the plain arrays behind `args`, and note the call in the program being traced."""
    recorder = getattr(_TRACING, "recorder", None)
    if recorder is None:  # a traced array outliving its trace: plain numpy from here on
        return fn(*_plain(args), **_plain(kwargs))
    reads: list[int] = []
    texts, raw_args = [], []
    for a in args:
        text, raw = recorder.encode(a, reads)
        texts.append(text)
        raw_args.append(raw)
    raw_kwargs = {}
    for key, value in kwargs.items():
        text, raw_kwargs[key] = recorder.encode(value, reads)
        texts.append(f"{key}={text}")
    if fn is operator.getitem:
        code = f"{texts[0]}[{recorder.index_text(args[1], reads)}]"
    elif fn is operator.setitem:
        code = f"{texts[0]}[{recorder.index_text(args[1], reads)}] = {texts[2]}"
    else:
        code = f"{name or recorder.constant(fn, 'f')}({', '.join(texts)})"
    for target in writes:
        if not isinstance(target, TracedArray):
            recorder.refuse(f"{code.split('(')[0]}: writes into an array of shape {np.shape(target)} that "
                            "the step did not make")
        elif _owner(target) in recorder.inputs:
            recorder.refuse(f"{code.split('(')[0]}: writes into the step's input (shape {target.shape})")
    return recorder.results(code, reads, fn(*raw_args, **raw_kwargs), fn)


def call_whole(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, noted in the trace as one call: for functions whose numpy calls numpy does not hand
    to a traced argument (`table.take(indices)` with traced indices runs in C on a copy of them)."""
    return _call(fn, None, args, {}, ())


def asarray(value: Any, dtype: Any = None) -> np.ndarray:
    """np.asarray(value, dtype), except that a traced array stays traced: np.asarray would hand back a
    plain array of its memory, or a converted copy, and the trace would lose what follows."""
    if type(value) is TracedArray:
        return value if dtype is None or value.dtype == dtype else value.astype(dtype)
    return np.asarray(value, dtype=dtype)


def _literal(value: Any) -> bool:
    """True for values whose repr is Python source for them: None, bools, ints, strings, finite
    floats, and tuples and slices of these."""
    if value is None or value is Ellipsis or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, slice):
        return all(_literal(v) for v in (value.start, value.stop, value.step))
    return type(value) is tuple and all(_literal(v) for v in value)


def _describe(value: Any) -> str | None:
    """A short description of an array constant for the program's header, None for the rest."""
    if not isinstance(value, np.ndarray):
        return None
    flat = value.reshape(-1)
    if value.size <= 4:
        return f"np.array({value.tolist()!r}, {value.dtype})"
    if (flat == flat[0]).all():
        return f"np.full({value.shape}, {flat[0].item()!r}, {value.dtype})"
    if value.ndim == 1 and value.dtype.kind in "iu" and np.array_equal(value, np.arange(value.size)):
        return f"np.arange({value.size})"
    return f"a {value.dtype} array of shape {value.shape}"


def _owner(array: np.ndarray) -> int:
    """id of the object that owns `array`'s memory (views of one array share it)."""
    return id(_memory_owner(array))


def _plain(value: Any) -> Any:
    if isinstance(value, TracedArray):
        return value._raw if value._raw is not None else value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class Program:
    """A traced step written out as Python: `program(*inputs)` makes the same numpy calls on new inputs.

    `source` is the function, one numpy call per line, variables deleted after their last use (as
    the eager step frees its arrays); `calls` counts the lines that call numpy.
    """

    def __init__(self, source: str, namespace: dict[str, Any], calls: int) -> None:
        self.source = source
        self.calls = calls
        filename = f"<minigrad traced step {id(self):x}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # tracebacks show it
        weakref.finalize(self, linecache.cache.pop, filename, None)
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the source is generated above
        self._function = namespace["step"]

    def __call__(self, *inputs: np.ndarray) -> tuple[Any, ...]:
        return self._function(*inputs)

    def __repr__(self) -> str:
        return f"<Program of {self.calls} numpy calls>\n{self.source}"


class Trace(NamedTuple):
    """What `trace` found: the program (None when it cannot be replayed), why not, and the step's outputs."""

    program: Program | None
    problems: list[str]
    outputs: tuple[Any, ...]


def trace(step: Callable[..., Sequence[Any]], inputs: Sequence[np.ndarray], input_names: Sequence[str],
          names: dict[int, str] | None = None) -> Trace:
    """Run `step(*inputs)` on traced views of the inputs and write out the numpy calls it made.

    `step` returns a sequence of arrays (or None); the trace hands them back as plain arrays, with
    the Program that makes them again, or None and the reasons it cannot. The step runs for real,
    once: its results and side effects are those of an eager call. `names` names constants by id.
    """
    if getattr(_TRACING, "recorder", None) is not None:
        raise RuntimeError("trace: this thread is already tracing (traces do not nest)")
    recorder = _Recorder(names or {}, input_names)
    traced = [recorder.new_slot(np.asarray(a)) for a in inputs]
    recorder.inputs = {_owner(t._raw) for t in traced}
    _TRACING.recorder = recorder
    try:
        outputs = tuple(step(*traced))
    finally:
        _TRACING.recorder = None
    returned = []
    for i, value in enumerate(outputs):
        if value is None:
            returned.append("None")
        elif isinstance(value, TracedArray) and value._slot is not None:
            returned.append(f"s{value._slot}")
        else:
            recorder.refuse(f"output {i} of the step was not made by numpy calls inside it")
    outputs = tuple(_plain(value) for value in outputs)
    if recorder.problems:
        return Trace(None, recorder.problems, outputs)
    program = Program(_source(recorder, input_names, returned), recorder.namespace, len(recorder.lines))
    return Trace(program, [], outputs)


def _source(recorder: _Recorder, input_names: Sequence[str], returned: list[str]) -> str:
    kept = set(returned)
    last: dict[str, int] = {}
    for i, (_, reads, assigned) in enumerate(recorder.lines):
        for slot in (*assigned, *reads):
            last[f"s{slot}"] = i
    body = []
    for i, (code, reads, assigned) in enumerate(recorder.lines):
        body.append(code)
        dead = sorted({f"s{s}" for s in (*reads, *assigned)} - kept, key=lambda v: int(v[1:]))
        dead = [v for v in dead if last[v] == i]
        if dead:
            body.append(f"del {', '.join(dead)}")
    text = "\n".join(f"    {line}" for line in body)
    for i, name in enumerate(input_names):  # the inputs are the first slots: give them their names
        text = re.sub(rf"\bs{i}\b", name, text)
        returned = [name if r == f"s{i}" else r for r in returned]
    header = "".join(f"    # {name} = {description}\n" for name, value in recorder.namespace.items()
                     if name not in recorder.weights and (description := _describe(value)) is not None)
    return f"def step({', '.join(input_names)}):\n{header}{text}\n    return ({', '.join(returned)},)\n"


class TrainStep:
    """fit's forward and backward pass for one batch, replayed from a checked Program per batch shape.

    `eager(x, y)` is the step itself: it sets each parameter's `.grad` and returns (the loss's array,
    the outputs' array). The first batch of a shape runs it traced; the second runs it eagerly and
    the traced program too, and keeps the program only if every output agrees bit for bit; later
    batches of that shape run the program alone. `watch` are the objects whose code the step runs
    (layers, loss): a program is used only while their attributes, and the parameters' arrays and
    `requires_grad`, are the ones it was traced with; otherwise the step is traced again.
    `on_refuse(shape, reasons)` hears of each batch shape that stays eager.
    """

    def __init__(self, eager: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
                 params: list[Tensor], watch: Sequence[Any] = (),
                 on_refuse: Callable[[tuple[int, ...], list[str]], None] | None = None) -> None:
        from minigrad.tensor import Tensor  # here: tensor.py imports this module

        self._wrap = Tensor._wrap
        self.eager = eager
        self.params = params
        self.on_refuse = on_refuse
        self.ready: dict[tuple[Any, ...], Program] = {}  # batch shapes, dtypes, strides -> the program to run
        self.pending: dict[tuple[Any, ...], Program] = {}  # traced, not yet checked against a second batch
        self.refused: dict[tuple[Any, ...], list[str]] = {}  # shapes that stay eager, and why
        self.retraces = 0  # how often a change in the model sent the step back to tracing
        self._dicts = [vars(o) for o in watch if hasattr(o, "__dict__")]
        self._values = [d.values() for d in self._dicts]  # live views: they follow the attributes
        self._containers: list[Any] = []  # the lists, tuples and dicts among them (their items count too)
        self._state: tuple[Any, ...] | None = None  # taken at the first step, when the caller has set up

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = (x.shape, x.dtype, x.strides, y.shape, y.dtype, y.strides)
        program = self.ready.get(key)
        if program is not None and STATE.grad_enabled and not STATE.anomaly and self._snapshot() == self._state:
            loss, out, *grads = program(x, y)
            wrap = self._wrap
            for p, g in zip(self.params, grads):
                p.grad = None if g is None else wrap(g)
            return loss, out
        return self._step(x, y, key)

    def _snapshot(self) -> tuple[Any, ...]:
        """What the programs depend on besides their inputs, as ids and flags (cheap to compare)."""
        # All C loops (map, chain): this runs on every replayed batch. A container replaced by another
        # changes the attributes' ids, and _step then looks for the containers again.
        params = self.params
        return (tuple(map(id, map(_DATA, params))), tuple(map(_REQUIRES_GRAD, params)),
                tuple(map(id, chain.from_iterable(self._values))),
                tuple(map(id, chain.from_iterable(self._containers))))

    def _step(self, x: np.ndarray, y: np.ndarray, key: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        state = self._snapshot()
        if self._state is None or state != self._state:
            self._containers = [v.values() if type(v) is dict else v for d in self._dicts for v in d.values()
                                if type(v) in (list, tuple, dict)]
            state = self._snapshot()
        if self._state is None:
            self._state = state
        elif state != self._state:  # the model changed: programs traced before may compute something else
            self._state = state
            self.ready.clear()
            self.pending.clear()
            self.retraces += 1
            if self.retraces == _MAX_RETRACES:
                self._refuse(None, [f"the model changed {_MAX_RETRACES} times during fit"])
        if (not STATE.grad_enabled or STATE.anomaly or key in self.refused or key in self.ready
                or None in self.refused):
            return self.eager(x, y)
        candidate = self.pending.pop(key, None)
        if candidate is None:
            return self._traced_step(x, y, key)
        loss, out = self.eager(x, y)
        expected = (loss, out, *[None if p.grad is None else p.grad.data for p in self.params])
        if _replays(candidate, x, y, expected):
            self.ready[key] = candidate
        else:
            self._refuse(key, ["its replay differed from the eager step on the next batch"])
        return loss, out

    def _traced_step(self, x: np.ndarray, y: np.ndarray, key: tuple[Any, ...]) -> tuple[np.ndarray, np.ndarray]:
        names = {id(p.data): p.name or f"param{i}" for i, p in enumerate(self.params)}
        try:
            result = trace(self._outputs, (x, y), ("x", "y"), names)
        except Exception as exc:  # noqa: BLE001 - a failure of the trace is not the step's: run it as it is
            self._refuse(key, [f"tracing it failed ({type(exc).__name__}: {exc})"])
            return self.eager(x, y)
        loss, out, *grads = result.outputs
        wrap = self._wrap
        for p, g in zip(self.params, grads):
            p.grad = None if g is None else wrap(g)
        if result.program is None:
            self._refuse(key, result.problems)
        else:
            self.pending[key] = result.program
        return loss, out

    def _outputs(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, ...]:
        loss, out = self.eager(x, y)
        return (loss, out, *[None if p.grad is None else p.grad.data for p in self.params])

    def _refuse(self, key: tuple[Any, ...] | None, reasons: list[str]) -> None:
        self.refused[key] = reasons
        if self.on_refuse is not None:
            self.on_refuse(None if key is None else key[0], reasons)

    def refusals(self) -> str:
        """Which batch shapes run eagerly, and why, in a sentence."""
        return "; ".join(f"{'every batch' if key is None else f'batches of shape {key[0]}'} ran eagerly: "
                         f"{', '.join(why)}" for key, why in self.refused.items())

    def __repr__(self) -> str:
        shapes = "\n".join(f"# batches of shape {key[0]}\n{program.source}" for key, program in self.ready.items())
        return f"<TrainStep: {len(self.ready)} replayed batch shape(s)>" + (f"\n{shapes}" if shapes else "")


_MAX_RETRACES = 16  # a model changed more often than this during one fit is trained eagerly
_DATA = operator.attrgetter("data")
_REQUIRES_GRAD = operator.attrgetter("requires_grad")


def _replays(program: Program, x: np.ndarray, y: np.ndarray, expected: Sequence[Any]) -> bool:
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

