"""The architecture of a model as boxes: input → each layer (units, activation, parameters) → output.

Models are recognised by duck typing, so this file needs nothing from `minigrad.nn`: a model has
`.layers` (Sequential) or sub-layers among its attributes (a custom `nn.Module`), else just
`.parameters()`. A layer may have `.name`, `.units`, `.activation` (a name or a function) and
`.parameters()` or `.kernel`/`.bias` Tensors named like `dense_1.kernel`.
"""

from __future__ import annotations

from typing import Any

from minigrad.engine import count_nonfinite
from minigrad.graph import summarize
from minigrad.tensor import Tensor
from viz.walk import Arrow, Box, Cluster, IdCounter

__all__ = ["architecture_line", "is_model", "walk_model"]


def is_model(target: Any) -> bool:
    """A model or layer: something with `.layers` or a callable `.parameters()`."""
    if isinstance(target, Tensor):
        return False
    return hasattr(target, "layers") or callable(getattr(target, "parameters", None))


def _parameters(obj: Any) -> list[Tensor]:
    params = getattr(obj, "parameters", None)
    if callable(params):
        found = params()
        if isinstance(found, dict):
            found = found.values()
        return [p for p in found if isinstance(p, Tensor)]
    return [p for p in (getattr(obj, "kernel", None), getattr(obj, "bias", None)) if isinstance(p, Tensor)]


def _activation_name(layer: Any) -> str | None:
    if not hasattr(layer, "activation"):
        return None
    act = layer.activation
    if act is None:
        return "linear"
    if isinstance(act, str):
        return act
    name = getattr(act, "name", None) or getattr(act, "__name__", None)
    return str(name) if name else type(act).__name__.lower()


def _sublayers(model: Any) -> list[Any]:
    """`.layers` when there is one, else layer-like attributes in definition order (custom modules)."""
    layers = getattr(model, "layers", None)
    if layers is not None:
        return list(layers)
    found: list[Any] = []
    for value in getattr(model, "__dict__", {}).values():
        candidates = value if isinstance(value, (list, tuple)) else [value]
        for v in candidates:
            if v is not model and not isinstance(v, Tensor) and is_model(v):
                found.append(v)
    return found


def _features(shape: Any) -> tuple[int, ...] | None:
    """(None, 28, 28) -> (28, 28): a Keras-style shape without its batch axis."""
    if not isinstance(shape, tuple) or not shape:
        return None
    return tuple(int(n) for n in shape[1:] if n is not None)


def _input_features(layers: list[Any]) -> tuple[int, ...] | None:
    """Features into the first layer: its recorded input shape, else its kernel (None until built)."""
    for layer in layers:
        inner = _sublayers(layer) if hasattr(layer, "layers") else []
        if inner:
            return _input_features(inner)
        recorded = _features(getattr(layer, "input_shape", None))
        if recorded:
            return recorded
        kernel = getattr(layer, "kernel", None)
        if isinstance(kernel, Tensor) and kernel.ndim == 2:
            return (int(kernel.shape[0]),)
        params = [p for p in _parameters(layer) if p.ndim == 2]
        return (int(params[0].shape[0]),) if params else None
    return None


def _output_features(layer: Any, incoming: tuple[int, ...] | None) -> tuple[int, ...] | None:
    recorded = _features(getattr(layer, "output_shape", None))
    if recorded:
        return recorded
    units = getattr(layer, "units", None)
    if isinstance(units, int):
        return (units,)
    inner = _sublayers(layer) if hasattr(layer, "layers") else []
    for sub in inner:
        incoming = _output_features(sub, incoming)
    return incoming  # a layer without units (an activation) keeps the width


def _batch_shape(features: tuple[int, ...] | None) -> str:
    inner = ", ".join(str(n) for n in features) if features is not None else "?"
    return f"(batch, {inner})"


def _size_text(features: tuple[int, ...] | None) -> str:
    if features is None:
        return "?"
    return "×".join(str(n) for n in features)


def architecture_line(model: Any) -> str:
    """'784 → 25 relu → 15 relu → 10 softmax · 20,175 params' ('?' for sizes unknown before the first call)."""
    layers = _sublayers(model)
    width = _input_features(layers)
    parts = [_size_text(width)]
    for layer in layers:
        width = _output_features(layer, width)
        act = _activation_name(layer)
        if getattr(layer, "units", None) is None and not _parameters(layer):
            if act:  # an activation layer: what the previous layer's outputs go through
                parts[-1] = (parts[-1].removesuffix(" linear") if len(parts) > 1 else parts[-1]) + f" {act}"
            else:  # a reshaping layer (Flatten): the new size and what did it
                parts.append(f"{_size_text(width)} {type(layer).__name__.lower()}")
            continue
        parts.append(f"{_size_text(width)} {act}" if act else _size_text(width))
    params = _parameters(model) if callable(getattr(model, "parameters", None)) else [
        p for layer in layers for p in _parameters(layer)]
    if not params and any(getattr(layer, "units", None) is not None for layer in layers):
        return " → ".join(parts) + " · not built yet (call the model once)"
    return " → ".join(parts) + f" · {sum(p.size for p in params):,} params"


def _layer_box(layer: Any, ids: IdCounter, cluster: str, values: bool, grads: bool) -> Box:
    name = getattr(layer, "name", None) or type(layer).__name__.lower()
    kind = type(layer).__name__
    box = Box(ids(), "layer", [f"{name} · {kind}"], cluster)
    units, act = getattr(layer, "units", None), _activation_name(layer)
    if units is not None or act is not None:
        box.lines.append(", ".join(x for x in (f"{units} units" if units is not None else "", act or "") if x))
    params = _parameters(layer)
    if params:
        shapes = " ".join(f"{(p.name or 'param').rsplit('.', 1)[-1]} {tuple(p.shape)}" for p in params)
        box.lines.append(shapes)
        box.lines.append(f"{sum(p.size for p in params):,} params")
    elif units is not None:
        box.lines.append("not built yet (call the model once)")
    bad = []
    for p in params:
        for what, array in (("value", p.data), ("grad", p.grad.data if p.grad is not None else None)):
            if array is None:
                continue
            if (what == "value" and values) or (what == "grad" and grads):
                box.lines.append(f"{what} {(p.name or 'param').rsplit('.', 1)[-1]} {summarize(array)}")
            nans, infs = count_nonfinite(array)
            if nans or infs:
                bad.append(f"{', '.join(f'{n} {k}' for n, k in ((nans, 'NaN'), (infs, 'Inf')) if n)} "
                           f"in {p.name or 'a parameter'} {what}")
    box.nonfinite = "; ".join(bad)
    if box.nonfinite:
        box.lines.append(box.nonfinite)
    return box


def walk_model(model: Any, ids: IdCounter, *, values: bool = False, grads: bool = False,
               panel: str = "") -> tuple[list[Box], list[Arrow], Cluster]:
    """Boxes for input → layers → output, arrows labelled with the feature sizes between them."""
    boxes: list[Box] = []
    arrows: list[Arrow] = []
    root = Cluster(panel, "", "panel" if panel else "scope", 0)
    layers = _sublayers(model)
    width = _input_features(layers)
    chain = getattr(model, "layers", None) is not None

    first = Box(ids(), "input", ["input", _batch_shape(width)], panel)
    boxes.append(first)
    root.boxes.append(first.id)
    previous = first

    def add(layer: Any, parent: Cluster, depth: int) -> None:
        nonlocal previous, width
        inner = _sublayers(layer) if hasattr(layer, "layers") else []
        if inner:
            name = getattr(layer, "name", None) or type(layer).__name__
            cluster = Cluster(f"{parent.key}::{name}#{len(parent.children)}", str(name), "scope", depth + 1)
            parent.children.append(cluster)
            for sub in inner:
                add(sub, cluster, depth + 1)
            return
        box = _layer_box(layer, ids, parent.key, values, grads)
        boxes.append(box)
        parent.boxes.append(box.id)
        # A custom module's forward may use its layers in any order: say so with dashed arrows.
        arrows.append(Arrow(previous.id, box.id, _batch_shape(width), "solid" if chain else "dashed"))
        previous, width = box, _output_features(layer, width)

    if layers:
        for layer in layers:
            add(layer, root, 0)
    else:
        # Nothing layer-like: group the parameters by the layer name in front of the dot.
        by_owner: dict[str, list[Tensor]] = {}
        for p in _parameters(model):
            owner = (p.name or type(model).__name__).rsplit(".", 1)[0]
            by_owner.setdefault(owner, []).append(p)
        for owner, params in by_owner.items():
            box = Box(ids(), "layer", [owner, " ".join(f"{tuple(p.shape)}" for p in params),
                                       f"{sum(p.size for p in params):,} params"], panel)
            boxes.append(box)
            root.boxes.append(box.id)
            arrows.append(Arrow(previous.id, box.id, "", "dashed"))
            previous = box

    act = _activation_name(layers[-1]) if layers else None
    meaning = {"softmax": "probabilities", "sigmoid": "probabilities", "linear": "logits"}.get(act or "")
    last = Box(ids(), "op", ["output", _batch_shape(width)], panel, is_output=True)
    if meaning:
        last.lines.append(meaning)
    boxes.append(last)
    root.boxes.append(last.id)
    arrows.append(Arrow(previous.id, last.id, _batch_shape(width), "solid" if chain or not layers else "dashed"))
    return boxes, arrows, root
