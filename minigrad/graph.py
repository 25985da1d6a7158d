"""Graph inspection for the REPL: `trace` a tensor's graph, step through its backward pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.engine import count_nonfinite, topological_order, walk_backward
from minigrad.primitives import Function
from minigrad.tensor import Tensor

__all__ = ["BackwardStep", "Graph", "backward_steps", "node_table", "summarize", "tensor_table", "trace"]


def summarize(array: np.ndarray | None) -> str:
    """A short, readable summary of values: the values when tiny, else min/mean/max (+ NaN/Inf)."""
    if array is None:
        return "-"
    array = np.asarray(array)
    if array.size == 0:
        return "empty"
    if array.size <= 4:
        flat = ", ".join(_number(v) for v in array.reshape(-1))
        return f"[{flat}]" if array.ndim else flat
    if array.dtype.kind not in "fc":
        return f"min {_number(array.min())} max {_number(array.max())}"
    nans, infs = count_nonfinite(array)
    finite = array[np.isfinite(array)] if (nans or infs) else array
    # The mean in float64: float32 values near 3e38 are finite, but their float32 sum is not.
    text = (f"min {_number(finite.min())} mean {_number(finite.mean(dtype=np.float64))} max {_number(finite.max())}"
            if finite.size else "no finite values")
    bad = ", ".join(f"{n} {kind}" for n, kind in ((nans, "NaN"), (infs, "Inf")) if n)
    return f"{text} ({bad})" if bad else text


def _number(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class BackwardStep:
    """One node of the backward pass: the gradient that reached it and what it sent on."""

    index: int
    node: Function
    grad_output: Tensor
    grad_inputs: tuple[Tensor | None, ...]

    @property
    def rule(self) -> str:
        """The local derivative this node applies, e.g. 'd/dx = g·(x > 0)' for relu."""
        return self.node.rule

    def __repr__(self) -> str:
        sent = ", ".join("-" if gi is None else f"{gi.shape}: {summarize(gi.data)}" for gi in self.grad_inputs)
        where = f" [{self.node.scope}]" if self.node.scope else ""
        return (f"step {self.index}: {self.node.op}{where}  {self.rule}\n"
                f"  grad_output {self.grad_output.shape}: {summarize(self.grad_output.data)}\n"
                f"  grad_inputs {sent}")


def backward_steps(t: Tensor, grad: Any = None, retain_graph: bool | None = None,
                   create_graph: bool = False) -> Iterator[BackwardStep]:
    """The backward pass one node at a time, newest first (reverse topological order); to the end = `t.backward()`."""
    steps = walk_backward(t, grad, retain_graph, create_graph)  # raises now for a tensor without a graph
    return (BackwardStep(i, node, g, sent) for i, (node, g, sent) in enumerate(steps))


class Graph:
    """The computation graph behind a tensor: `.nodes` (inputs first), `.leaves`, `.output`."""

    def __init__(self, output: Tensor) -> None:
        if not isinstance(output, Tensor):
            raise TypeError(f"trace: expected a Tensor, got {type(output).__name__}")
        self.output = output
        self.nodes: list[Function] = topological_order(output)
        leaves: dict[int, Tensor] = {}
        for node in self.nodes:
            for t in node.inputs:
                if t.op is None:
                    leaves.setdefault(id(t), t)
        if output.op is None:
            leaves.setdefault(id(output), output)
        self.leaves: list[Tensor] = list(leaves.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[Function]:
        return iter(self.nodes)

    def backward_steps(self, grad: Any = None, retain_graph: bool | None = None,
                       create_graph: bool = False) -> Iterator[BackwardStep]:
        return backward_steps(self.output, grad, retain_graph, create_graph)

    def rows(self) -> list[tuple[str, ...]]:
        """The table that repr and rich show: index, op, scope, shape, dtype, value, grad."""
        rows = []
        for i, t in enumerate(self.leaves):
            label = t.name or ("param" if t.requires_grad else "const")
            rows.append((f"L{i}", f"leaf:{label}", "", str(t.shape), str(t.dtype), summarize(t.data),
                         summarize(t.grad.data) if t.grad is not None else "-"))
        for i, node in enumerate(self.nodes):
            out = node.output
            rows.append((str(i), node.op, node.scope or "", str(out.shape) if out is not None else "?",
                         str(out.dtype) if out is not None else "?",
                         summarize(out.data) if out is not None else "?",
                         summarize(node.grad.data) if node.grad is not None else "-"))
        return rows

    _HEADER = ("#", "op", "scope", "shape", "dtype", "value", "grad")

    def __repr__(self) -> str:
        rows = [self._HEADER, *self.rows()]
        widths = [max(len(r[c]) for r in rows) for c in range(len(self._HEADER))]
        lines = [f"Graph: {len(self.nodes)} ops, {len(self.leaves)} leaves, output {self.output.shape}"]
        for r in rows:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
        return "\n".join(lines)

    def __rich__(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"Graph: {len(self.nodes)} ops, {len(self.leaves)} leaves, output {self.output.shape}")
        for name in self._HEADER:
            table.add_column(name, justify="right" if name == "#" else "left")
        for r in self.rows():
            # Text objects: rich would read "[1, 2]" in a plain string as markup and drop it.
            table.add_row(*(Text(cell) for cell in r))
        return table

    def _repr_svg_(self) -> str | None:
        """SVG for Jupyter, drawn by viz; None (Jupyter then shows the text table) without Graphviz."""
        try:
            import viz
        except ImportError:  # minigrad installed without its viz package
            return None
        try:
            return viz.to_svg(self)
        except (viz.RenderError, ValueError):  # no engine, or a graph too large to draw (past to_dot's cap)
            return None


def _fields_table(title: str, fields: list[tuple[str, str]]) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(title), show_header=False, title_justify="left")  # a name like "h[t]" is not markup
    table.add_column(style="bold")
    table.add_column()
    for key, value in fields:
        table.add_row(Text(key), Text(value))  # Text: "[1, 2]" would otherwise be read as markup
    return table


def tensor_table(t: Tensor) -> Any:
    """A rich table of one tensor: name, op, shape, dtype, values and gradient at a glance."""
    fields = [("shape", str(t.shape)), ("dtype", str(t.dtype)),
              ("made by", t.op.op + (f" [{t.op.scope}]" if t.op.scope else "") if t.op is not None else "leaf"),
              ("requires_grad", str(t.requires_grad)), ("value", summarize(t.data)),
              ("grad", summarize(t.grad.data) if t.grad is not None else "-")]
    return _fields_table(f"Tensor {t.name}" if t.name else "Tensor", fields)


def node_table(node: Function) -> Any:
    """A rich table of one node: op, scope, attributes, inputs, output and its rule."""
    out = node.output
    fields = [("op", node.op), ("scope", node.scope or "-"),
              ("attrs", ", ".join(f"{k}={v!r}" for k, v in node.attrs.items() if not k.startswith("_")) or "-"),
              ("inputs", ", ".join(f"{t.name or ('leaf' if t.op is None else t.op.op)} {t.shape}"
                                   for t in node.inputs)),
              ("output", f"{out.shape} {out.dtype}: {summarize(out.data)}" if out is not None else "?"),
              ("rule", node.rule or "-"),
              ("grad", summarize(node.grad.data) if node.grad is not None else "-")]
    return _fields_table(f"node {node.op}", fields)


def trace(t: Tensor) -> Graph:
    """The graph that produced `t`, for printing, stepping and drawing."""
    return Graph(t)
