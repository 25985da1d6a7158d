"""Trace a step's numpy calls and write them out as a Python function: what `jit_compile` replays.

An eager training step spends a good part of its time in Python: making Tensors and graph nodes,
walking the graph backwards, checking shapes and dtypes. With the same shapes, all of that comes out
the same on every batch; only the numbers change. So `fit` runs the first batch of each shape with
*traced* arrays: real arrays that compute as usual and also note down every numpy call made on them.
`trace` writes those calls out as a plain Python function, a `Program` (its `source` is your
network's training step as numpy code), and `fit` checks it bit for bit against an eager step before
it replays it (`minigrad/nn/train_step.py`).

This is tracing as `torch.jit.trace` does it (run real inputs, record the ops), with the program
checked against eager before use, and with a refusal, naming the reason, wherever the recording
cannot see what the step did: a value read into Python (an `if` on an array), an array made where
numpy does not tell the traced array (`np.array(t)`), or a write into an array the step did not
make. Same calls, same order, same arrays: a replay computes exactly what the eager step does.
"""

from __future__ import annotations

import itertools
import keyword
import linecache
import math
import operator
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from minigrad.engine import _memory_owner

__all__ = ["Program", "Trace", "TracedArray", "asarray", "call_whole", "trace"]


# ----- the entry points ----------------------------------------------------------------------

class Trace(NamedTuple):
    """What `trace` found: the program (None when it cannot be replayed), why not, and the step's outputs."""

    program: Program | None
    reasons: list[str]
    outputs: tuple[Any, ...]


def trace(step: Callable[..., Sequence[Any]], inputs: Sequence[np.ndarray], input_names: Sequence[str],
          weights: dict[str, np.ndarray] | None = None) -> Trace:
    """Run `step(*inputs)` on traced views of the inputs and write out the numpy calls it made.

    `step` returns a sequence of arrays (or None); the trace hands them back as plain arrays, with
    the Program that computes them again from new inputs, or None and the reasons it cannot. The
    step runs for real, once: its results, side effects and errors are an eager call's. `weights`
    names arrays the step reads (the parameters), so the source says `dense_kernel` rather than `c3`.
    """
    if _TRACING.recorder is not None:
        raise RuntimeError("trace: this thread is already tracing (traces do not nest)")
    recorder = _Recorder(input_names, weights or {})
    traced = [recorder.new_variable(np.asarray(a), name) for a, name in zip(inputs, input_names, strict=True)]
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
        elif isinstance(value, TracedArray) and value._slot is not None and value._trace == recorder.number:
            returned.append(recorder.variables[value._slot])
        else:
            recorder.refuse(f"output {i} of the step was not made by numpy calls inside it")
    outputs = tuple(_plain(value) for value in outputs)
    if recorder.reasons:
        return Trace(None, recorder.reasons, outputs)
    try:
        program = Program(_source(recorder, returned), recorder.namespace, len(recorder.lines))
    except Exception as exc:  # noqa: BLE001 - the step ran and its outputs stand; only its program failed
        return Trace(None, [f"its program could not be built ({type(exc).__name__}: {exc})"], outputs)
    return Trace(program, [], outputs)


class Program:
    """A traced step written out as Python: `program(*inputs)` makes the same numpy calls on new inputs.

    `source` is the function: one numpy call per line, each variable deleted after its last use (as
    the eager step frees its arrays); `calls` counts those lines.
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


def call_whole(fn: Callable[..., Any], *args: Any) -> Any:
    """`fn(*args)`, recorded as one call, for a function whose numpy calls numpy would not tell a traced
    argument about (`table.take(indices)` reads traced indices in C), or that reads values to check
    them (labels in range): the replay then runs the whole function, checks included, on every batch."""
    return _run_and_record(fn, None, args, {}, ())


def asarray(value: Any, dtype: Any = None) -> np.ndarray:
    """np.asarray(value, dtype), except that a traced array stays traced: np.asarray would hand back a
    plain array of its memory, or a converted copy, and the trace would lose what follows."""
    if type(value) is TracedArray:
        return value if dtype is None or value.dtype == dtype else value.astype(dtype)
    return np.asarray(value, dtype=dtype)


# ----- the traced array ----------------------------------------------------------------------

class TracedArray(np.ndarray):
    """An ndarray that records the numpy calls made on it while a trace is on.

    `_raw` is the plain array with the same memory (what the recorded call really ran on) and `_slot`
    its variable's number in the program. An instance numpy made on its own (a view from a method
    this class does not wrap) has neither, and using it makes the trace refuse.
    """

    _raw: np.ndarray | None = None
    _slot: int | None = None
    _trace: int = -1  # which trace made it: one left over from an earlier trace is plain data to this one

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
        if getattr(np, ufunc.__name__, None) is not ufunc:
            name = None
        writes = (inputs[0],) if method == "at" else kwargs.get("out", ())
        return _run_and_record(fn, name, inputs, kwargs, writes)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        name = f"np.{func.__name__}" if getattr(np, func.__name__, None) is func else None
        writes = args[:1] if func in _WRITES_FIRST else ()
        return _run_and_record(func, name, args, kwargs, writes)

    @property
    def T(self) -> Any:
        return _run_and_record(np.ndarray.transpose, ".transpose", (self,), {}, ())

    def __getitem__(self, index: Any) -> Any:
        return _run_and_record(operator.getitem, "[]", (self, index), {}, ())

    def __setitem__(self, index: Any, value: Any) -> None:
        _run_and_record(operator.setitem, "[]=", (self, index, value), {}, (self,))

    def fill(self, value: Any) -> None:
        _run_and_record(np.ndarray.fill, ".fill", (self, value), {}, (self,))

    # Reading a value into Python: the program would replay the branch this trace took, whatever
    # the next batch holds. The trace answers (its values are real) but refuses to be replayed.
    def __bool__(self) -> bool:
        return bool(_read(self, "bool()"))

    def __float__(self) -> float:
        return float(_read(self, "float()"))

    def __int__(self) -> int:
        return int(_read(self, "int()"))

    def __index__(self) -> int:
        return operator.index(_read(self, "an index"))

    def item(self, *args: Any) -> Any:
        return _read(self, ".item()").item(*args)

    def tolist(self) -> Any:
        return _read(self, ".tolist()").tolist()

    def __iter__(self) -> Any:
        return iter(_read(self, "iteration"))


# numpy functions that write into their first argument (the rest are taken to make new arrays)
_WRITES_FIRST = frozenset({np.copyto, np.put, np.place, np.putmask, np.fill_diagonal})


def _recorded_method(name: str, in_place: bool = False) -> Callable[..., Any]:
    unbound = getattr(np.ndarray, name)

    def method(self: TracedArray, *args: Any, **kwargs: Any) -> Any:
        writes = (self,) if in_place else ()
        if kwargs.get("out") is not None:
            writes = (*writes, kwargs["out"])
        return _run_and_record(unbound, f".{name}", (self, *args), kwargs, writes)

    method.__name__ = name
    return method


# ndarray methods, recorded as one call each. Most run in C, where numpy would not tell the traced
# array (reshape, copy, astype, ...); the reductions (sum, max, mean, ...) run through ufuncs, and are
# wrapped so that the program holds one call for each and never a numpy scalar.
for _name in ("reshape", "transpose", "swapaxes", "astype", "copy", "ravel", "flatten", "squeeze", "take",
              "repeat", "argmax", "argmin", "max", "min", "sum", "mean", "prod", "any", "all", "clip",
              "cumsum", "dot", "var", "std", "round", "nonzero", "choose", "compress", "diagonal"):
    setattr(TracedArray, _name, _recorded_method(_name))
for _name in ("sort", "partition", "put", "setfield"):  # the ones that write into the array
    setattr(TracedArray, _name, _recorded_method(_name, in_place=True))


class _Tracing(threading.local):
    recorder: _Recorder | None = None  # the trace this thread is recording, if any


_TRACING = _Tracing()
_TRACE_NUMBERS = itertools.count()


def _read(array: TracedArray, how: str) -> np.ndarray:
    if _TRACING.recorder is not None:
        _TRACING.recorder.refuse(f"a value of an array of shape {array.shape} is read into Python ({how})")
    return _plain(array)


# ----- recording -----------------------------------------------------------------------------

def _run_and_record(fn: Callable[..., Any], name: str | None, args: Sequence[Any], kwargs: dict[str, Any],
                    writes: Sequence[Any]) -> Any:
    """Run `fn` on the plain arrays behind `args`, and note the call in the program being traced.

    `name` says how the source writes the call: "np.add" (a function), ".reshape" (a method of the
    first argument), "[]" and "[]=" (indexing), None (a constant named after `fn`).
    """
    recorder = _TRACING.recorder
    if recorder is None:  # a traced array outliving its trace: plain numpy from here on
        return fn(*_plain(args), **_plain(kwargs))
    reads: list[int] = []
    texts, plain_args = [], []
    for a in args:
        text, plain = recorder.encode(a, reads)
        texts.append(text)
        plain_args.append(plain)
    plain_kwargs = {}
    for key, value in kwargs.items():
        if key == "out" and type(value) is tuple and len(value) == 1:
            value = value[0]  # numpy hands a ufunc out=a as out=(a,); both mean the same
        text, plain_kwargs[key] = recorder.encode(value, reads)
        texts.append(f"{key}={text}")
    if name == "[]":
        code = f"{texts[0]}[{recorder.index_text(args[1], reads)}]"
    elif name == "[]=":
        code = f"{texts[0]}[{recorder.index_text(args[1], reads)}] = {texts[2]}"
    elif name is not None and name.startswith("."):
        code = f"{texts[0]}{name}({', '.join(texts[1:])})"
    else:
        code = f"{name or recorder.constant(fn, 'f')}({', '.join(texts)})"
    # A program may write only into arrays it made: on the batch that checks it, the eager step and
    # the program both run, so a write elsewhere (a running statistic, the input batch) would happen
    # twice, and the program would read what the eager step had already changed.
    for target in writes:
        if not isinstance(target, TracedArray):
            recorder.refuse(f"{code.split('(')[0]}: writes into an array of shape {np.shape(target)} that "
                            "the step did not make")
        elif _owner(target) in recorder.inputs:
            recorder.refuse(f"{code.split('(')[0]}: writes into the step's input (shape {target.shape})")
    return recorder.record_results(code, reads, fn(*plain_args, **plain_kwargs), fn)


# numpy functions whose results describe shapes and dtypes, not values: the same on every batch
# (result_type and can_cast look at dtypes only, numpy 2's rule)
_METADATA = frozenset({np.shape, np.ndim, np.size, np.result_type, np.can_cast})


class _Recorder:
    """The program being traced: its lines, variables and constants, and the reasons it cannot be replayed."""

    def __init__(self, input_names: Sequence[str], weights: dict[str, np.ndarray]) -> None:
        self.lines: list[tuple[str, list[int], list[int]]] = []  # (code, slots read, slots assigned)
        self.variables: list[str] = []  # slot -> its variable's name in the source
        self.by_plain: dict[int, TracedArray] = {}  # id(plain array) -> its traced twin
        self.owners: set[int] = set()  # ids of the memory owners of every traced array
        self.inputs: set[int] = set()  # ids of the memory owners of the step's inputs: not to be written
        self.namespace: dict[str, Any] = {"np": np}  # the constants the source names, for exec
        self.constant_names: dict[int, str] = {}  # id(constant) -> its name in the source
        self.unnamed: dict[str, int] = {}  # how many constants got a numbered name, per prefix (c, f)
        self.input_names = list(input_names)
        self.reserved = set(input_names)  # the step's argument names: a constant must not take one
        self.weights = {id(array): (name, array) for name, array in weights.items()}
        self.weight_variables: set[str] = set()  # names given to weights and their transposes
        self.reasons: list[str] = []
        self.number = next(_TRACE_NUMBERS)

    def refuse(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def new_variable(self, plain: np.ndarray, name: str | None = None) -> TracedArray:
        traced = plain.view(TracedArray)
        traced._raw, traced._slot, traced._trace = plain, len(self.variables), self.number
        self.variables.append(name or f"s{len(self.variables) - len(self.reserved) + 1}")
        self.by_plain[id(plain)] = traced
        self.owners.add(_owner(plain))
        return traced

    def constant(self, value: Any, prefix: str = "c") -> str:
        """The source text for a value the step used that it did not compute."""
        if _literal(value):
            return repr(value)  # a literal in the source, as the reader would write it
        name = self.constant_names.get(id(value))
        if name is None:
            weight = self._weight_name(value)
            name = re.sub(r"\W", "_", weight or _preferred_name(value))
            # ASCII: Python folds some other letters when it compiles (NFKC), so "ﬁ" would read "fi";
            # step is the function's name; s1, c1, f1 are the names the source gives variables,
            # constants and functions.
            if (not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name) or name == "step"
                    or name in self.namespace or name in self.reserved or re.fullmatch(r"[scf]\d+", name)):
                self.unnamed[prefix] = self.unnamed.get(prefix, 0) + 1
                name = f"{prefix}{self.unnamed[prefix]}"
            self.constant_names[id(value)] = name
            self.namespace[name] = value
            if weight:
                self.weight_variables.add(name)
        return name

    def _weight_name(self, value: Any) -> str | None:
        """A weight's name, or `dense_kernel_T` for a transposed view of the weight `dense_kernel`."""
        if not isinstance(value, np.ndarray):
            return None
        if id(value) in self.weights:
            return self.weights[id(value)][0]
        for name, array in self.weights.values():
            if (value.ndim == 2 and array.shape == value.shape[::-1] and array.strides == value.strides[::-1]
                    and array.__array_interface__["data"][0] == value.__array_interface__["data"][0]):
                return f"{name}_T"
        return None

    def encode(self, value: Any, reads: list[int]) -> tuple[str, Any]:
        """(source text, the value as the real call takes it) for one argument."""
        if isinstance(value, TracedArray) and value._trace != self.number and value._slot is not None:
            value = value._raw  # from an earlier trace (kept in a .grad, say): data, like any other array
        if isinstance(value, TracedArray):
            if value._slot is None:
                self.refuse(f"an array of shape {value.shape} came from a numpy call the trace did not see")
                plain = value.view(np.ndarray)
                return self.constant(plain), plain
            reads.append(value._slot)
            return self.variables[value._slot], value._raw
        if isinstance(value, (tuple, list)) and any(isinstance(v, (TracedArray, tuple, list)) for v in value):
            parts = [self.encode(v, reads) for v in value]
            text = ", ".join(part[0] for part in parts)
            if isinstance(value, list):
                return f"[{text}]", [part[1] for part in parts]
            return (f"({text},)" if len(parts) == 1 else f"({text})"), tuple(part[1] for part in parts)
        if isinstance(value, np.ndarray) and _owner(value) in self.owners:
            self.refuse(f"an array of shape {value.shape} was made from a traced one outside numpy's dispatch "
                        "(np.asarray or np.array on it)")
        return self.constant(value), value

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

    def record_results(self, code: str, reads: list[int], result: Any, fn: Any) -> Any:
        """Note the line that made `result` and hand back its arrays, traced."""
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
            known = self.by_plain.get(id(r)) if isinstance(r, np.ndarray) else None
            if known is not None:  # out=, or a call that hands back its argument: the same variable
                traced.append(known)
                names.append("_")
            elif isinstance(r, np.ndarray) or (not several and isinstance(r, np.generic)):
                t = self.new_variable(np.asarray(r))
                traced.append(t)
                names.append(self.variables[t._slot])
                assigned.append(t._slot)
            else:
                self.refuse(f"{code.split('(')[0]}: returns a {type(r).__name__} among several results")
                traced.append(r)
                names.append("_")
        if not assigned:
            self.lines.append((code, reads, []))
        elif not several:
            # numpy gives a scalar for a 0-d result; the trace and its replay keep it a 0-d array
            value = f"np.asarray({code})" if isinstance(result, np.generic) else code
            self.lines.append((f"{names[0]} = {value}", reads, assigned))
        else:
            self.lines.append((f"{', '.join(names)}{',' if len(names) == 1 else ''} = {code}", reads, assigned))
        return tuple(traced) if several else traced[0]


def _source(recorder: _Recorder, returned: list[str]) -> str:
    """The program's text: a header naming the constants, the calls, `del` after each variable's last use."""
    variables = recorder.variables
    kept = set(returned)
    last_use = {slot: i for i, (_, reads, assigned) in enumerate(recorder.lines) for slot in (*assigned, *reads)}
    body = [f"    # {name} = {description}" for name, value in recorder.namespace.items()
            if name not in recorder.weight_variables and (description := _describe(value)) is not None]
    for i, (code, reads, assigned) in enumerate(recorder.lines):
        body.append(f"    {code}")
        dead = [variables[s] for s in sorted(set(reads) | set(assigned)) if last_use[s] == i]
        dead = [name for name in dead if name not in kept]
        if dead:
            body.append(f"    del {', '.join(dead)}")
    inputs = ", ".join(recorder.input_names)
    result = f"({returned[0]},)" if len(returned) == 1 else f"({', '.join(returned)})"
    return f"def step({inputs}):\n" + "\n".join(body) + f"\n    return {result}\n"


# ----- helpers -------------------------------------------------------------------------------

def _owner(array: np.ndarray) -> int:
    """id of the object that owns `array`'s memory (views of one array share it)."""
    return id(_memory_owner(array))


def _plain(value: Any) -> Any:
    """`value` with each traced array replaced by the plain array behind it."""
    if isinstance(value, TracedArray):
        return value._raw if value._raw is not None else value.view(np.ndarray)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


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


def _preferred_name(value: Any) -> str:
    """A constant's name from what it is: `float32` for a dtype, `_one_hot` for a function."""
    return str(value) if isinstance(value, np.dtype) else getattr(value, "__name__", "")


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
