"""The autodiff engine: recording switches, scopes, anomaly checks and the backward walk.

Reverse mode in three steps (as micrograd does it, but iteratively):
1. order the nodes that lead to the output topologically (inputs first);
2. seed the output's gradient with ones (d out / d out = 1);
3. walk the order backwards, asking each node for its inputs' gradients (the chain rule) and
   summing them where a tensor is used more than once.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.array_utils import byte_bounds

if TYPE_CHECKING:  # pragma: no cover
    from minigrad.primitives import Function
    from minigrad.tensor import Tensor

__all__ = [
    "AnomalyError",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "gradients",
    "is_grad_enabled",
    "no_grad",
    "scope",
    "set_grad_enabled",
    "topological_order",
]


class AnomalyError(RuntimeError):
    """An op produced NaN or Inf while `detect_anomaly()` was on."""


class _State:
    """Process-wide switches read on every op; plain attributes keep the hot path cheap."""

    __slots__ = ("anomaly", "grad_enabled", "last_write", "scope_name", "scopes")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scope_name = ""  # the current scope, e.g. "dense_1/softmax"
        self.scopes: list[str] = []  # the enclosing scopes' names, to restore on exit
        self.anomaly = 0
        self.last_write = -1  # sequence number of the latest in-place write into a tensor (-1: none)


STATE = _State()

# One clock for graph nodes (their `seq`) and in-place writes: a write with a larger number than
# a node's happened after the node read its inputs.
next_sequence_number = itertools.count().__next__

# id(array that owns the memory) -> (weak ref to it, {(first byte, end byte): number of the latest write there})
_WRITES: dict[int, tuple[Callable[[], object] | None, dict[tuple[int, int], int]]] = {}
_prune_at = 1024  # when the record holds this many arrays, forget the ones that no longer exist
_EVERYWHERE = (0, 1 << 64)  # the byte range of a write into a whole array


def _memory_owner(array: np.ndarray) -> object:
    """The object that owns an array's memory: a view's writes show up in its base and every other view."""
    base = array.base
    if base is None:
        return array
    # numpy points a plain view straight at the owner; a view of another type (minigrad.replay's
    # traced arrays) keeps the links between
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base


def _record_of(owner: object) -> tuple[Callable[[], object] | None, dict[tuple[int, int], int]] | None:
    entry = _WRITES.get(id(owner))
    if entry is None or (entry[0] is not None and entry[0]() is not owner):
        return None  # never written, or an array that died and left its id to this one
    return entry


def note_write(array: np.ndarray) -> None:
    """Record an in-place write into `array`'s memory (Tensor.__setitem__, Optimizer.step,
    set_weights), for backward to check against. Byte ranges, not whole buffers: an optimizer
    updating one parameter of its flat buffer has not touched the others."""
    global _prune_at
    owner = _memory_owner(array)
    entry = _record_of(owner)
    if entry is None:
        if len(_WRITES) >= _prune_at:
            for key in [k for k, (ref, _) in _WRITES.items() if ref is not None and ref() is None]:
                del _WRITES[key]
            _prune_at = max(1024, 2 * len(_WRITES))  # scan again only once the record has doubled
        try:
            ref: Callable[[], object] | None = weakref.ref(owner)
        except TypeError:  # an owner that takes no weak references: compare by id alone
            ref = None
        entry = _WRITES[id(owner)] = (ref, {})
    STATE.last_write = number = next_sequence_number()
    ranges = entry[1]
    if len(ranges) >= 64:  # many different slices written: keep one range over all of them
        start, end = min(r[0] for r in ranges), max(r[1] for r in ranges)
        ranges.clear()
        ranges[(start, end)] = number - 1
    # An array that owns its memory is written as a whole (an optimizer step, a setitem on a leaf):
    # every address, so any view of it overlaps; byte_bounds (2 µs) only for a view.
    ranges[_EVERYWHERE if array.base is None else byte_bounds(array)] = number


def _written_since(array: np.ndarray, number: int) -> bool:
    """True when some of `array`'s memory was written in place after sequence number `number`."""
    entry = _record_of(_memory_owner(array))
    if entry is None:
        return False
    low, high = byte_bounds(array)
    return any(written > number and start < high and low < end for (start, end), written in entry[1].items())


def check_unmodified(node: Function) -> None:
    """Raise if what the node's backward reads was written in place after the op ran: its inputs or
    output (unless its backward reads only g), or an array among its attributes (an index, a condition)."""
    for name, value in node.attrs.items():
        for array in value if isinstance(value, tuple) else (value,):
            if isinstance(array, np.ndarray) and _written_since(array, node.seq):
                raise RuntimeError(
                    f"backward: the {name.lstrip('_')} array of '{node.op}' (shape {array.shape}) was "
                    f"modified in place after '{node.op}' used it, so the gradient would follow the new "
                    "values; write into a copy instead"
                )
    if not node.reads_inputs:
        return
    output = node.output
    for i, t in enumerate(node.inputs):
        if _written_since(t.data, node.seq):
            raise RuntimeError(
                f"backward: input {i} of '{node.op}' (shape {t.shape}) was modified in place after "
                f"'{node.op}' used it, so its gradient would come from the new values. Write into a "
                "copy (t = t.detach() + 0, or build a new tensor with mg.where) before using it, or "
                "make the write before the forward pass"
            )
    if output is not None and _written_since(output.data, node.seq):
        raise RuntimeError(
            f"backward: the output of '{node.op}' (shape {output.shape}) was modified in place after "
            "it was made, so the gradient would come from the new values; write into a copy instead"
        )


class set_grad_enabled(contextlib.ContextDecorator):
    """Turn graph recording on or off inside a `with` block (or a decorated function)."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(STATE.grad_enabled)
        STATE.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._previous.pop()


def no_grad() -> set_grad_enabled:
    """`with mg.no_grad():` runs ops without recording a graph (inference, optimizer steps)."""
    return set_grad_enabled(False)


def enable_grad() -> set_grad_enabled:
    """`with mg.enable_grad():` records a graph even inside `no_grad`."""
    return set_grad_enabled(True)


def is_grad_enabled() -> bool:
    """True when ops record the graph."""
    return STATE.grad_enabled


class scope:
    """Group the nodes created inside under `name` (nested scopes join with '/')."""

    # A class rather than @contextmanager: layers enter a scope on every call, and a generator-
    # based context manager costs three times as much.
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"scope: name must be a non-empty string without '/', got {name!r}")
        self.name = name

    def __enter__(self) -> None:
        outer = STATE.scope_name
        STATE.scopes.append(outer)
        STATE.scope_name = f"{outer}/{self.name}" if outer else self.name

    def __exit__(self, *exc: object) -> None:
        STATE.scope_name = STATE.scopes.pop()


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise `AnomalyError` at the first op whose output or gradient holds NaN or Inf."""
    STATE.anomaly += 1
    try:
        yield
    finally:
        STATE.anomaly -= 1


def count_nonfinite(array: np.ndarray) -> tuple[int, int]:
    """(number of NaNs, number of infinities) in a float array; (0, 0) for other dtypes."""
    if array.dtype.kind not in "fc":
        return 0, 0
    nans = int(np.isnan(array).sum())
    return nans, int(array.size - nans - np.isfinite(array).sum())


def check_anomaly(node: Function, array: np.ndarray, what: str) -> None:
    """Raise AnomalyError if `array` (the node's output, or a gradient it made) is not finite."""
    nans, infs = count_nonfinite(array)
    if nans or infs:
        inputs = ", ".join(f"{t.shape} {t.dtype}" for t in node.inputs)
        where = f" in scope '{node.scope}'" if node.scope else ""
        found = " and ".join(f"{n} {kind}" for n, kind in ((nans, "NaN"), (infs, "Inf")) if n)
        raise AnomalyError(f"{node.op}{where}: {what} holds {found} (inputs: {inputs})")


def topological_order(root: Tensor) -> list[Function]:
    """The nodes that `root` depends on, in the order they were made, so each after its inputs' nodes.

    A node can only consume tensors that already exist, so the order of creation (each node's
    `seq`, as PyTorch's sequence numbers) is a topological order, and the one the user wrote. The
    nodes are found with an explicit stack: recursion would fail past Python's depth limit
    (~1000) on long chains.
    """
    if root.op is None:
        return []
    seen = {root.op}
    stack = [root.op]
    while stack:
        for t in stack.pop().inputs:
            child = t.op
            if child is not None and child not in seen:
                seen.add(child)
                stack.append(child)
    return sorted(seen, key=_creation_number)


_creation_number = operator.attrgetter("seq")


def _leading_to(order: list[Function], targets: dict[int, object]) -> list[Function]:
    """The nodes of `order` (a topological order) with a path back to a tensor whose id is in `targets`."""
    leading: set[Function] = set()
    for node in order:
        for t in node.inputs:
            if id(t) in targets or t.op in leading:
                leading.add(node)
                break
    return [node for node in order if node in leading]


def _seed(root: Tensor, grad: object, create_graph: bool) -> Tensor:
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward: the output has shape {root.shape}; a gradient can be created implicitly "
                "only for a single-element output. Reduce it first (e.g. .sum()) or pass grad=."
            )
        # np.array(1) for the usual scalar loss: np.ones costs four times as much
        data = root.data
        return type(root)._wrap(np.ones(data.shape, dtype=data.dtype) if data.ndim else np.array(1, data.dtype))
    from minigrad.tensor import Tensor

    if create_graph and isinstance(grad, Tensor) and grad.requires_grad:
        seed = grad  # a differentiable seed for higher-order gradients: its graph must stay attached
    else:
        # A copy: the seed can reach a leaf's .grad unchanged (through add), and editing the array
        # the user passed must not edit that .grad afterwards.
        seed = Tensor._wrap(np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=root.dtype))
    if seed.shape != root.shape:
        raise ValueError(f"backward: grad has shape {seed.shape} but the output has shape {root.shape}")
    return seed


@functools.cache
def _broadcast_folding() -> tuple[type[Function], Callable[[np.ndarray, tuple[int, ...]], np.ndarray]]:
    """(SumTo, sum_to), imported once: primitives imports this module, and an import statement
    run on every backward() costs more than a whole node of the walk."""
    from minigrad.primitives import SumTo, sum_to

    return SumTo, sum_to


def walk_backward(
    root: Tensor,
    grad: object = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    collect: dict[int, Tensor] | None = None,
) -> Iterator[tuple[Function, Tensor, tuple[Tensor | None, ...]]]:
    """Run the backward pass one node at a time, yielding (node, grad_output, grad_inputs).

    With `collect=None` the leaves' `.grad` accumulate (what `backward()` does). With a dict
    `{id(tensor): None, ...}`, those tensors' gradients are summed into it instead and no `.grad`
    is touched; the walk does not go past them (what `mg.grad` needs). Bad arguments raise here, at
    the call, not at the first step.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph; create the inputs "
            "with requires_grad=True (and not inside no_grad())"
        )
    seed = _seed(root, grad, create_graph)
    return _walk(root, seed, create_graph if retain_graph is None else retain_graph, create_graph, collect)


def _walk(
    root: Tensor,
    seed: Tensor,
    retain_graph: bool,
    create_graph: bool,
    collect: dict[int, Tensor] | None,
) -> Iterator[tuple[Function, Tensor, tuple[Tensor | None, ...]]]:
    SumTo, sum_to = _broadcast_folding()

    order = topological_order(root)
    if collect is not None:
        # Only the nodes through which a gradient reaches a target run (and are freed): the
        # graph may also lead elsewhere, e.g. to the parameters behind a closure's tensors,
        # which a later backward() still needs.
        order = _leading_to(order, collect)
        walked = set(order)
    handed: set[int] = set()  # the arrays whose memory leaves' .grad hold so far in this walk (ids)

    def deliver(tensor: Tensor, g: Tensor) -> None:
        op = tensor.op
        if op is not None and (collect is None or id(tensor) not in collect):
            # An intermediate result (the usual case): sum its gradient for the node that made it.
            if collect is not None and op not in walked:
                return  # its node leads to no target
            previous = grads.get(op)
            grads[op] = g if previous is None else previous + g
        elif collect is not None:
            if id(tensor) in collect:
                previous = collect[id(tensor)]
                collect[id(tensor)] = g if previous is None else previous + g
        else:
            # Leaves accumulate over backward() calls, like PyTorch, out of place. One gradient
            # may reach several inputs (add passes g to both sides, reshape a view of it): a leaf
            # whose gradient shares memory with another leaf's gets its own copy, so editing one
            # .grad in place never changes another.
            memory = id(_memory_owner(g.data))
            if tensor.grad is None and memory in handed:
                g = g + 0 if STATE.grad_enabled else type(g)._wrap(g.data.copy())
                memory = id(g.data)
            tensor.grad = g if tensor.grad is None else tensor.grad + g
            handed.add(memory)

    grads: dict = {}  # node -> the gradient of its output, summed over the output's uses
    deliver(root, seed)
    for node in reversed(order):
        g = grads.pop(node, None)
        if g is None:  # nothing flows here (upstream of a target, or cut by detach)
            continue
        if node.freed:
            raise RuntimeError(
                f"backward: the graph through '{node.op}' was already freed by an earlier "
                "backward(); pass retain_graph=True to the first backward() to go through it twice"
            )
        if node.seq < STATE.last_write:  # a tensor was written in place after this node ran
            check_unmodified(node)
        node.grad = g
        # Backward formulas record a graph only for create_graph. The mode is switched around
        # this node's work alone, never across the yield: a backward_steps paused in a REPL
        # must not leave recording off for the user's next forward pass.
        previous_mode, STATE.grad_enabled = STATE.grad_enabled, create_graph
        # Under detect_anomaly the ops inside a backward formula and the broadcast reduction
        # are not checked one by one: a NaN born there is reported below under this node's
        # name (sqrt's g/(2·sqrt(x)) at x = 0 names sqrt, not div).
        anomaly = STATE.anomaly
        STATE.anomaly = 0
        try:
            sent = []  # what each input receives: its gradient, or None
            for t, gi, needed in zip(node.inputs, node.backward(g), node.needs_input_grad):
                if gi is None or not needed:
                    sent.append(None)
                    continue
                data, target = gi.data, t.data
                if data.shape != target.shape:
                    # The adjoint of broadcasting is a sum: g folds back to the input's shape here,
                    # in one place, so no op's backward has to remember it. As a node only when
                    # the gradient's graph is recorded; otherwise as the plain sum it computes.
                    try:
                        gi = SumTo.apply(gi, shape=target.shape) if create_graph else \
                            type(gi)._wrap(sum_to(data, target.shape))
                    except ValueError:
                        raise RuntimeError(
                            f"{node.op}: backward produced a gradient of shape {data.shape} for an "
                            f"input of shape {target.shape}; this is a bug in '{node.op}'s backward"
                        ) from None
                if data.dtype is not target.dtype and data.dtype != target.dtype:
                    # float32 * float64 makes float64 gradients; like PyTorch, a tensor's gradient
                    # has the tensor's dtype (a float32 weight stays float32).
                    gi = gi.astype(target.dtype)
                if anomaly:
                    check_anomaly(node, gi.data, f"the gradient it sends to an input of shape {t.shape}")
                sent.append(gi)
                op = t.op
                if op is not None and collect is None:  # the usual case, inline: an intermediate result
                    previous = grads.get(op)
                    grads[op] = gi if previous is None else previous + gi
                else:
                    deliver(t, gi)
        finally:
            STATE.anomaly = anomaly
            STATE.grad_enabled = previous_mode
        if not retain_graph:
            node.free()
        yield node, g, tuple(sent)


def backward(root: Tensor, grad: object = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:
    """Accumulate d root / d leaf into every leaf's `.grad`."""
    for _ in walk_backward(root, grad, retain_graph, create_graph):
        pass


def gradients(root: Tensor, inputs: list[Tensor], grad: object = None, retain_graph: bool | None = None,
              create_graph: bool = False) -> list[Tensor | None]:
    """d root / d input for each input (leaf or not), without touching any `.grad`."""
    collect: dict[int, Tensor | None] = {id(t): None for t in inputs}
    for _ in walk_backward(root, grad, retain_graph, create_graph, collect=collect):
        pass
    return [collect[id(t)] for t in inputs]
