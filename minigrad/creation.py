"""Factories: tensors of zeros, ones, ranges and random numbers (seeded by `manual_seed`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.tensor import Tensor, get_default_dtype

__all__ = [
    "arange",
    "eye",
    "full",
    "generator",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "zeros",
    "zeros_like",
]

# Made on first use: numpy.random takes a tenth of `import minigrad`'s time budget to import.
_generator: np.random.Generator | None = None


def manual_seed(seed: int) -> None:
    """Seed minigrad's random numbers (factories, initializers, shuffling) for repeatable runs.

    Any integer from -2**63 to 2**64 - 1 is a seed, as in PyTorch: a negative seed is read as its 64-bit
    two's complement (`seed + 2**64`, so -1 and 2**64 - 1 are the same seed); other values raise.
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: the seed must be an integer, got {type(seed).__name__} {seed!r}")
    seed = int(seed)
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: the seed must be between -2**63 and 2**64 - 1 (a 64-bit integer, "
                         f"as in PyTorch), got {seed}")
    # numpy refuses negative seeds; PyTorch reads the same 64 bits as unsigned, and so do we
    _generator = np.random.default_rng(seed % 2**64)


def generator() -> np.random.Generator:
    """The random generator that `manual_seed` seeds (unseeded until then)."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


def _shape(shape: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: shape must be ints or a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{op}: negative dimension in shape {dims}")
    return dims


def _make(array: np.ndarray, requires_grad: bool, name: str | None = None) -> Tensor:
    return Tensor(array, requires_grad=requires_grad, name=name)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`."""
    return _make(np.zeros(_shape(shape, "zeros"), dtype or get_default_dtype()), requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_shape(shape, "ones"), dtype or get_default_dtype()), requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with one value."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if dtype is None:
        dtype = get_default_dtype() if isinstance(fill_value, float) else np.asarray(fill_value).dtype
    return _make(np.full(_shape(shape, "full"), fill_value, dtype), requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _make(np.ones(t.shape, dtype or t.dtype), requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop): integers stay integers, floats take the default dtype."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(0, start, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = get_default_dtype()
    return _make(values.astype(dtype) if dtype is not None else values, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(np.eye(n, m, dtype=dtype or get_default_dtype()), requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dims = _shape(shape, "randn")
    return _make(generator().standard_normal(dims).astype(dtype or get_default_dtype()), requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dims = _shape(shape, "rand")
    return _make(generator().random(dims).astype(dtype or get_default_dtype()), requires_grad)
