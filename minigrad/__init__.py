"""minigrad: a reverse-mode autodiff Tensor framework on numpy, built to be read and watched."""

from minigrad.creation import arange, eye, full, manual_seed, ones, ones_like, rand, randn, zeros, zeros_like
from minigrad.engine import (
    AnomalyError,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
    set_grad_enabled,
)
from minigrad.graph import BackwardStep, Graph, backward_steps, trace
from minigrad.primitives import Function, concatenate, maximum, minimum, stack, where
from minigrad.tensor import Tensor, get_default_dtype, set_default_dtype, tensor
from minigrad.transforms import GradcheckError, grad, gradcheck, jacobian

__version__ = "0.1.0"


def exp(x):
    """e^x, elementwise."""
    return _t(x).exp()


def log(x):
    """Natural logarithm, elementwise."""
    return _t(x).log()


def sqrt(x):
    """Square root, elementwise."""
    return _t(x).sqrt()


def abs(x):
    """|x|, elementwise."""
    return _t(x).abs()


def tanh(x):
    """tanh(x), elementwise."""
    return _t(x).tanh()


def sigmoid(x):
    """1 / (1 + e^-x), elementwise, without overflow."""
    return _t(x).sigmoid()


def relu(x):
    """max(x, 0), elementwise."""
    return _t(x).relu()


def clip(x, lo=None, hi=None):
    """x limited to [lo, hi]."""
    return _t(x).clip(lo, hi)


def sum(x, axis=None, keepdims=False):
    """Sum over axis (all axes by default)."""
    return _t(x).sum(axis, keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over axis (all axes by default)."""
    return _t(x).mean(axis, keepdims)


def max(x, axis=None, keepdims=False):
    """Largest value over axis; ties share the gradient."""
    return _t(x).max(axis, keepdims)


def min(x, axis=None, keepdims=False):
    """Smallest value over axis; ties share the gradient."""
    return _t(x).min(axis, keepdims)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value (no gradient)."""
    return _t(x).argmax(axis, keepdims)


def reshape(x, *shape):
    """The same values in a new shape."""
    return _t(x).reshape(*shape)


def transpose(x, *axes):
    """Axes permuted (reversed by default)."""
    return _t(x).transpose(*axes)


def flatten(x, start_dim=0, end_dim=-1):
    """Dimensions start_dim..end_dim merged into one."""
    return _t(x).flatten(start_dim, end_dim)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis, max-shifted (a composite)."""
    return _t(x).softmax(axis)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis."""
    return _t(x).log_softmax(axis)


def matmul(a, b):
    """The matrix product a @ b (numpy's matmul rules)."""
    return _t(a) @ b


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def __getattr__(name):
    # nn, optim, datasets and functional load on first use: `import minigrad` stays fast.
    import importlib

    if name in ("nn", "optim", "datasets", "functional"):
        return importlib.import_module(f"minigrad.{name}")
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")


__all__ = [
    "AnomalyError",
    "BackwardStep",
    "Function",
    "GradcheckError",
    "Graph",
    "Tensor",
    "abs",
    "arange",
    "argmax",
    "backward_steps",
    "clip",
    "concatenate",
    "datasets",
    "detect_anomaly",
    "enable_grad",
    "exp",
    "eye",
    "flatten",
    "full",
    "functional",
    "get_default_dtype",
    "grad",
    "gradcheck",
    "is_grad_enabled",
    "jacobian",
    "log",
    "log_softmax",
    "manual_seed",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "nn",
    "no_grad",
    "ones",
    "ones_like",
    "optim",
    "rand",
    "randn",
    "relu",
    "reshape",
    "scope",
    "set_default_dtype",
    "set_grad_enabled",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "trace",
    "transpose",
    "where",
    "zeros",
    "zeros_like",
]
