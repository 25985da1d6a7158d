"""Hypothesis strategies for minigrad's tests (in the style of minitorch's tensor_strategies).

Shapes lean towards size-1 dimensions, because those are where broadcasting and keepdims bugs
live. Values are float64 and kept where each op is smooth, so central finite differences are a
fair reference: positive for log/sqrt/pow bases, away from 0 for div/abs/relu, away from the
edges for clip, and without near-ties for max/min/maximum/minimum.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "FEW_SETTINGS",
    "SETTINGS",
    "SLOW_SETTINGS",
    "arrays",
    "axis_args",
    "broadcast_pair",
    "broadcast_shapes",
    "distinct_arrays",
    "nonzero_arrays",
    "permutations_of",
    "reshape_targets",
    "shapes",
    "sides",
]

# No deadline: the first example of a test pays for imports and numpy warm-up. Modest example
# counts: hypothesis spends a few ms drawing each example, times ~50 cases per check.
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For checks whose cost grows with the square of the size (a whole Jacobian by finite differences).
FEW_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For checks that run a backward per finite-difference evaluation (second order).
SLOW_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A side of 1 half the time: size-1 dimensions are what broadcasting bugs need.
sides = st.one_of(st.just(1), st.integers(1, 4))


@st.composite
def shapes(draw: st.DrawFn, min_dims: int = 0, max_dims: int = 3, max_size: int = 24) -> tuple[int, ...]:
    """A shape with min_dims..max_dims dimensions, at most max_size elements (keeps FD cheap)."""
    ndim = draw(st.integers(min_dims, max_dims))
    shape: list[int] = []
    for _ in range(ndim):
        side = draw(sides)
        while side > 1 and int(np.prod(shape + [side])) > max_size:
            side -= 1
        shape.append(side)
    return tuple(shape)


@st.composite
def broadcast_pair(draw: st.DrawFn, max_dims: int = 3) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that numpy can broadcast together: leading dims dropped, some dims set to 1."""
    full = draw(shapes(max_dims=max_dims))
    pair = []
    for _ in range(2):
        drop = draw(st.integers(0, len(full)))
        kept = list(full[drop:])
        for i in range(len(kept)):
            if draw(st.booleans()):
                kept[i] = 1
        pair.append(tuple(kept))
    return pair[0], pair[1]


def broadcast_shapes(num_shapes: int) -> st.SearchStrategy:
    """`num_shapes` mutually broadcastable shapes (a tuple of shapes)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=0, max_dims=3, min_side=1,
                                             max_side=3).map(lambda r: r.input_shapes)


def arrays(shape: tuple[int, ...], lo: float = -2.0, hi: float = 2.0) -> st.SearchStrategy:
    """float64 arrays of `shape` with values in [lo, hi]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def nonzero_arrays(shape: tuple[int, ...], lo: float = 0.3, hi: float = 2.0) -> st.SearchStrategy:
    """float64 arrays whose values have |x| in [lo, hi], either sign (for div, abs, relu)."""
    magnitude = st.floats(lo, hi)
    signed = st.tuples(st.booleans(), magnitude).map(lambda t: t[1] if t[0] else -t[1])
    return hnp.arrays(np.float64, shape, elements=signed)


def distinct_arrays(shape: tuple[int, ...], spacing: float = 0.1, offset: float = 0.0) -> st.SearchStrategy:
    """float64 arrays of distinct values at least `spacing` apart (no ties for max/min)."""
    # np.asarray: arithmetic on a 0-d array returns a numpy scalar, and tests index into inputs.
    return hnp.arrays(np.int64, shape, elements=st.integers(-40, 40), unique=True).map(
        lambda a: np.asarray(a.astype(np.float64) * spacing + offset)
    )


@st.composite
def axis_args(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    """An axis argument as reductions take it: None, an int (maybe negative) or a tuple of ints."""
    if ndim == 0:
        return draw(st.sampled_from([None, (), 0, -1]))
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def permutations_of(ndim: int) -> st.SearchStrategy:
    """A permutation of range(ndim), as transpose takes it."""
    return st.permutations(list(range(ndim))).map(tuple)


@st.composite
def reshape_targets(draw: st.DrawFn, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape with the same number of elements: its sides shuffled, 1s inserted, maybe one -1."""
    sides_ = list(draw(st.permutations(list(shape))))
    for _ in range(draw(st.integers(0, 2))):
        sides_.insert(draw(st.integers(0, len(sides_))), 1)
    if len(sides_) >= 2 and draw(st.booleans()):  # merge two neighbours
        i = draw(st.integers(0, len(sides_) - 2))
        sides_[i:i + 2] = [sides_[i] * sides_[i + 1]]
    if sides_ and draw(st.booleans()):
        sides_[draw(st.integers(0, len(sides_) - 1))] = -1
    return tuple(sides_)
