"""The graph walk behind every drawing: which boxes, arrows and clusters to draw — no Graphviz here.

`walk_graph` turns a traced graph into a `Drawing`: boxes with sequential ids (`n0`, `n1`, ... in
topological order, so the same graph always gives the same text), arrows labelled with shapes, and
a tree of clusters built from the scopes (`dense_2/softmax` nests inside `dense_2`). `viz.dot`
writes it as DOT; tests read it directly, without any binary (as micrograd's `trace -> nodes,
edges`, then draw).

Where a leaf goes: inside the scope shared by the ops that read it when it belongs there — a
parameter named after the scope (`dense_1.kernel` in `dense_1`), a Python scalar, a constant made
inside a composite (the softmax's `max (detached)`, or any unnamed constant read only inside a nested
scope); everything else (data, labels, your own tensors) outside, where it enters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.engine import count_nonfinite
from minigrad.graph import Graph, summarize
from minigrad.primitives import Function
from minigrad.tensor import Tensor

__all__ = [
    "BACKWARD_READS",
    "FOLD_MIN_ITEMS",
    "FUSED_OPS",
    "Arrow",
    "Box",
    "Cluster",
    "Drawing",
    "IdCounter",
    "scale_heat",
    "walk_graph",
]

# Ops that exist only for numerical stability: drawn in their own colour, marked "fused".
FUSED_OPS = frozenset({"softmax_cross_entropy", "sigmoid_binary_cross_entropy"})

# What each primitive's backward reads, in the names its `rule` uses ("d/da = g·b" reads b), and
# for which input's gradient: (name, input indices). a/x/A = input 0, b/B/W = input 1, out = output.
# Ops missing here read nothing but g, or say so themselves through `.saved` and `saved_names`.
BACKWARD_READS: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "mul": (("b", (0,)), ("a", (1,))),
    "div": (("b", (0, 1)), ("a", (1,))),
    "pow": (("a", (0, 1)), ("b", (0,)), ("out", (1,))),
    "matmul": (("B", (0,)), ("A", (1,))),
    "linear": (("W", (0,)), ("x", (1,))),
    "maximum": (("a", (0, 1)), ("b", (0, 1))),
    "minimum": (("a", (0, 1)), ("b", (0, 1))),
    "exp": (("out", (0,)),),
    "log": (("x", (0,)),),
    "sqrt": (("out", (0,)),),
    "abs": (("x", (0,)),),
    "tanh": (("out", (0,)),),
    "sigmoid": (("out", (0,)),),
    "relu": (("x", (0,)),),
    "clip": (("x", (0,)),),
    "max": (("x", (0,)), ("out", (0,))),
    "min": (("x", (0,)), ("out", (0,))),
}
_INPUT_OF_NAME = {"a": 0, "x": 0, "A": 0, "b": 1, "B": 1, "W": 1}

# Folding repeated blocks only pays off (and only changes the picture) on large graphs.
FOLD_MIN_ITEMS = 100


@dataclass
class Box:
    """One drawn node. `kind`: input, param, scalar, op, fused, saved, collapsed or layer."""

    id: str
    kind: str
    lines: list[str]
    cluster: str = ""  # key of the cluster it sits in ("" = top level)
    is_output: bool = False
    nonfinite: str = ""  # e.g. "3 NaN, 1 Inf in value": drawn red when set
    heat: float | None = None  # 0..1, log-scaled mean |grad| (heat=True)
    magnitude: float | None = None  # mean |grad| before scaling
    current: bool = False  # the node a backward frame is at
    origin: bool = False  # NaN/Inf appears here first: finite inputs, non-finite output
    freed: bool = False  # a saved value that backward() already released


@dataclass
class Arrow:
    """An edge from the box that made a tensor to the box that reads it, labelled with its shape."""

    tail: str
    head: str
    label: str = ""
    style: str = "solid"  # "dashed": an assumed order; "saved": a saved tensor to the op that keeps it


@dataclass
class Cluster:
    """A labelled group of boxes: a panel, a scope, or a folded run of identical scopes."""

    key: str
    label: str
    kind: str = "scope"  # panel, scope or fold
    depth: int = 0
    boxes: list[str] = field(default_factory=list)
    children: list[Cluster] = field(default_factory=list)


@dataclass
class Drawing:
    """Everything to draw: boxes (in id order), arrows, the cluster tree, an optional title."""

    boxes: list[Box]
    arrows: list[Arrow]
    root: Cluster
    title: str | None = None
    same_rank: list[tuple[str, str]] = field(default_factory=list)  # (leaf, the op beside it)

    def box(self, box_id: str) -> Box:
        for b in self.boxes:
            if b.id == box_id:
                return b
        raise KeyError(box_id)

    def clusters(self) -> list[Cluster]:
        """Every cluster below the root, depth first, in drawing order."""
        found: list[Cluster] = []
        stack = list(reversed(self.root.children))
        while stack:
            c = stack.pop()
            found.append(c)
            stack.extend(reversed(c.children))
        return found


class IdCounter:
    """Sequential ids shared by the panels of one drawing: n0, n1, ..."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> str:
        self.next += 1
        return f"n{self.next - 1}"


class _Item:
    """An op node or a leaf tensor of the graph, before deciding how (and whether) it is drawn."""

    __slots__ = ("alias", "box", "index", "node", "runs", "scope", "tensor")

    def __init__(self, index: int, node: Function | None, tensor: Tensor | None) -> None:
        self.index = index
        self.node = node
        self.tensor = tensor  # the op's output, or the leaf
        self.scope = ""
        self.alias: _Item | None = None  # the item drawn in its place (folded copies)
        self.runs: list[tuple[int, int]] = []  # (folded run, block index) memberships
        self.box: str | None = None


def _shape(t: Tensor | np.ndarray | None) -> str:
    return "?" if t is None else str(tuple(t.shape))


def _grad_of(item: _Item) -> Tensor | None:
    if item.node is not None:
        return item.node.grad
    return item.tensor.grad if item.tensor is not None else None


def _count(counts: tuple[int, int]) -> str:
    nans, infs = counts
    return ", ".join(f"{n} {kind}" for n, kind in ((nans, "NaN"), (infs, "Inf")) if n)


def _value_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)}"  # the numbers would not fit in a box
    if isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
        return "(" + ", ".join(_value_text(v) for v in value) + ")"
    if isinstance(value, np.dtype):
        return str(value)
    return repr(value)


def _attrs_text(node: Function) -> str:
    """The op's settings worth reading: 'axis=(1,) keepdims=True' (None and False are defaults)."""
    parts = []
    for key, value in node.attrs.items():
        if key.startswith("_") or value is None or value is False:
            continue  # private attributes (masks, conditions) and defaults are not for display
        text = _value_text(value)
        if len(text) > 30:
            text = text[:27] + "..."
        parts.append(f"{key}={text}")
    return " ".join(parts)


def _common_scope(scopes: Iterable[str]) -> str:
    split = [s.split("/") if s else [] for s in scopes]
    if not split:
        return ""
    common = split[0]
    for parts in split[1:]:
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return "/".join(common)


def _leaf_scope(leaf: Tensor, consumer_scopes: list[str]) -> str:
    common = _common_scope(consumer_scopes)
    if not common:
        return ""
    parts = common.split("/")
    name = leaf.name or ""
    if "." in name and name.split(".", 1)[0] in parts:
        return common  # dense_1.kernel belongs to dense_1
    if leaf.ndim == 0 and not name:
        return common  # a Python scalar, read right there
    if not leaf.requires_grad and (name.endswith("(detached)") or (not name and len(parts) >= 2)):
        return common  # a constant the composite made for itself
    return ""


def _items_of(graph: Graph) -> list[_Item]:
    """Leaves just before their first reader, then each op, in topological order."""
    items: list[_Item] = []
    seen_leaves: dict[int, _Item] = {}
    consumers: dict[int, list[str]] = {}
    for node in graph.nodes:
        for t in node.inputs:
            if t.op is None:
                if id(t) not in seen_leaves:
                    seen_leaves[id(t)] = _Item(len(items), None, t)
                    items.append(seen_leaves[id(t)])
                consumers.setdefault(id(t), []).append(node.scope or "")
        item = _Item(len(items), node, node.output)
        item.scope = node.scope or ""
        items.append(item)
    if not graph.nodes:  # a bare leaf
        items.append(_Item(0, None, graph.output))
    for key, item in seen_leaves.items():
        item.scope = _leaf_scope(item.tensor, consumers[key])
    return items


def _prefixes(scope: str) -> list[str]:
    parts = scope.split("/") if scope else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _signature(path: str, members: list[_Item]) -> tuple:
    """What makes two sibling scopes 'identical blocks': the same ops, shapes and leaves, in order."""
    sig = []
    for it in members:
        rel = it.scope[len(path):]
        t = it.tensor
        if it.node is not None:
            sig.append((rel, it.node.op, _shape(t), str(t.dtype) if t is not None else "?",
                        tuple(_shape(x) for x in it.node.inputs)))
        else:
            sig.append((rel, "leaf", _shape(t), str(t.dtype), t.requires_grad))
    return tuple(sig)


def _fold(items: list[_Item]) -> dict[str, tuple[int, str]]:
    """Fold runs of identical consecutive sibling scopes onto their first: {first: (count, last)}."""
    members: dict[str, list[_Item]] = {}
    children: dict[str, list[str]] = {}
    for it in items:
        parent = ""
        for path in _prefixes(it.scope):
            if path not in members:
                members[path] = []
                children.setdefault(parent, []).append(path)
            members[path].append(it)
            parent = path
    signatures: dict[str, tuple] = {}

    def signature(path: str) -> tuple:
        if path not in signatures:
            signatures[path] = _signature(path, members[path])
        return signatures[path]

    folds: dict[str, tuple[int, str]] = {}
    run_id = 0
    queue = [""]
    while queue:
        kids = children.get(queue.pop(0), [])
        i = 0
        while i < len(kids):
            sig = signature(kids[i])
            j = i + 1
            while j < len(kids) and signature(kids[j]) == sig:
                j += 1
            first = kids[i]
            if j - i >= 2:
                run_id += 1
                folds[first] = (j - i, kids[j - 1])
                for block, kid in enumerate(kids[i:j]):
                    for it, rep in zip(members[kid], members[first]):
                        it.runs.append((run_id, block))
                        if block:
                            it.alias = rep
            queue.append(first)  # look for runs inside the block that is drawn
            i = j
    return folds


def _resolve(item: _Item) -> _Item:
    while item.alias is not None:
        item = item.alias
    return item


def _runs(item: _Item) -> dict[int, int]:
    """Block index per folded run, inherited from the item drawn in this one's place."""
    chain = []
    while item is not None:
        chain.append(item)
        item = item.alias
    runs: dict[int, int] = {}
    for it in reversed(chain):
        runs.update(dict(it.runs))
    return runs


def _saved_tensors(node: Function) -> list[tuple[str, Any]]:
    """(name, array-like) for what the backward of `node` reads besides g."""
    found: list[tuple[str, Any]] = []
    for name, for_inputs in BACKWARD_READS.get(node.op, ()):
        if not any(i < len(node.needs_input_grad) and node.needs_input_grad[i] for i in for_inputs):
            continue
        value = node.output if name == "out" else node.inputs[_INPUT_OF_NAME[name]]
        found.append((name, value))
    saved = node.saved
    if saved is not None:
        names = tuple(getattr(type(node), "saved_names", ()) or ())
        if isinstance(saved, dict):
            found.extend((str(k), v) for k, v in saved.items())
        elif isinstance(saved, (tuple, list)):
            found.extend((names[i] if i < len(names) else f"saved[{i}]", v) for i, v in enumerate(saved))
        else:
            found.append((names[0] if names else "saved", saved))
    return [(n, v) for n, v in found if hasattr(v, "shape")]


def scale_heat(boxes: list[Box]) -> None:
    """Map mean |grad| to 0..1 on a log scale across the boxes that have a finite one."""
    logs = {b.id: math.log10(b.magnitude) for b in boxes
            if b.magnitude is not None and math.isfinite(b.magnitude) and b.magnitude > 0}
    if not logs:
        for b in boxes:
            if b.magnitude == 0:
                b.heat = 0.0
        return
    lo, hi = min(logs.values()), max(logs.values())
    for b in boxes:
        if b.id in logs:
            b.heat = 1.0 if hi == lo else (logs[b.id] - lo) / (hi - lo)
        elif b.magnitude == 0:
            b.heat = 0.0


def _mean_abs(g: Tensor) -> float | None:
    if g.data.size == 0 or g.data.dtype.kind != "f":
        return None
    with np.errstate(all="ignore"):
        return float(np.mean(np.abs(g.data), dtype=np.float64))  # float32 near 3e38 overflows its own sum


def _fold_label(path: str, folds: dict[str, tuple[int, str]]) -> str:
    label = path.rsplit("/", 1)[-1]
    if path in folds:
        count, last = folds[path]
        label = f"{label} … {last.rsplit('/', 1)[-1]} ×{count}"
    return label


class _Group:
    """What a collapsed scope hides: its ops, parameters, NaN/Inf counts and last op."""

    def __init__(self, box: Box) -> None:
        self.box = box
        self.ops: list[str] = []
        self.params = self.values = 0
        self.last: _Item | None = None
        self.bad = {"value": [0, 0], "grad": [0, 0]}


class _GraphWalk:
    """One graph's boxes, arrows and clusters, for `walk_graph`'s options."""

    def __init__(self, graph: Graph, ids: IdCounter, values: bool, grads: bool, saved: bool,
                 depth: int | None, heat: bool, fold: bool, panel: str, current: Function | None,
                 known: set[int] | None) -> None:
        self.ids, self.values, self.grads, self.saved, self.depth, self.heat = ids, values, grads, saved, depth, heat
        self.panel, self.current, self.known = panel, current, known
        self.output_node = graph.output.op
        self.items = _items_of(graph)
        self.folds = _fold(self.items) if fold and len(self.items) > FOLD_MIN_ITEMS else {}
        self.boxes: list[Box] = []
        self.arrows: list[Arrow] = []
        self.groups: dict[str, _Group] = {}
        # A leaf inside a scope (and a saved tensor) sits beside the op that reads it, not a rank
        # above: otherwise each layer's kernel shares a rank with the previous layer's last op and
        # the clusters step sideways across the page.
        self.beside: dict[str, str] = {}
        self.value_bad, self.grad_bad = self._tally()

    def grad_visible(self, it: _Item) -> Tensor | None:
        key = id(it.node) if it.node is not None else id(it.tensor)
        if self.known is not None and key not in self.known:
            return None
        return _grad_of(it)

    def _tally(self) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
        """NaN/Inf counts of values and gradients; folded copies count into the item drawn for them."""
        value_bad: dict[int, list[int]] = {}
        grad_bad: dict[int, list[int]] = {}
        for it in self.items:
            rep = _resolve(it).index
            for tally, array in ((value_bad, it.tensor), (grad_bad, self.grad_visible(it))):
                if array is None:
                    continue
                n, i = count_nonfinite(array.data)
                counts = tally.setdefault(rep, [0, 0])
                counts[0] += n
                counts[1] += i
        return value_bad, grad_bad

    def group_of(self, scope: str) -> str | None:
        """The scope a box is collapsed into at this depth (None: drawn as itself)."""
        parts = scope.split("/") if scope else []
        if self.depth is None or len(parts) <= self.depth:
            return None
        return "/".join(parts[: self.depth + 1])

    def cluster_key(self, scope: str) -> str:
        return f"{self.panel}::{scope}" if scope else self.panel

    def gradient_lines(self, box: Box, g: Tensor | None) -> None:
        if g is None:
            return
        if self.grads:
            box.lines.append(f"grad {summarize(g.data)}")
        if self.heat:
            box.magnitude = _mean_abs(g)
            if box.magnitude is not None:
                box.lines.append(f"mean |grad| {box.magnitude:.3g}")

    def walk(self) -> None:
        for it in self.items:
            if it.alias is not None:
                continue  # a folded copy: drawn as the first block's item
            group = self.group_of(it.scope)
            if group is not None:
                self.add_to_group(group, it)
            else:
                self.add_box(it)
        for name, group in self.groups.items():
            self.finish_group(name, group)
        self.add_arrows()

    def add_box(self, it: _Item) -> None:
        t = it.tensor
        box = Box(self.ids(), "op", [], self.cluster_key(it.scope))
        it.box = box.id
        self.boxes.append(box)
        if it.node is not None:
            node = it.node
            box.kind = "fused" if node.op in FUSED_OPS or getattr(node, "fused", False) else "op"
            box.is_output = node is self.output_node
            box.current = node is self.current
            attrs = _attrs_text(node)
            if attrs and len(node.op) + len(attrs) < 34:
                box.lines.append(f"{node.op} {attrs}")
            else:
                box.lines.extend([node.op, attrs] if attrs else [node.op])
            if box.kind == "fused":
                box.lines.append("fused (one stable op)")
        elif t.requires_grad:
            box.kind = "param"
            box.lines.append(t.name or "parameter")
        elif t.ndim == 0 and not t.name:
            box.kind = "scalar"
            box.lines.append(f"const {summarize(t.data)}")
        else:
            box.kind = "input"
            box.lines.append(t.name or "input")
        box.lines.append(f"{_shape(t)} {t.dtype}" if t is not None else "? (output released)")
        if box.kind == "param":
            box.lines.append("requires grad")
        show_value = self.values and t is not None and box.kind != "scalar"
        if show_value:
            box.lines.append(f"value {summarize(t.data)}")
        g = self.grad_visible(it)
        self.gradient_lines(box, g)
        box.nonfinite, unshown = self.bad_text(it.index, (show_value, self.grads and g is not None))
        if unshown:
            box.lines.append(unshown)
        if it.node is not None and self.value_bad.get(it.index, [0, 0]) != [0, 0] and not any(
                count_nonfinite(x.data) != (0, 0) for x in it.node.inputs):
            box.origin = True
            box.lines.append("NaN/Inf starts here")
        if self.saved and it.node is not None:
            self.add_saved(it.node, box)

    def bad_text(self, rep: int, shown: tuple[bool, bool]) -> tuple[str, str]:
        """(all NaN/Inf counts, the part not already in a value/grad summary line on the box)."""
        parts, unshown = [], []
        for what, tally, in_summary in (("value", self.value_bad.get(rep), shown[0]),
                                         ("grad", self.grad_bad.get(rep), shown[1])):
            if tally and (tally[0] or tally[1]):
                parts.append(f"{_count((tally[0], tally[1]))} in {what}")
                if not in_summary:
                    unshown.append(parts[-1])
        return "; ".join(parts), "; ".join(unshown)

    def add_saved(self, node: Function, box: Box) -> None:
        for name, value in _saved_tensors(node):
            sbox = Box(self.ids(), "saved", [f"saved {name}", f"{_shape(value)} {value.dtype}"], box.cluster,
                       freed=node.freed)
            if node.freed:
                sbox.lines.append("freed by backward()")
            self.add_saved_box(sbox, box)
        if node.freed and node.saved is None:
            # What the op kept itself (the fused losses' p) is gone with its values: draw its name.
            for name in getattr(type(node), "saved_names", ()) or ():
                self.add_saved_box(Box(self.ids(), "saved", [f"saved {name}", "freed by backward()"],
                                       box.cluster, freed=True), box)

    def add_saved_box(self, sbox: Box, box: Box) -> None:
        self.boxes.append(sbox)
        self.arrows.append(Arrow(sbox.id, box.id, "", "saved"))
        self.beside[sbox.id] = box.id

    def add_to_group(self, name: str, it: _Item) -> None:
        group = self.groups.get(name)
        if group is None:
            parent = name.rsplit("/", 1)[0] if "/" in name else ""
            group = self.groups[name] = _Group(Box(self.ids(), "collapsed", [], self.cluster_key(parent)))
            self.boxes.append(group.box)
        it.box = group.box.id
        for what, tally in (("value", self.value_bad.get(it.index)), ("grad", self.grad_bad.get(it.index))):
            if tally:
                group.bad[what][0] += tally[0]
                group.bad[what][1] += tally[1]
        if it.node is not None:
            group.ops.append(it.node.op)
            group.last = it
            group.box.is_output |= it.node is self.output_node
            group.box.current |= it.node is self.current
        elif it.tensor.requires_grad:
            group.params += 1
            group.values += it.tensor.size

    def finish_group(self, name: str, group: _Group) -> None:
        box, ops = group.box, group.ops
        each = " each" if name in self.folds else ""
        box.lines.append(f"{_fold_label(name, self.folds)} ({len(ops)} op{'s' if len(ops) != 1 else ''}{each})")
        text = " ".join(dict.fromkeys(ops))
        box.lines.append(text if len(text) <= 34 else text[:31] + "...")
        if group.params:
            box.lines.append(f"{group.params} param{'s' if group.params != 1 else ''}: {group.values:,} values")
        last = group.last
        if last is not None and last.tensor is not None:
            box.lines.append(f"→ {_shape(last.tensor)} {last.tensor.dtype}")
            self.gradient_lines(box, self.grad_visible(last))  # what flows out of the scope
        box.nonfinite = "; ".join(f"{_count((n, i))} in {what}" for what, (n, i) in group.bad.items() if n or i)
        if box.nonfinite:
            box.lines.append(box.nonfinite)

    def add_arrows(self) -> None:
        """From the box that made each input to the box that reads it, labelled with its shape."""
        by_node = {id(it.node): it for it in self.items if it.node is not None}
        by_leaf = {id(it.tensor): it for it in self.items if it.node is None}
        seen: set[tuple[str, str, str]] = set()
        for it in self.items:
            if it.node is None:
                continue
            dst = _resolve(it)
            for t in it.node.inputs:
                src_item = by_node.get(id(t.op)) if t.op is not None else by_leaf.get(id(t))
                if src_item is None:
                    continue
                src = _resolve(src_item)
                if src.box == dst.box:
                    continue  # inside one collapsed scope
                runs_src, runs_dst = _runs(src_item), _runs(it)
                if any(run in runs_dst and runs_dst[run] != block for run, block in runs_src.items()):
                    continue  # from one folded block to the next: drawn once, as the block itself
                label = _shape(t)
                # x * x draws two arrows; copies made by folding or collapsing draw one
                remapped = src is not src_item or dst is not it or self.group_of(src.scope) or self.group_of(dst.scope)
                key = (src.box, dst.box, label)
                if remapped and key in seen:
                    continue
                seen.add(key)
                self.arrows.append(Arrow(src.box, dst.box, label))
                if src.node is None and src.box not in self.beside and (src.scope or src.tensor.ndim == 0) \
                        and not self.group_of(src.scope):
                    self.beside[src.box] = dst.box

    def cluster_tree(self) -> Cluster:
        """Every scope that holds a drawn box, with its ancestors, under the panel's root."""
        root = Cluster(self.panel, "", "panel" if self.panel else "scope", 0)
        index: dict[str, Cluster] = {self.panel: root}
        for box in self.boxes:
            scope = box.cluster[len(self.panel) + 2:] if box.cluster != self.panel else ""
            parent = root
            for path in _prefixes(scope):
                key = self.cluster_key(path)
                if key not in index:
                    kind = "fold" if path in self.folds else "scope"
                    index[key] = Cluster(key, _fold_label(path, self.folds), kind, path.count("/") + 1)
                    parent.children.append(index[key])
                parent = index[key]
            parent.boxes.append(box.id)
        return root


def walk_graph(graph: Graph, ids: IdCounter, *, values: bool = False, grads: bool = False, saved: bool = False,
               depth: int | None = None, heat: bool = False, fold: bool = True, panel: str = "",
               current: Function | None = None, known: set[int] | None = None
               ) -> tuple[list[Box], list[Arrow], Cluster, list[tuple[str, str]]]:
    """Boxes, arrows, clusters (keyed under `panel`) and same-rank pairs for one graph.

    `current` highlights one op (backward frames); `known`, when given, is the set of `id()`s of
    nodes and leaves whose gradient may be shown (those reached so far); otherwise every one is.
    """
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 0):
        raise ValueError(f"to_dot: depth must be a non-negative int (levels of scopes to keep), got {depth!r}")
    walk = _GraphWalk(graph, ids, values, grads, saved, depth, heat, fold, panel, current, known)
    walk.walk()
    return walk.boxes, walk.arrows, walk.cluster_tree(), list(walk.beside.items())
