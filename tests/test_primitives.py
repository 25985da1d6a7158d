"""Every primitive, one table row each: forward against numpy, gradients against finite differences.

Each case draws float64 inputs (hypothesis, shapes with size-1 and broadcast dimensions) and
returns them with the minigrad function and its numpy reference. Gradients are checked twice:
against this file's own central-difference helper (so we do not only trust `mg.gradcheck`) and
with `mg.gradcheck`; second derivatives (`create_graph`) are checked through `mg.grad`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import (
    FEW_SETTINGS,
    SETTINGS,
    SLOW_SETTINGS,
    arrays,
    axis_args,
    broadcast_pair,
    broadcast_shapes,
    distinct_arrays,
    nonzero_arrays,
    permutations_of,
    reshape_targets,
    shapes,
    sides,
)

import minigrad as mg
from minigrad import Tensor, primitives

Case = tuple[list[np.ndarray], Callable[..., Tensor], Callable[..., np.ndarray]]


def finite_difference(fn: Callable[..., float], inputs: list[np.ndarray], i: int, eps: float = 1e-6) -> np.ndarray:
    """d fn / d inputs[i] by central differences, one element at a time (float64)."""
    x = inputs[i]
    grad = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        values = []
        for sign in (1.0, -1.0):
            bumped = [a.copy() for a in inputs]
            bumped[i][j] += sign * eps
            values.append(fn(*bumped))
        grad[j] = (values[0] - values[1]) / (2 * eps)
    return grad


# ----- the cases: each draws (input arrays, minigrad function, numpy reference) -------------

CASES: dict[str, Callable[[st.DataObject], Case]] = {}
OPS: dict[str, str] = {}  # case name -> the primitive it exercises (checked against the traced graph)


def case(name: str, op: str) -> Callable:
    def register(draw_case: Callable[[st.DataObject], Case]) -> Callable:
        CASES[name] = draw_case
        OPS[name] = op
        return draw_case
    return register


def binary(name: str, op: str, mg_fn: Callable, np_fn: Callable, a_values: Callable = arrays,
           b_values: Callable = arrays) -> None:
    @case(name, op)
    def _(data: st.DataObject) -> Case:
        sa, sb = data.draw(broadcast_pair(), label="shapes")
        return [data.draw(a_values(sa), label="a"), data.draw(b_values(sb), label="b")], mg_fn, np_fn


binary("add", "add", lambda a, b: a + b, np.add)
binary("sub", "sub", lambda a, b: a - b, np.subtract)
binary("mul", "mul", lambda a, b: a * b, np.multiply)
binary("div", "div", lambda a, b: a / b, np.divide, b_values=lambda s: nonzero_arrays(s, 0.5, 2.0))
# Both gradients of pow: the base stays positive so a^b and log(a) are smooth.
binary("pow", "pow", lambda a, b: a ** b, np.power, a_values=lambda s: arrays(s, 0.5, 2.0),
       b_values=lambda s: arrays(s, -2.0, 2.0))
# Interleaved grids (even and odd multiples of 0.1) never tie.
binary("maximum", "maximum", mg.maximum, np.maximum, a_values=lambda s: distinct_arrays(s, 0.2),
       b_values=lambda s: distinct_arrays(s, 0.2, offset=0.1))
binary("minimum", "minimum", mg.minimum, np.minimum, a_values=lambda s: distinct_arrays(s, 0.2),
       b_values=lambda s: distinct_arrays(s, 0.2, offset=0.1))


@case("pow_scalar_exponent", "pow")
def _(data):
    c = data.draw(st.sampled_from([2, 3, 2.0, 0.5, -1.0, -1.5]), label="exponent")
    shape = data.draw(shapes())
    # Integer powers are smooth for any base; fractional and negative ones need a positive base.
    x = data.draw(arrays(shape) if c in (2, 3, 2.0) else arrays(shape, 0.5, 2.0))
    return [x], lambda t: t ** c, lambda a: np.power(a, c)


@case("rpow", "pow")
def _(data):
    c = data.draw(st.sampled_from([2.0, 0.5, 3]), label="base")
    return [data.draw(arrays(data.draw(shapes())))], lambda t: c ** t, lambda a: np.power(float(c), a)


@case("where", "where")
def _(data):
    sc, sa, sb = data.draw(broadcast_shapes(3), label="shapes")
    cond = data.draw(hnp.arrays(bool, sc), label="condition")
    as_tensor = data.draw(st.booleans(), label="condition as Tensor")
    c = Tensor(cond) if as_tensor else cond
    return [data.draw(arrays(sa)), data.draw(arrays(sb))], lambda a, b: mg.where(c, a, b), \
        lambda a, b: np.where(cond, a, b)


def _matmul_case(name: str, a_shape: Callable, b_shape: Callable) -> None:
    @case(name, "matmul")
    def _(data):
        n, k, m = (data.draw(st.integers(1, 4), label=s) for s in "nkm")
        batch_a, batch_b = data.draw(broadcast_pair(max_dims=2), label="batch shapes")
        sa, sb = a_shape(batch_a, n, k), b_shape(batch_b, k, m)
        return [data.draw(arrays(sa)), data.draw(arrays(sb))], lambda a, b: a @ b, np.matmul


_matmul_case("matmul_2d", lambda batch, n, k: (n, k), lambda batch, k, m: (k, m))
_matmul_case("matmul_batched", lambda batch, n, k: batch + (n, k), lambda batch, k, m: batch + (k, m))
_matmul_case("matmul_1d_2d", lambda batch, n, k: (k,), lambda batch, k, m: (k, m))
_matmul_case("matmul_2d_1d", lambda batch, n, k: (n, k), lambda batch, k, m: (k,))
_matmul_case("matmul_1d_1d", lambda batch, n, k: (k,), lambda batch, k, m: (k,))
_matmul_case("matmul_1d_batched", lambda batch, n, k: (k,), lambda batch, k, m: batch + (k, m))
_matmul_case("matmul_batched_1d", lambda batch, n, k: batch + (n, k), lambda batch, k, m: (k,))


def _linear_case(name: str, x_shape: Callable) -> None:
    @case(name, "linear")
    def _(data):
        n, k, m = (data.draw(st.integers(1, 4), label=s) for s in "nkm")
        batch = data.draw(st.sampled_from([(), (2,), (1, 3)]), label="batch axes")
        bias_shape = data.draw(st.sampled_from([(m,), (1, m)]), label="bias shape")
        inputs = [data.draw(arrays(x_shape(batch, n, k))), data.draw(arrays((k, m))), data.draw(arrays(bias_shape))]
        return inputs, lambda x, w, b: primitives.Linear.apply(x, w, b), lambda x, w, b: x @ w + b


_linear_case("linear_2d", lambda batch, n, k: (n, k))  # a Dense layer's every step
_linear_case("linear_1d", lambda batch, n, k: (k,))
_linear_case("linear_batched", lambda batch, n, k: batch + (n, k))


def unary(name: str, op: str, mg_fn: Callable, np_fn: Callable, values: Callable = arrays) -> None:
    @case(name, op)
    def _(data):
        return [data.draw(values(data.draw(shapes(), label="shape")), label="x")], mg_fn, np_fn


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


unary("neg", "neg", lambda t: -t, np.negative)
unary("exp", "exp", mg.exp, np.exp, lambda s: arrays(s, -3, 3))
unary("log", "log", mg.log, np.log, lambda s: arrays(s, 0.1, 5))
unary("sqrt", "sqrt", mg.sqrt, np.sqrt, lambda s: arrays(s, 0.1, 5))
unary("abs", "abs", mg.abs, np.abs, lambda s: nonzero_arrays(s, 0.1))
unary("tanh", "tanh", mg.tanh, np.tanh, lambda s: arrays(s, -3, 3))
unary("sigmoid", "sigmoid", mg.sigmoid, _sigmoid, lambda s: arrays(s, -6, 6))
unary("relu", "relu", mg.relu, lambda a: np.maximum(a, 0), lambda s: nonzero_arrays(s, 0.1))
unary("astype_float64", "cast", lambda t: t.astype("float64") * 1.5, lambda a: a.astype(np.float64) * 1.5)


@case("clip", "clip")
def _(data):
    lo, hi = data.draw(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None), (0.2, 0.2)]), label="lo, hi")
    edges = [e for e in (lo, hi) if e is not None]
    # Keep values away from the edges, where clip has a kink.
    value = st.floats(-2, 2).filter(lambda v: all(abs(v - e) > 0.05 for e in edges))
    x = data.draw(hnp.arrays(np.float64, data.draw(shapes()), elements=value), label="x")
    return [x], lambda t: t.clip(lo, hi), lambda a: np.clip(a, lo, hi)


def reduction(name: str, distinct: bool = False) -> None:
    @case(name, name)
    def _(data):
        shape = data.draw(shapes(), label="shape")
        axis = data.draw(axis_args(len(shape)), label="axis")
        keepdims = data.draw(st.booleans(), label="keepdims")
        x = data.draw(distinct_arrays(shape) if distinct else arrays(shape), label="x")
        np_fn = getattr(np, name)
        # PyTorch lets a 0-d tensor reduce over axis 0 or -1 (a no-op); numpy wants axis=() there.
        np_axis = () if not shape and axis is not None else axis
        return [x], lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), \
            lambda a: np.asarray(np_fn(a, axis=np_axis, keepdims=keepdims))


reduction("sum")
reduction("mean")
reduction("max", distinct=True)
reduction("min", distinct=True)


@case("reshape", "reshape")
def _(data):
    shape = data.draw(shapes(), label="shape")
    target = data.draw(reshape_targets(shape), label="target")
    return [data.draw(arrays(shape))], lambda t: t.reshape(target), lambda a: a.reshape(target)


@case("reshape_varargs", "reshape")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    target = data.draw(reshape_targets(shape), label="target")
    return [data.draw(arrays(shape))], lambda t: t.reshape(*target), lambda a: a.reshape(target)


@case("transpose", "transpose")
def _(data):
    shape = data.draw(shapes(max_dims=4), label="shape")
    perm = data.draw(permutations_of(len(shape)), label="perm")
    return [data.draw(arrays(shape))], lambda t: t.transpose(perm), lambda a: np.transpose(a, perm)


@case("transpose_varargs_and_T", "transpose")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    perm = data.draw(permutations_of(len(shape)), label="perm")
    # t.transpose(*perm) then .T (which reverses the axes) composes to one permutation.
    return [data.draw(arrays(shape))], lambda t: t.transpose(*perm).T, lambda a: np.transpose(a, perm).T


@case("transpose_negative_axes", "transpose")
def _(data):
    shape = data.draw(shapes(min_dims=1, max_dims=4), label="shape")
    ndim = len(shape)
    # The same permutation with some axes counted from the end: the gradient must not depend on it.
    perm = tuple(a - ndim if data.draw(st.booleans()) else a for a in data.draw(permutations_of(ndim)))
    return [data.draw(arrays(shape))], lambda t: t.transpose(perm), lambda a: np.transpose(a, perm)


@case("swapaxes", "transpose")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    i, j = (data.draw(st.integers(-len(shape), len(shape) - 1)) for _ in range(2))
    return [data.draw(arrays(shape))], lambda t: t.swapaxes(i, j), lambda a: np.swapaxes(a, i, j)


@case("flatten", "reshape")
def _(data):
    shape = data.draw(shapes(min_dims=1, max_dims=4), label="shape")
    start = data.draw(st.integers(0, len(shape) - 1), label="start_dim")
    end = data.draw(st.integers(start, len(shape) - 1), label="end_dim")
    end_arg = end - len(shape) if data.draw(st.booleans()) else end  # negative end_dim too
    target = shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    return [data.draw(arrays(shape))], lambda t: t.flatten(start, end_arg), lambda a: a.reshape(target)


@case("broadcast_to", "broadcast_to")
def _(data):
    shape = data.draw(shapes(max_dims=2), label="shape")
    lead = tuple(data.draw(st.lists(sides, max_size=2), label="new leading dims"))
    target = lead + tuple(data.draw(sides) if n == 1 else n for n in shape)
    return [data.draw(arrays(shape))], lambda t: t.broadcast_to(target), lambda a: np.broadcast_to(a, target)


def getitem(name: str, index_strategy: Callable[[tuple[int, ...]], st.SearchStrategy], min_dims: int = 1) -> None:
    @case(name, "getitem")
    def _(data):
        shape = data.draw(shapes(min_dims=min_dims), label="shape")
        index = data.draw(index_strategy(shape), label="index")
        return [data.draw(arrays(shape))], lambda t: t[index], lambda a: np.asarray(a[index])


def _slices(n: int) -> st.SearchStrategy:
    bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
    return st.builds(slice, bound, bound, st.sampled_from([None, 1, 2, -1, -2]))


getitem("getitem_int", lambda s: st.integers(-s[0], s[0] - 1))
getitem("getitem_slice", lambda s: st.tuples(*[_slices(n) for n in s]))
# Repeated (and negative) integer indices: the gradient must add up every use.
getitem("getitem_int_array_repeats",
        lambda s: hnp.arrays(np.int64, st.integers(1, 6), elements=st.integers(-s[0], s[0] - 1)))
getitem("getitem_int_list", lambda s: st.lists(st.integers(-s[0], s[0] - 1), min_size=1, max_size=5))
getitem("getitem_bool_mask", lambda s: hnp.arrays(bool, s))
getitem("getitem_mixed", lambda s: st.tuples(
    _slices(s[0]), hnp.arrays(np.int64, st.integers(1, 4), elements=st.integers(0, s[1] - 1))), min_dims=2)
getitem("getitem_none_ellipsis", lambda s: st.sampled_from([(None, Ellipsis), (Ellipsis, 0), (0, None)]))


@case("concatenate", "concatenate")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    pieces = []
    for _ in range(data.draw(st.integers(1, 3), label="count")):
        piece = list(shape)
        piece[axis] = data.draw(st.integers(1, 3))
        pieces.append(data.draw(arrays(tuple(piece))))
    return pieces, lambda *ts: mg.concatenate(list(ts), axis=axis), lambda *a: np.concatenate(a, axis=axis)


@case("stack", "stack")
def _(data):
    shape = data.draw(shapes(), label="shape")
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    pieces = [data.draw(arrays(shape)) for _ in range(data.draw(st.integers(1, 3), label="count"))]
    return pieces, lambda *ts: mg.stack(list(ts), axis=axis), lambda *a: np.stack(a, axis=axis)


@case("softmax", "exp")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")

    def ref(a):
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    return [data.draw(arrays(shape, -5, 5))], lambda t: t.softmax(axis), ref


@case("log_softmax", "log")
def _(data):
    shape = data.draw(shapes(min_dims=1), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")

    def ref(a):
        m = a.max(axis=axis, keepdims=True)
        return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))
    return [data.draw(arrays(shape, -5, 5))], lambda t: t.log_softmax(axis), ref


NAMES = sorted(CASES)


# ----- the checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_forward_and_gradient_match_numpy_and_finite_differences(name: str, data: st.DataObject) -> None:
    inputs, fn, ref = CASES[name](data)
    expected = ref(*inputs)
    ts = [Tensor(a, requires_grad=True) for a in inputs]
    out = fn(*ts)
    assert isinstance(out, Tensor)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    assert OPS[name] in {node.op for node in mg.trace(out).nodes}

    # A random upstream gradient w checks the whole vector-Jacobian product, not only its sum.
    w = data.draw(arrays(out.shape, -1, 1), label="upstream gradient")
    out.backward(Tensor(w))

    def loss(*arrays_: np.ndarray) -> float:
        return float(np.sum(fn(*[Tensor(a) for a in arrays_]).data * w))

    for i, t in enumerate(ts):
        assert t.grad is not None, f"input {i} got no gradient"
        assert t.grad.shape == t.shape, f"input {i}: gradient shape {t.grad.shape} != input shape {t.shape}"
        assert t.grad.dtype == np.float64
        np.testing.assert_allclose(t.grad.data, finite_difference(loss, inputs, i), rtol=1e-5, atol=1e-6,
                                   err_msg=f"gradient of input {i}")


@pytest.mark.parametrize("name", NAMES)
@FEW_SETTINGS
@given(data=st.data())
def test_gradcheck_accepts(name: str, data: st.DataObject) -> None:
    inputs, fn, _ = CASES[name](data)
    assert mg.gradcheck(fn, *inputs) is True


@pytest.mark.parametrize("name", NAMES)
@SLOW_SETTINGS
@given(data=st.data())
def test_second_derivatives_match_finite_differences(name: str, data: st.DataObject) -> None:
    """create_graph through every op: the gradient of <grad loss, v> agrees with finite differences."""
    inputs, fn, _ = CASES[name](data)
    w = data.draw(arrays(fn(*[Tensor(a) for a in inputs]).shape, -1, 1), label="w")
    vs = [data.draw(arrays(a.shape, -1, 1), label=f"v{i}") for i, a in enumerate(inputs)]
    argnums = tuple(range(len(inputs)))

    def loss(*ts: Tensor) -> Tensor:
        return (fn(*ts) * Tensor(w)).sum()

    def directional(*ts: Tensor) -> Tensor:
        grads = mg.grad(loss, argnums=argnums)(*ts)
        total = Tensor(np.zeros(()))
        for g, v in zip(grads, vs):
            assert g.shape == v.shape
            total = total + (g * Tensor(v)).sum()
        return total

    assert mg.gradcheck(directional, *inputs, atol=1e-5, rtol=1e-3) is True


def test_every_primitive_has_a_case() -> None:
    """Each primitive class in minigrad.primitives is exercised by a case above (or named below)."""
    def subclasses(cls: type) -> list[type]:
        found = []
        for sub in cls.__subclasses__():
            found += [sub, *subclasses(sub)]
        return found

    internal = {"sum_to", "scatter_add"}  # backward-only ops, see test_internal_backward_ops_appear
    ops = {cls.op for cls in subclasses(primitives.Function) if cls.__module__ == "minigrad.primitives"}
    missing = ops - set(OPS.values()) - internal
    assert not missing, f"primitives without a test case: {sorted(missing)}"


def test_internal_backward_ops_appear() -> None:
    """sum_to (the adjoint of broadcasting) and scatter_add (of getitem) appear in the gradient graph."""
    a = Tensor(np.ones((3, 1)), requires_grad=True)
    b = Tensor(np.ones((1, 4)), requires_grad=True)
    # Squared, so the gradient depends on a and b and create_graph records its graph.
    (ga,) = mg.engine.gradients(((a + b)[[0, 0]] ** 2).sum(), [a], create_graph=True)
    ops = {node.op for node in mg.trace(ga).nodes}
    assert {"sum_to", "scatter_add"} <= ops
    # Row 0 is used twice, each use 2·(a+b) = 4, summed over b's 4 columns.
    np.testing.assert_array_equal(ga.data, [[32.0], [0.0], [0.0]])


@given(rows=st.integers(0, 300), cols=st.integers(1, 40), dtype=st.sampled_from(["float16", "float32", "float64"]))
@FEW_SETTINGS
def test_sum_to_of_a_bias_gradient_matches_numpy(rows: int, cols: int, dtype: str) -> None:
    """The every-step case, (N, C) summed to (C,), goes through BLAS (ones·g) for float32/64: same sums."""
    g = np.random.default_rng(rows * 41 + cols).standard_normal((rows, cols)).astype(dtype)
    out = primitives.SumTo.apply(Tensor(g), shape=(cols,)).data
    assert out.dtype == g.dtype and out.shape == (cols,)
    tolerance = {"float16": 1e-2, "float32": 1e-5, "float64": 1e-12}[dtype]
    np.testing.assert_allclose(out, g.astype(np.float64).sum(axis=0), rtol=tolerance, atol=tolerance * max(rows, 1))


def test_sum_to_keeps_few_ones_vectors() -> None:
    """The cached ones vectors are read-only and do not grow without bound with many batch sizes."""
    for n in [*range(1, 100), 10_000]:
        primitives.SumTo.apply(Tensor(np.ones((n, 2), np.float32)), shape=(2,))
    assert 0 < len(primitives._ONES) <= 32
    assert max(len(v) for v in primitives._ONES.values()) <= 8192  # long sums use numpy's reduction
    assert not any(v.flags.writeable for v in primitives._ONES.values())


# ----- hand-written expectations where hypothesis avoids a region -----------------------------

def test_max_min_split_ties_evenly() -> None:
    """Like torch.amax: tied maxima share the gradient."""
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    y = Tensor(np.array([[0.0, 1.0], [5.0, 0.0]]), requires_grad=True)
    y.min(axis=(0, 1), keepdims=True).backward()
    np.testing.assert_allclose(y.grad.data, [[0.5, 0], [0, 0.5]])
    z = Tensor(np.array([4.0, 1.0, 4.0, 4.0]), requires_grad=True)
    z.max().backward()
    np.testing.assert_allclose(z.grad.data, [1 / 3, 0, 1 / 3, 1 / 3])


def test_maximum_minimum_split_ties_evenly() -> None:
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([1.0, 5.0, 0.0]), requires_grad=True)
    mg.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 0, 1])
    np.testing.assert_allclose(b.grad.data, [0.5, 1, 0])
    a.grad = b.grad = None
    mg.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.data, [0.5, 1, 0])
    np.testing.assert_allclose(b.grad.data, [0.5, 0, 1])


def test_getitem_repeated_indices_scatter_add() -> None:
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 2, 0, -4, 3])].backward(Tensor(np.array([1.0, 10.0, 100.0, 1000.0, 5.0])))
    np.testing.assert_allclose(x.grad.data, [1101.0, 0.0, 10.0, 5.0])


def test_getitem_boolean_mask_gradient() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = Tensor(np.array([[True, False, True], [False, False, True]]))
    picked = x[mask]
    np.testing.assert_array_equal(picked.data, [0.0, 2.0, 5.0])
    (picked * Tensor(np.array([1.0, 2.0, 3.0]))).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[1, 0, 2], [0, 0, 3]])


def test_relu_abs_clip_at_kinks_follow_pytorch() -> None:
    """At the kink PyTorch's choice: relu'(0) = 0, abs'(0) = 0, clip passes at the edges."""
    x = Tensor(np.array([0.0, -1.0, 1.0]), requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1])
    x.grad = None
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, -1, 1])
    x.grad = None
    x.clip(-1.0, 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1, 1, 0])


def test_pow_exponent_gradient_at_zero_base() -> None:
    """d(0^b)/db is 0 for b > 0 (PyTorch's convention), not NaN from log(0)."""
    a = Tensor(np.array([0.0, 2.0]), requires_grad=True)
    b = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.data, [0.0, 8.0 * np.log(2.0)])
    np.testing.assert_allclose(a.grad.data, [0.0, 12.0])


def test_astype_gradient_comes_back_in_the_input_dtype() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float64 and x.grad.shape == (2,)
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def _check_with_own_fd(fn: Callable[..., Tensor], *inputs: np.ndarray) -> None:
    ts = [Tensor(a, requires_grad=True) for a in inputs]
    fn(*ts).sum().backward()
    for i, t in enumerate(ts):
        numeric = finite_difference(lambda *xs: float(fn(*[Tensor(x) for x in xs]).data.sum()), list(inputs), i)
        np.testing.assert_allclose(t.grad.data, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda a, b: a @ b,
    lambda a, b: mg.matmul(a, b),
], ids=["operator", "function"])
def test_matmul_large_batch_broadcast(fn: Callable[..., Any]) -> None:
    rng = np.random.default_rng(0)
    _check_with_own_fd(fn, rng.normal(size=(2, 1, 3, 2)), rng.normal(size=(4, 2, 2)))


def test_linear_errors_name_the_shapes() -> None:
    x, w = Tensor(np.ones((2, 3))), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"^linear: inputs of shape \(2, 3\) do not fit a kernel of shape \(4, 5\)$"):
        primitives.Linear.apply(x, w, Tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"^linear: a bias of shape \(3,\) does not fit outputs of shape \(2, 5\)$"):
        primitives.Linear.apply(Tensor(np.ones((2, 4))), w, Tensor(np.ones(3)))


def test_linear_keeps_float32_and_widens_only_for_a_wider_bias() -> None:
    x, w = Tensor(np.ones((2, 3), np.float32)), Tensor(np.ones((3, 2), np.float32))
    assert primitives.Linear.apply(x, w, Tensor(np.ones(2, np.float32))).dtype == np.float32
    wide = primitives.Linear.apply(x, w, Tensor(np.full(2, 0.1)))  # as x @ w + b would: float64
    assert wide.dtype == np.float64
    np.testing.assert_array_equal(wide.data, np.full((2, 2), 3.1))
