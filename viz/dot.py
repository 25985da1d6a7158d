"""DOT text for a tensor's graph, a `Graph` or a model: `to_dot(target, ...)`.

Colour legend (as in pytorchviz, the colour says what a box is):

- light grey  — an input or constant (a leaf that does not require grad); small grey ellipses are
  Python scalars (`x * 2`)
- light blue  — a parameter (a leaf that requires grad), named like `dense_1.kernel`; in a model
  diagram, a layer
- light yellow, rounded — an op (a primitive); its line 2 is the output's shape and dtype
- violet      — a fused op (one numerically stable node, e.g. `softmax_cross_entropy`), marked "fused"
- green       — the output (usually the loss); a fused output keeps violet with a thick green border
- orange      — a tensor the op saved for its backward (`saved=True`), joined by a dashed edge
- grey 3-d box — a collapsed scope (`depth=`): "softmax (4 ops)" and the ops it hides
- red         — a value or gradient holding NaN or Inf, with the count ("3 NaN, 1 Inf in value");
  bright red with a thick border where it starts (finite inputs, non-finite output)
- `heat=True` — after `backward()`, fill from white (small mean |grad|) to orange (large), on a
  log scale; leaves without a gradient stay grey, NaN/Inf stays red
- thick blue border — the current node of a backward frame (`render_backward`)

Clusters are scopes (`with mg.scope("dense_1")`), nested by '/'; a dashed cluster labelled "×N"
stands for N identical consecutive blocks drawn once (`fold=True`, large graphs only). Edges carry
the shape of the tensor that flows along them (as `xlabel`s past 200 boxes, which keeps layout fast).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minigrad.graph import Graph, trace
from minigrad.tensor import Tensor
from viz.model_diagram import architecture_line, is_model, walk_model
from viz.walk import Box, Cluster, Drawing, IdCounter, scale_heat, walk_graph

__all__ = ["FILL", "INLINE_EDGE_LABELS_MAX", "build_drawing", "to_dot", "write_dot"]

FILL = {
    "input": "#e4e4e4",
    "scalar": "#efefef",
    "param": "#cfe3f7",
    "layer": "#cfe3f7",
    "op": "#fff6cc",
    "fused": "#e2d4f5",
    "output": "#b9e6b0",
    "saved": "#fddcb5",
    "collapsed": "#ececec",
    "nonfinite": "#ffb0b0",
    "origin": "#ff4040",
}
_HEAT_STOPS = ((1.0, 0.98, 0.95), (0.99, 0.68, 0.42), (0.90, 0.33, 0.05))
_CLUSTER_FILLS = ("#f4f7fb", "#e9f0f8", "#dfe8f3")
# dot ranks an edge label as a node of its own, which makes layout several times slower on large,
# irregular graphs (an 800-node graph: 7.7 s with labels, 0.7 s with xlabels placed after layout).
# Small drawings keep real labels (xlabels can overlap short edges); large ones get xlabels.
INLINE_EDGE_LABELS_MAX = 200


def _target_graph(target: Any) -> Graph | None:
    if isinstance(target, Graph):
        return target
    if isinstance(target, Tensor):
        return trace(target)
    return None


def build_drawing(target: Any, *, values: bool = False, grads: bool = False, saved: bool = False,
                  depth: int | None = None, heat: bool = False, max_nodes: int = 2000, fold: bool = True,
                  title: str | None = None, current: Any = None, known: set[int] | None = None) -> Drawing:
    """The Drawing (boxes, arrows, clusters) that `to_dot` writes; a dict target gives side-by-side panels."""
    ids = IdCounter()
    panels = list(target.items()) if isinstance(target, Mapping) else [(None, target)]
    if not panels:
        raise ValueError("to_dot: the dict of panels is empty; give {title: tensor, ...}")
    root = Cluster("", "")
    boxes, arrows, same_rank = [], [], []
    default_title = None
    for i, (label, sub) in enumerate(panels):
        panel = "" if label is None else f"panel{i}"
        graph = _target_graph(sub)
        if graph is not None:
            b, a, c, r = walk_graph(graph, ids, values=values, grads=grads, saved=saved, depth=depth, heat=heat,
                                    fold=fold, panel=panel, current=current, known=known)
            same_rank.extend(r)
        elif is_model(sub):
            b, a, c = walk_model(sub, ids, values=values, grads=grads, panel=panel)
            if label is None:
                default_title = architecture_line(sub)
        else:
            raise TypeError(f"to_dot: expected a Tensor, a mg.Graph, a model (with .layers or .parameters()) "
                            f"or a dict of them, got {type(sub).__name__}")
        if label is None:
            root = c
        else:
            c.label = str(label)
            root.children.append(c)
        boxes.extend(b)
        arrows.extend(a)
        if len(boxes) > max_nodes:
            break
    if len(boxes) > max_nodes:
        scoped = any(box.cluster for box in boxes) if depth is None else False
        hint = ("pass depth=1 (or depth=0) to draw each scope as one box, or a larger max_nodes= if you "
                "really want every node") if scoped else (
                "group the ops with mg.scope(...) and pass depth=, or pass a larger max_nodes= if you "
                "really want every node")
        raise ValueError(
            f"to_dot: the drawing needs more than {max_nodes:,} boxes (max_nodes={max_nodes:,}), too many to read "
            f"or to lay out quickly; {hint}")
    if heat:
        scale_heat(boxes)
        if known is None and not any(b.heat is not None for b in boxes):
            raise ValueError("to_dot: heat=True colours nodes by their gradient, but none has one yet; "
                             "call loss.backward() first")
    return Drawing(boxes, arrows, root, title if title is not None else default_title, same_rank)


def _quote(text: str) -> str:
    """A DOT string that shows `text` as it is: Graphviz reads &name; as an HTML entity in labels (so
    & is written &amp;), and a control character would end or corrupt the file (so it is spelled out)."""
    text = text.replace("&", "&amp;")
    text = "".join(ch if ch == "\n" or ord(ch) >= 32 else f"\\x{ord(ch):02x}" for ch in text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _heat_colour(t: float) -> str:
    t = min(max(t, 0.0), 1.0)
    seg = 0 if t <= 0.5 else 1
    u = t * 2 - seg
    a, b = _HEAT_STOPS[seg], _HEAT_STOPS[seg + 1]
    r, g, bl = (round(255 * (x + (y - x) * u)) for x, y in zip(a, b))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _box_attrs(box: Box) -> dict[str, str]:
    kind = box.kind
    fill = FILL.get(kind, "#ffffff")
    if kind == "op" and box.is_output:
        fill = FILL["output"]
    attrs: dict[str, str] = {"label": "\n".join(box.lines)}
    if kind in ("op", "fused"):
        attrs["style"] = "filled,rounded"
    elif kind == "scalar":
        attrs.update(shape="ellipse", style="filled", fontsize="9", margin="0.03,0.01")
    elif kind == "collapsed":
        attrs.update(shape="box3d", style="filled")
    elif kind == "saved":
        attrs.update(style="filled,dashed" if box.freed else "filled", fontsize="9")
    if box.heat is not None:
        fill = _heat_colour(box.heat)
    if box.is_output:
        attrs.update(penwidth="2.5", color="#2e7d32")
    if box.nonfinite:
        fill = FILL["origin" if box.origin else "nonfinite"]
        attrs.update(color="#b00000", penwidth="4" if box.origin else "2")
    if box.current:
        attrs.update(color="#1f4fd8", penwidth="4")
    attrs["fillcolor"] = fill
    return attrs


def _attr_list(attrs: dict[str, str]) -> str:
    return " ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def write_dot(drawing: Drawing) -> str:
    """DOT source for a Drawing; cluster ids are numbered in drawing order, so the text is deterministic."""
    lines = ["digraph minigrad {"]
    graph_attrs = {"rankdir": "TB", "nodesep": "0.25", "ranksep": "0.35", "fontname": "Helvetica",
                   "fontsize": "12", "newrank": "true"}
    if drawing.title:
        graph_attrs.update(label=drawing.title, labelloc="t", fontsize="16")
    lines.append(f"  graph [{_attr_list(graph_attrs)}];")
    lines.append('  node [shape="box" style="filled" fontname="Courier" fontsize="10" '
                 'margin="0.08,0.04" height="0.3" color="#444444"];')
    lines.append('  edge [fontname="Helvetica" fontsize="8" fontcolor="#555555" color="#666666" '
                 'arrowsize="0.6"];')
    by_id = {b.id: b for b in drawing.boxes}
    counter = [0]

    def emit(cluster: Cluster, indent: str) -> None:
        for box_id in cluster.boxes:
            lines.append(f"{indent}{box_id} [{_attr_list(_box_attrs(by_id[box_id]))}];")
        for child in cluster.children:
            number = counter[0]
            counter[0] += 1
            lines.append(f"{indent}subgraph cluster_{number} {{")
            if child.kind == "panel":
                attrs = {"label": child.label, "style": "rounded", "color": "#555555", "penwidth": "1.5",
                         "fontsize": "15", "fontname": "Helvetica", "margin": "14"}
            else:
                attrs = {"label": child.label, "style": "rounded,filled", "fontsize": "11", "labeljust": "l",
                         "fillcolor": _CLUSTER_FILLS[min(child.depth, len(_CLUSTER_FILLS)) - 1],
                         "color": "#8aa0bd", "fontname": "Helvetica"}
                if child.kind == "fold":
                    attrs.update(style="rounded,filled,dashed", penwidth="2", color="#5a6f8c",
                                 fontname="Helvetica")
            for key, value in attrs.items():
                lines.append(f"{indent}  {key}={_quote(value)};")
            emit(child, indent + "  ")
            lines.append(f"{indent}}}")

    emit(drawing.root, "  ")
    for leaf, op in drawing.same_rank:
        lines.append(f"  {{rank=same; {leaf}; {op};}}")
    label_key = "label" if len(drawing.boxes) <= INLINE_EDGE_LABELS_MAX else "xlabel"
    for arrow in drawing.arrows:
        attrs = {}
        if arrow.label:
            attrs[label_key] = arrow.label
        tail, head = arrow.tail, arrow.head
        if arrow.style == "saved":
            # written op -> saved without an arrowhead: on a shared rank dot puts the tail on the left,
            # so the saved tensors go right of their op, away from the inputs coming in from the left
            tail, head = head, tail
            attrs.update(style="dashed", dir="none", color="#d08a3c")
        elif arrow.style != "solid":
            attrs["style"] = arrow.style
        extra = f" [{_attr_list(attrs)}]" if attrs else ""
        lines.append(f"  {tail} -> {head}{extra};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(target: Any, *, values: bool = False, grads: bool = False, saved: bool = False,
           depth: int | None = None, heat: bool = False, max_nodes: int = 2000, fold: bool = True,
           title: str | None = None) -> str:
    """DOT source drawing `target` (a Tensor, a mg.Graph, a model, or a dict {title: target} side by side).

    Colours: grey inputs/constants, light blue parameters, light yellow ops, violet fused ops, green
    the output (loss), orange saved tensors (`saved=True`), grey 3-d boxes collapsed scopes
    (`depth=`), red NaN/Inf (bright red where it starts); `heat=True` fills white → orange by
    log mean |grad| after backward(). The full legend is in this module's docstring.
    """
    return write_dot(build_drawing(target, values=values, grads=grads, saved=saved, depth=depth, heat=heat,
                                   max_nodes=max_nodes, fold=fold, title=title))
