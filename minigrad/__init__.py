"""minigrad: a reverse-mode autodiff Tensor framework on numpy, built to be read and watched."""

from minigrad.creation import (arange, eye, full, manual_seed, ones, ones_like, rand, randn, zeros,
                               zeros_like)
from minigrad.engine import (AnomalyError, detect_anomaly, enable_grad, is_grad_enabled, no_grad, scope,
                             set_grad_enabled)
from minigrad.graph import BackwardStep, Graph, backward_steps, trace
from minigrad.primitives import Function, concatenate, maximum, minimum, stack, where
from minigrad.tensor import Tensor, get_default_dtype, set_default_dtype, tensor
from minigrad.transforms import GradcheckError, grad, gradcheck, jacobian

__version__ = "0.1.0"


def exp(x): return _t(x).exp()  # noqa: E704
def log(x): return _t(x).log()  # noqa: E704
def sqrt(x): return _t(x).sqrt()  # noqa: E704
def abs(x): return _t(x).abs()  # noqa: E704,A001
def tanh(x): return _t(x).tanh()  # noqa: E704
def sigmoid(x): return _t(x).sigmoid()  # noqa: E704
def relu(x): return _t(x).relu()  # noqa: E704
def clip(x, lo=None, hi=None): return _t(x).clip(lo, hi)  # noqa: E704
def sum(x, axis=None, keepdims=False): return _t(x).sum(axis, keepdims)  # noqa: E704,A001
def mean(x, axis=None, keepdims=False): return _t(x).mean(axis, keepdims)  # noqa: E704
def max(x, axis=None, keepdims=False): return _t(x).max(axis, keepdims)  # noqa: E704,A001
def min(x, axis=None, keepdims=False): return _t(x).min(axis, keepdims)  # noqa: E704,A001
def argmax(x, axis=None, keepdims=False): return _t(x).argmax(axis, keepdims)  # noqa: E704
def reshape(x, *shape): return _t(x).reshape(*shape)  # noqa: E704
def transpose(x, *axes): return _t(x).transpose(*axes)  # noqa: E704
def flatten(x, start_dim=0, end_dim=-1): return _t(x).flatten(start_dim, end_dim)  # noqa: E704
def softmax(x, axis=-1): return _t(x).softmax(axis)  # noqa: E704
def log_softmax(x, axis=-1): return _t(x).log_softmax(axis)  # noqa: E704
def matmul(a, b): return _t(a) @ b  # noqa: E704


def _t(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def __getattr__(name):
    # nn, optim, datasets and functional load on first use: `import minigrad` stays fast.
    import importlib

    if name in ("nn", "optim", "datasets", "functional"):
        return importlib.import_module(f"minigrad.{name}")
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")


__all__ = [
    "Tensor", "tensor", "set_default_dtype", "get_default_dtype", "Function",
    "zeros", "ones", "full", "arange", "eye", "randn", "rand", "manual_seed", "zeros_like", "ones_like",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "scope", "detect_anomaly",
    "AnomalyError", "trace", "Graph", "backward_steps", "BackwardStep",
    "grad", "jacobian", "gradcheck", "GradcheckError",
    "concatenate", "stack", "where", "maximum", "minimum",
    "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "clip", "sum", "mean", "max", "min",
    "argmax", "reshape", "transpose", "flatten", "softmax", "log_softmax", "matmul",
    "nn", "optim", "datasets", "functional",
]
