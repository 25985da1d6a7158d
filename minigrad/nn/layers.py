"""Keras-style layers (Dense, Flatten, Activation), their activations and weight initializers.

A layer learns its input size on its first call (lazy build, as in Keras) and runs its ops inside
`mg.scope(layer.name)`, so a traced graph clusters by layer: `dense/matmul`, `dense_1/relu`, ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad import creation
from minigrad import functional as F
from minigrad.engine import scope
from minigrad.nn.module import Module
from minigrad.primitives import Linear
from minigrad.tensor import Tensor, get_default_dtype

__all__ = [
    "ACTIVATIONS",
    "INITIALIZERS",
    "Activation",
    "Dense",
    "Flatten",
    "Layer",
    "get_activation",
    "get_initializer",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "ones",
    "zeros",
]


# ----- initializers ------------------------------------------------------------------------
# Keras' formulas. fan_in/fan_out of a (in, units) kernel are in/units; a 1-d shape uses its length for both.

def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _uniform(limit: float, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    return creation.generator().uniform(-limit, limit, size=shape).astype(dtype)


def _truncated_normal(stddev: float, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Normal samples with |z| <= 2 stddev (redrawn otherwise), as Keras' truncated_normal."""
    rng = creation.generator()
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return (z * stddev).astype(dtype)


# Keras' VarianceScaling divides by this (the stddev of a unit normal truncated at ±2) to keep the variance.
_TRUNCATED_STDDEV = 0.87962566103423978


def glorot_uniform(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)) (Keras' default kernel initializer)."""
    fan_in, fan_out = _fans(shape)
    return _uniform(math.sqrt(6.0 / max(1, fan_in + fan_out)), shape, dtype or get_default_dtype())


def glorot_normal(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / 0.8796."""
    fan_in, fan_out = _fans(shape)
    stddev = math.sqrt(2.0 / max(1, fan_in + fan_out)) / _TRUNCATED_STDDEV
    return _truncated_normal(stddev, shape, dtype or get_default_dtype())


def he_uniform(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / fan_in) (for relu layers)."""
    fan_in, _ = _fans(shape)
    return _uniform(math.sqrt(6.0 / max(1, fan_in)), shape, dtype or get_default_dtype())


def he_normal(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """Truncated normal, stddev sqrt(2 / fan_in) / 0.8796 (for relu layers)."""
    fan_in, _ = _fans(shape)
    stddev = math.sqrt(2.0 / max(1, fan_in)) / _TRUNCATED_STDDEV
    return _truncated_normal(stddev, shape, dtype or get_default_dtype())


def zeros(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """All zeros (Keras' default bias initializer)."""
    return np.zeros(shape, dtype or get_default_dtype())


def ones(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    """All ones."""
    return np.ones(shape, dtype or get_default_dtype())


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal, "zeros": zeros, "ones": ones,
}


def _lookup(table: dict[str, Callable[..., Any]], identifier: Any, what: str, other: str) -> Callable[..., Any]:
    """A function by its Keras name (any case) from `table`, or a callable as is."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in table:
        return table[identifier.lower()]
    raise ValueError(f"unknown {what} {identifier!r}; choose one of {', '.join(table)}, or pass {other}")


def get_initializer(identifier: str | Callable[..., Any]) -> Callable[..., np.ndarray]:
    """An initializer `f(shape, dtype) -> ndarray` from a Keras name, or a callable as is."""
    return _lookup(INITIALIZERS, identifier, "initializer", "a function f(shape, dtype) -> numpy array")


# ----- activations -------------------------------------------------------------------------

def _linear(x: Tensor) -> Tensor:
    return x


# softmax and sigmoid come from functional: they mark their outputs with the logits, so a loss with
# from_logits=False can recover them and use the fused, stable op (also under no_grad, in evaluate).
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": _linear, "relu": F.relu, "sigmoid": F.sigmoid, "tanh": F.tanh,
    "softmax": lambda x: F.softmax(x, axis=-1),
}


# What Dense.call runs for an activation: the Tensor method (one call fewer per layer), None for linear.
_TENSOR_METHODS = ((_linear, None), (F.relu, Tensor.relu), (F.sigmoid, Tensor.sigmoid), (F.tanh, Tensor.tanh))


def _tensor_method(activation: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor] | None:
    # By identity: a user's callable need not be hashable.
    return next((method for f, method in _TENSOR_METHODS if f is activation), activation)


def get_activation(identifier: str | Callable[[Tensor], Tensor] | None) -> Callable[[Tensor], Tensor]:
    """An activation from None/"linear"/"relu"/"sigmoid"/"tanh"/"softmax", or a callable as is."""
    if identifier is None:
        return _linear
    return _lookup(ACTIVATIONS, identifier, "activation", "None or a function of a Tensor")


def _activation_name(identifier: Any) -> str:
    if identifier is None:
        return "linear"
    return identifier.lower() if isinstance(identifier, str) else getattr(identifier, "__name__", "custom")


# ----- layers ------------------------------------------------------------------------------

class Layer(Module):
    """A Module with a name, a dtype, and a lazy `build(input_shape)` on its first call."""

    base_name = "layer"  # auto names are base_name, base_name_1, ... (unique within a model)

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        super().__init__()
        if name is not None:
            self._check_name(name)
        self._name = name
        # A provisional name (none yet, or the base name from use outside a model) is the model's to
        # choose; once given by the user or by a model it is kept, as Keras keeps a reused layer's name.
        # A name a model chose (automatic) gives way only where it would collide in an enclosing model.
        self._name_provisional = name is None
        self._name_automatic = False
        self._scope: scope | None = None  # made once per name: a layer enters it on every call
        self.dtype = np.dtype(dtype) if dtype is not None else get_default_dtype()
        self.built = False
        self.input_shape: tuple[int | None, ...] | None = None  # (None, features...) once called
        self.output_shape: tuple[int | None, ...] | None = None

    @property
    def name(self) -> str:
        if self._name is None:  # used on its own, outside a model: the base name
            self._set_name(self.base_name, provisional=True)
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._check_name(value)
        self._set_name(value, provisional=False)

    def _check_name(self, name: Any) -> None:
        # '/' separates scopes ("dense_1/softmax"): a name holding one would split the layer's cluster.
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without '/', got {name!r}")

    def _set_name(self, value: str, provisional: bool, automatic: bool = False) -> None:
        self._name = value
        self._name_provisional = provisional
        self._name_automatic = automatic
        self._scope = None
        for role, t in self._own_parameters():
            t.name = f"{value}.{role}"

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Create the weights for inputs of `input_shape` (batch axis included); no weights by default."""
        self.built = True

    def call(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define call(self, x)")

    def forward(self, x: Any) -> Tensor:
        return self(x)

    def __call__(self, x: Any) -> Tensor:
        # Runs for every layer on every batch: plain attribute reads, no properties, no new scope object.
        if not isinstance(x, Tensor):
            x = Tensor._wrap(np.asarray(x, dtype=self.dtype))
        elif x.data.dtype is not self.dtype and x.data.dtype != self.dtype:
            x = x.astype(self.dtype)  # Keras casts inputs to the layer's dtype (float64 data trains in float32)
        if not self.built:
            name = self.name
            self.build(x.shape)
            self.built = True
            self.input_shape = (None,) + x.shape[1:]
            for role, t in self._own_parameters():
                t.name = f"{name}.{role}"
        layer_scope = self._scope
        if layer_scope is None:
            layer_scope = self._scope = scope(self.name)
        with layer_scope:
            out = self.call(x)
        if self.output_shape is None:
            self.output_shape = (None,) + out.shape[1:]
        return out

    def weight_shapes(self, input_shape: tuple[int | None, ...]) -> dict[str, tuple[int, ...]]:
        """The shapes `build` would give each weight for inputs of `input_shape`."""
        return {}

    def build_from_weights(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Build (without drawing random numbers) so the weights get `shapes`; for load_weights."""
        raise ValueError(f"{type(self).__name__} '{self.name}' cannot be built from a weights file; "
                         "call the model on one batch of inputs first")

    def _unbuild(self) -> None:
        """Undo a build (a refused load_weights must leave the model as it was)."""
        for attr, value in list(vars(self).items()):
            if isinstance(value, Tensor) and value.requires_grad:
                setattr(self, attr, None)
        self.built = False
        self.input_shape = self.output_shape = None

    def count_params(self) -> int:
        return sum(t.size for _, t in self._own_parameters())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r})"


class Dense(Layer):
    """y = activation(x @ kernel + bias); kernel has shape (in, units) as in Keras; `in` is set on the first call."""

    base_name = "dense"

    def __init__(self, units: int, activation: str | Callable[[Tensor], Tensor] | None = None,
                 use_bias: bool = True, kernel_initializer: str | Callable[..., Any] = "glorot_uniform",
                 bias_initializer: str | Callable[..., Any] = "zeros", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name, dtype)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = _activation_name(activation)
        self._activation = get_activation(activation)
        # The Tensor method itself where the activation is one (F.relu(x) is x.relu() behind a call).
        self._apply_activation = _tensor_method(self._activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel: Tensor | None = None
        self.bias: Tensor | None = None
        self.in_features: int | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) == 0:
            raise ValueError(f"Dense '{self.name}': needs inputs with a feature axis, got a scalar")
        self._make_weights(int(input_shape[-1]), self.kernel_initializer, self.bias_initializer)

    def _make_weights(self, in_features: int, kernel_init: Callable[..., Any], bias_init: Callable[..., Any]) -> None:
        self.in_features = in_features
        kernel = np.asarray(kernel_init((in_features, self.units), self.dtype), dtype=self.dtype)
        self.kernel = Tensor._wrap(kernel).requires_grad_()
        self.kernel.name = f"{self.name}.kernel"
        if self.use_bias:
            bias = np.asarray(bias_init((self.units,), self.dtype), dtype=self.dtype)
            self.bias = Tensor._wrap(bias).requires_grad_()
            self.bias.name = f"{self.name}.bias"
        self.built = True

    def weight_shapes(self, input_shape: tuple[int | None, ...]) -> dict[str, tuple[int, ...]]:
        shapes = {"kernel": (int(input_shape[-1]), self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def _unbuild(self) -> None:
        super()._unbuild()
        self.in_features = None

    def build_from_weights(self, shapes: dict[str, tuple[int, ...]]) -> None:
        kernel = shapes.get("kernel")
        if kernel is None or len(kernel) != 2:
            raise ValueError(f"Dense '{self.name}': the weights file holds no 2-d kernel for it "
                             f"(found {dict(shapes)})")
        self._make_weights(kernel[0], zeros, zeros)  # the loaded values replace them: no random draws
        self.input_shape = (None, kernel[0])
        self.output_shape = (None, self.units)

    def call(self, x: Tensor) -> Tensor:
        shape = x.data.shape
        if not shape or shape[-1] != self.in_features:
            got = shape[-1] if shape else "a scalar"
            raise ValueError(
                f"Dense '{self.name}': built for inputs with {self.in_features} features on the last axis, "
                f"got {got} (input shape {shape}). Check the input size, or add nn.Flatten() before the "
                "first Dense for image inputs.")
        y = x @ self.kernel if self.bias is None else Linear.apply(x, self.kernel, self.bias)
        activation = self._apply_activation
        return y if activation is None else activation(y)

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation!r}, name={self._name!r})"


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1·d2·...): images (N, 28, 28) become rows (N, 784) for Dense."""

    base_name = "flatten"

    def call(self, x: Tensor) -> Tensor:
        if x.ndim < 2:
            raise ValueError(f"Flatten '{self.name}': needs a batch axis and at least one more, got shape {x.shape}")
        return x if x.ndim == 2 else x.reshape(x.shape[0], -1)

    def build_from_weights(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.built = True


class Activation(Layer):
    """An activation as its own layer: `nn.Activation("softmax")`."""

    base_name = "activation"

    def __init__(self, activation: str | Callable[[Tensor], Tensor], name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name, dtype)
        self.activation = _activation_name(activation)
        self._activation = get_activation(activation)

    def call(self, x: Tensor) -> Tensor:
        return self._activation(x)

    def build_from_weights(self, shapes: dict[str, tuple[int, ...]]) -> None:
        self.built = True
