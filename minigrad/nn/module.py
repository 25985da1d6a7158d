"""Module: the base of layers and models; finds parameters from attributes, like PyTorch's nn.Module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from minigrad.tensor import Tensor

__all__ = ["Module"]


class Module:
    """A piece of a model: `forward` computes, parameters are the trainable Tensors among its attributes.

    Parameters are found by walking the attributes in the order they were set: leaf Tensors with
    `requires_grad=True`, sub-Modules, and lists, tuples or dicts of them. A Tensor reached twice
    (shared weights) is listed once.
    """

    def __init__(self) -> None:
        self.training = True

    # ----- computing ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """What the module computes; subclasses define it."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, x)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not getattr(self, "_names_assigned", False):
            self._assign_layer_names()
        return self.forward(*args, **kwargs)

    # ----- the module tree ----------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct sub-Modules, named by attribute (`blocks.0` for a list element)."""
        found: list[tuple[str, Module]] = []
        for attr, value in vars(self).items():
            if isinstance(value, _MODULE_HOLDERS):
                _collect(attr, value, _MODULE_HOLDERS, found)
        return iter(found)

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every module below it, depth first, each once."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _own_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(attribute path, Tensor) for the trainable leaf Tensors held directly, not in sub-Modules."""
        found: list[tuple[str, Tensor]] = []
        for attr, value in vars(self).items():
            if isinstance(value, _TENSOR_HOLDERS):
                _collect(attr, value, _TENSOR_HOLDERS, found)
        return iter((name, t) for name, t in found if t.requires_grad and t.op is None)

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """(path, parameter) pairs, e.g. ("fc1.kernel", Tensor); each parameter once."""
        out: list[tuple[str, Tensor]] = []
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, t in module._own_parameters():
                if id(t) not in seen:
                    seen.add(id(t))
                    out.append((f"{prefix}.{name}" if prefix else name, t))
        return out

    def parameters(self) -> list[Tensor]:
        """The trainable Tensors, in the order named_parameters() lists them."""
        return [t for _, t in self.named_parameters()]

    def zero_grad(self) -> None:
        """Clear every parameter's gradient (`.grad = None`), so the next backward starts afresh."""
        for t in self.parameters():
            t.grad = None

    def train(self, mode: bool = True) -> Module:
        """Put this module and all below it in training mode (or evaluation mode with False)."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: `training` is False here and below (for layers that behave differently)."""
        return self.train(False)

    def _assign_layer_names(self) -> None:
        """Name the unnamed layers below this module Keras-style (dense, dense_1, ...), unique within it.

        A layer that already has a name keeps it, so a layer reused in a second model is not renamed
        in the first. Two layers the user gave one name raise ValueError, as Keras does: their
        parameters would share keys and their graph clusters would merge. A name a model chose
        itself gives way instead: two sub-models that each named their first layer 'dense' make
        'dense' and 'dense_1' in the model that holds both (Keras' names never meet this, being
        unique across the whole program).
        """
        from minigrad.nn.layers import Layer

        layers = [(path, m) for path, m in self.named_modules() if isinstance(m, Layer) and m is not self]
        taken: dict[str, str] = {}  # name -> the path of the layer holding it
        for path, layer in layers:
            if layer._name_provisional or layer._name_automatic:
                continue
            if layer._name in taken:
                owner = getattr(self, "name", None)
                where = f"{type(self).__name__} '{owner}'" if isinstance(owner, str) else type(self).__name__
                raise ValueError(f"{where}: two layers are named {layer._name!r} ({taken[layer._name]} and "
                                 f"{path}); layer names in a model must be unique, pass another name= to one")
            taken[layer._name] = path
        to_name = []
        for path, layer in layers:
            if layer._name_automatic and layer._name not in taken:
                taken[layer._name] = path  # a model's choice, still free here: kept
            elif layer._name_provisional or layer._name_automatic:
                to_name.append((path, layer))
        counts: dict[str, int] = {}
        for path, layer in to_name:
            base = layer.base_name
            while True:
                k = counts.get(base, 0)
                counts[base] = k + 1
                candidate = base if k == 0 else f"{base}_{k}"
                if candidate not in taken:
                    break
            taken[candidate] = path
            layer._set_name(candidate, provisional=False, automatic=True)
        self._names_assigned = True

    def __repr__(self) -> str:
        kids = [f"  ({name}): {type(m).__name__}" for name, m in self.named_children()]
        return f"{type(self).__name__}(" + ("\n" + "\n".join(kids) + "\n" if kids else "") + ")"


# fit walks the module tree a few times per call: attributes that cannot hold a Module or a
# Tensor (names, shapes of ints, flags) are skipped with one isinstance check, and the walk
# appends to one list instead of chaining generators.
_MODULE_HOLDERS = (Module, list, tuple, dict)
_TENSOR_HOLDERS = (Tensor, list, tuple, dict)


def _collect(name: str, value: Any, holders: tuple[type, ...], found: list[tuple[str, Any]]) -> None:
    """Append (path, x) for each instance x of holders[0] that is `value` or in its lists, tuples and dicts."""
    if isinstance(value, holders[0]):
        found.append((name, value))
    elif isinstance(value, (list, tuple, dict)):
        for key, item in (value.items() if isinstance(value, dict) else enumerate(value)):
            if isinstance(item, holders):
                _collect(f"{name}.{key}", item, holders, found)
