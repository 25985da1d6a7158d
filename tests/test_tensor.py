"""The Tensor API: construction and dtypes, conversions, operators, factories and errors for people."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

# ----- construction and dtypes ----------------------------------------------------------------


@pytest.mark.parametrize("data", [1.5, [1.0, 2.0], [[1, 2.5]], (0.5,)])
def test_python_floats_default_to_float32(data: object) -> None:
    assert Tensor(data).dtype == np.float32
    assert mg.tensor(data).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_float_dtype_is_kept(dtype: type) -> None:
    assert Tensor(np.ones(3, dtype=dtype)).dtype == dtype
    assert Tensor(dtype(2.0)).dtype == dtype


def test_integers_and_bools_keep_their_dtype() -> None:
    assert Tensor([1, 2]).dtype.kind == "i"
    assert Tensor(3).dtype.kind == "i"
    assert Tensor(np.array([1, 2], dtype=np.uint8)).dtype == np.uint8
    assert Tensor([True, False]).dtype == np.bool_


def test_explicit_dtype_and_copy_from_tensor() -> None:
    t = Tensor([1, 2], dtype="float64")
    assert t.dtype == np.float64
    assert Tensor(t).dtype == np.float64
    np.testing.assert_array_equal(Tensor(t).data, [1.0, 2.0])


def test_set_default_dtype_changes_floats_and_factories(float64_default: None) -> None:
    assert mg.get_default_dtype() == np.float64
    assert Tensor(1.0).dtype == np.float64
    assert mg.zeros(2).dtype == np.float64
    assert mg.randn(2).dtype == np.float64
    assert Tensor([1, 2]).dtype.kind == "i"  # integers are not affected


def test_default_dtype_is_float32_again_after_the_fixture() -> None:
    assert mg.get_default_dtype() == np.float32
    previous = mg.get_default_dtype()
    mg.set_default_dtype("float64")
    mg.set_default_dtype(previous)
    assert Tensor(1.0).dtype == np.float32


def test_set_default_dtype_rejects_non_floats() -> None:
    with pytest.raises(TypeError, match="int64"):
        mg.set_default_dtype("int64")


@pytest.mark.parametrize("op", [
    lambda t: t * 2.5, lambda t: 2.5 * t, lambda t: t + 1, lambda t: 1 - t, lambda t: t / 3,
    lambda t: 3 / t, lambda t: t ** 2, lambda t: 2 ** t, lambda t: t ** 0.5, lambda t: mg.maximum(t, 0.5),
    lambda t: mg.minimum(0.5, t), lambda t: mg.where(t > 1, t, 0.0), lambda t: t.clip(0.1, 1.5),
    lambda t: t.mean(), lambda t: t.softmax(),
])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_python_scalars_never_upcast(op, dtype: type) -> None:
    t = Tensor(np.array([1.0, 2.0], dtype=dtype))
    assert op(t).dtype == dtype


# A Python float meeting an integer or bool tensor, on either side: (minigrad, PyTorch) functions;
# None where PyTorch spells it the same way.
FLOAT_SCALAR_WITH_INTEGERS = {name: (mg_fn, torch_fn) for name, mg_fn, torch_fn in [
    ("div", lambda t: t / 2.0, None), ("rdiv", lambda t: 2.0 / t, None), ("mul", lambda t: t * 0.5, None),
    ("rmul", lambda t: 0.5 * t, None), ("add", lambda t: t + 0.5, None), ("radd", lambda t: 0.5 + t, None),
    ("sub", lambda t: t - 0.5, None), ("rsub", lambda t: 1.0 - t, None), ("pow", lambda t: t ** 0.5, None),
    ("rpow", lambda t: 2.0 ** t, None), ("clip", lambda t: t.clip(0.5, 2.5), None),
    ("where", lambda t: mg.where(t > 1, t, 0.5), lambda torch, t: torch.where(t > 1, t, 0.5)),
    ("maximum", lambda t: mg.maximum(t, 1.5), lambda torch, t: torch.maximum(t, torch.tensor(1.5))),
    ("minimum", lambda t: mg.minimum(1.5, t), lambda torch, t: torch.minimum(torch.tensor(1.5), t)),
]}
INTEGER_DTYPES = [np.int64, np.int32, np.int8, np.uint8, np.bool_]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FLOAT_SCALAR_WITH_INTEGERS)
def test_a_python_float_with_an_integer_tensor_gives_the_default_float_dtype(name: str, dtype: type) -> None:
    mg_fn = FLOAT_SCALAR_WITH_INTEGERS[name][0]
    data = np.array([3, 1, 2]).astype(dtype)
    out = mg_fn(Tensor(data))
    assert out.dtype == np.float32  # numpy alone would give float64
    np.testing.assert_allclose(out.data, mg_fn(Tensor(data.astype(np.float64))).data, rtol=1e-6)


@pytest.mark.parametrize("name", FLOAT_SCALAR_WITH_INTEGERS)
def test_a_python_float_with_an_integer_tensor_follows_the_default_dtype(name: str,
                                                                         float64_default: None) -> None:
    assert FLOAT_SCALAR_WITH_INTEGERS[name][0](mg.arange(1, 4)).dtype == np.float64


@pytest.mark.parametrize("dtype", INTEGER_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FLOAT_SCALAR_WITH_INTEGERS)
def test_a_python_float_with_an_integer_tensor_matches_torch(name: str, dtype: type) -> None:
    torch = pytest.importorskip("torch")
    if "sub" in name and dtype is np.bool_:
        pytest.skip("PyTorch refuses to subtract with bool tensors")
    mg_fn, torch_fn = FLOAT_SCALAR_WITH_INTEGERS[name]
    data = np.array([3, 1, 2]).astype(dtype)
    t = torch.from_numpy(data)
    out, expected = mg_fn(Tensor(data)), (mg_fn(t) if torch_fn is None else torch_fn(torch, t))
    assert str(out.dtype) == str(expected.dtype).removeprefix("torch.")
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-6)


def test_where_with_python_scalar_branches_takes_the_default_dtype_for_floats() -> None:
    mask = Tensor([True, False])
    assert mg.where(mask, 1.0, 0.0).dtype == np.float32
    assert mg.where(mask, 1, 0.0).dtype == np.float32
    assert mg.where(mask, [1.0, 2.0], 0).dtype == np.float32  # a list of floats, as Tensor(list) makes it
    assert mg.where(mask, 1, 0).dtype == np.int64
    assert mg.where(mask, np.ones(2), 0.0).dtype == np.float64  # a numpy array keeps its dtype
    assert mg.where(mask, 1.0, 0.0).tolist() == [1.0, 0.0]


def test_binary_ops_follow_numpy_promotion() -> None:
    a32, a64 = Tensor(np.ones(2, np.float32)), Tensor(np.ones(2, np.float64))
    assert (a32 + a64).dtype == np.float64
    assert (Tensor([1, 2]) * 2).dtype.kind == "i"
    assert (Tensor([1, 2]) / Tensor([2, 4])).dtype == np.float32  # int / int -> default float, as in PyTorch
    np.testing.assert_allclose((Tensor([1, 2]) / Tensor([2, 4])).data, [0.5, 0.5])


@pytest.mark.parametrize("data", [[1, 2], np.array([1], dtype=np.uint8), [True]])
def test_requires_grad_on_non_float_is_a_type_error(data: object) -> None:
    with pytest.raises(TypeError, match=r"float.*astype|float"):
        Tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match=str(np.asarray(data).dtype)):
        Tensor(data, requires_grad=True)


@pytest.mark.parametrize("data", ["abc", [1 + 2j], [object()]])
def test_non_numeric_data_is_a_type_error(data: object) -> None:
    with pytest.raises(TypeError, match="Tensor"):
        Tensor(data)


# ----- conversions and attributes -------------------------------------------------------------

def test_numpy_interop() -> None:
    t = Tensor(np.arange(6.0).reshape(2, 3))
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert t.numpy() is t.data
    np.testing.assert_array_equal(np.array(t), t.data)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64


def test_item_and_tolist() -> None:
    assert Tensor(3.5).item() == 3.5 and isinstance(Tensor(3.5).item(), float)
    assert Tensor([[7]]).item() == 7 and isinstance(Tensor([[7]]).item(), int)
    assert Tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match=r"\(2,\)"):
        Tensor([1.0, 2.0]).item()


def test_transpose_and_T() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(a)
    assert t.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(t.T.data, a.T)
    np.testing.assert_array_equal(t.transpose().data, a.T)
    np.testing.assert_array_equal(t.transpose(1, 0, 2).data, a.transpose(1, 0, 2))
    np.testing.assert_array_equal(t.transpose((2, 0, 1)).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(mg.transpose(t, 2, 1, 0).data, a.T)


def test_transpose_with_negative_axes_sends_each_gradient_back_to_its_element() -> None:
    # On a square input a wrong inverse permutation still has the right shape: only values show it.
    x = Tensor(np.zeros((2, 2)), requires_grad=True)
    c = np.array([[1.0, 2.0], [3.0, 4.0]])
    (x.transpose(-1, 0) * Tensor(c)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, c.T)
    w = np.arange(24.0).reshape(3, 4, 2)
    y = Tensor(np.ones((2, 3, 4)), requires_grad=True)
    (y.transpose(1, -1, 0) * Tensor(w)).sum().backward()
    np.testing.assert_array_equal(y.grad.data, w.transpose(2, 0, 1))


@pytest.mark.parametrize("perm", [(-1, 0), (1, -1, 0), (-3, -1, -2), (-2, 2, 0), (2, 0, -2)], ids=str)
def test_transpose_with_negative_axes_matches_torch_permute(perm: tuple[int, ...]) -> None:
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).normal(size=(2, 3, 4)[:len(perm)])
    w = np.random.default_rng(1).normal(size=np.transpose(a, perm).shape)
    x, tx = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, t_out = x.transpose(perm), tx.permute(perm)
    np.testing.assert_array_equal(out.data, t_out.detach().numpy())
    (out * Tensor(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())


@pytest.mark.parametrize("axes, problem", [
    ((0, 0), "an axis is repeated"), ((1, -1), "an axis is repeated"), ((0, 2), r"in -2\.\.1"),
    ((-3, 0), r"in -2\.\.1"), ((0,), "give 2 axes"), ((2, 1, 0), "give 2 axes"),
], ids=str)
def test_transpose_refuses_axes_that_are_not_a_permutation(axes: tuple[int, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=rf"^transpose: axes {re.escape(str(axes))} .*\(2, 3\).*{problem}"):
        mg.ones(2, 3).transpose(axes)
    with pytest.raises(TypeError, match="transpose: axes must be integers"):
        mg.ones(2, 3).transpose(0.0, 1)


def test_len_iteration_and_name() -> None:
    t = Tensor([[1, 2], [3, 4], [5, 6]], name="rows")
    assert len(t) == 3
    assert [row.tolist() for row in t] == [[1, 2], [3, 4], [5, 6]]
    assert t.name == "rows" and "rows" in repr(t)


def test_repr_shows_shape_dtype_and_op() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    text = repr(x.exp())
    assert "shape=(2,)" in text and "float64" in text and "op=exp" in text
    assert "requires_grad=True" in repr(x)


# ----- comparisons ----------------------------------------------------------------------------

@pytest.mark.parametrize("compare, expected", [
    (lambda a, b: a == b, [False, True, False]), (lambda a, b: a != b, [True, False, True]),
    (lambda a, b: a < b, [True, False, False]), (lambda a, b: a <= b, [True, True, False]),
    (lambda a, b: a > b, [False, False, True]), (lambda a, b: a >= b, [False, True, True]),
])
def test_comparisons_give_bool_tensors_without_grad(compare, expected: list[bool]) -> None:
    a = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = Tensor(np.array([2.0, 2.0, 2.0]), requires_grad=True)
    for other in (b, 2.0, np.array([2.0, 2.0, 2.0])):
        out = compare(a, other)
        assert out.dtype == np.bool_
        assert not out.requires_grad and out.op is None
        assert out.tolist() == expected


# ----- indexing -------------------------------------------------------------------------------

def test_indexing_forms_match_numpy() -> None:
    a = np.arange(24.0).reshape(4, 6)
    t = Tensor(a)
    for index in (1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, -1), np.array([3, 0, 3]),
                  a > 10, (np.array([0, 1]), np.array([5, 4])), (None, 0)):
        np.testing.assert_array_equal(t[index].data, a[index])
    np.testing.assert_array_equal(t[[0, 0, 2]].data, a[[0, 0, 2]])
    np.testing.assert_array_equal(t[Tensor(np.array([1, 2]))].data, a[[1, 2]])
    np.testing.assert_array_equal(t[Tensor(a > 10)].data, a[a > 10])


def test_setitem_on_a_tensor_that_requires_grad_is_refused() -> None:
    x = Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 1.0
    with mg.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0]


def test_setitem_errors_name_the_op_and_the_shapes() -> None:
    t = mg.zeros(2, 3)
    with pytest.raises(ValueError, match=r"^setitem: cannot write a value of shape \(4,\) into a selection "
                                         r"of shape \(3,\) of a tensor of shape \(3,\); .* to \(3,\)$"):
        t[0][:] = np.ones(4)
    with pytest.raises(ValueError, match=r"^setitem: .* \(2,\) .* \(3,\) of a tensor of shape \(2, 3\)"):
        t[0] = mg.Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^setitem: .* shape \(2,\) into a selection of shape \(0,\)"):
        t[t > 0] = [1.0, 2.0]  # a boolean mask that selects nothing
    with pytest.raises(ValueError, match=r"^setitem: the nested lists are ragged: .*\(1,\) and \(2,\)"):
        t[0] = [[1.0, 2.0], [3.0]]
    with pytest.raises(IndexError, match=r"^setitem: index 5 does not fit a tensor of shape \(2, 3\)"):
        t[5] = 1.0
    with pytest.raises(TypeError, match="^setitem: cannot write this str into a tensor of dtype float32"):
        t[0] = "abc"
    with pytest.raises(ValueError, match="^setitem: 300 does not fit in this tensor's dtype int8"):
        mg.tensor(np.int8([1, 2]))[0] = 300
    t[0] = mg.Tensor([1.0, 2.0, 3.0])  # the valid forms still write, broadcasting as numpy does
    t[1] = 4.0
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]]


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_ragged_nested_lists_are_a_value_error_that_says_where(dtype: str | None) -> None:
    with pytest.raises(ValueError, match=r"^Tensor: the nested lists are ragged: at depth 1 their items have "
                                         r"shapes \(1,\) and \(2,\)"):
        mg.Tensor([[1, 2], [3]], dtype=dtype)
    with pytest.raises(ValueError, match=r"^Tensor: .* at depth 2 their items have shapes \(2,\) and \(3,\)"):
        mg.Tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8, 9]]], dtype=dtype)
    with pytest.raises(ValueError, match=r"^Tensor: .* at depth 1 their items have shapes \(\) and \(2,\)"):
        mg.Tensor([[1.0, 2.0], 3.0], dtype=dtype)


# ----- factories ------------------------------------------------------------------------------

@pytest.mark.parametrize("factory", [mg.zeros, mg.ones, mg.randn, mg.rand])
def test_factory_shapes_as_ints_or_tuple(factory) -> None:
    assert factory(3, 4).shape == factory((3, 4)).shape == (3, 4)
    assert factory(5).shape == (5,)
    assert factory(3, 4).dtype == np.float32
    assert factory(2, requires_grad=True).requires_grad


def test_factory_values() -> None:
    np.testing.assert_array_equal(mg.zeros(2).data, [0, 0])
    np.testing.assert_array_equal(mg.ones(2).data, [1, 1])
    np.testing.assert_array_equal(mg.full((2,), 7.0).data, [7.0, 7.0])
    np.testing.assert_array_equal(mg.eye(2).data, np.eye(2))
    assert mg.arange(4).tolist() == [0, 1, 2, 3] and mg.arange(4).dtype.kind == "i"
    assert mg.arange(0.0, 1.0, 0.5).dtype == np.float32
    u = mg.rand(1000).data
    assert u.min() >= 0 and u.max() < 1


def test_manual_seed_repeats_random_numbers() -> None:
    mg.manual_seed(7)
    a = mg.randn(4).data.copy()
    mg.manual_seed(7)
    np.testing.assert_array_equal(mg.randn(4).data, a)
    assert not np.array_equal(mg.randn(4).data, a)


def test_negative_shape_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        mg.zeros(2, -1)


# ----- errors for people ----------------------------------------------------------------------

def test_matmul_misalignment_message() -> None:
    with pytest.raises(ValueError) as info:
        mg.zeros(128, 784) @ mg.zeros(25, 784)
    assert str(info.value) == "matmul: shapes (128, 784) and (25, 784) do not align (784 != 25)"


def test_matmul_of_a_scalar_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"matmul.*\(\)"):
        Tensor(2.0) @ mg.ones(2)


@pytest.mark.parametrize("op, name", [
    (lambda a, b: a + b, "add"), (lambda a, b: a - b, "sub"), (lambda a, b: a * b, "mul"),
    (lambda a, b: a / b, "div"), (lambda a, b: a ** b, "pow"), (mg.maximum, "maximum"),
    (mg.minimum, "minimum"), (lambda a, b: mg.where(np.ones(1, bool), a, b), "where"),
])
def test_broadcast_mismatch_names_op_and_shapes(op, name: str) -> None:
    a, b = mg.ones(2, 3), mg.ones(4)
    with pytest.raises(ValueError) as info:
        op(a, b)
    message = str(info.value)
    assert message.startswith(name) and "(2, 3)" in message and "(4,)" in message


def test_shape_op_errors_name_op_and_shapes() -> None:
    t = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match=r"broadcast_to.*\(2, 3\).*\(4, 3\)"):
        t.broadcast_to((4, 3))
    with pytest.raises(ValueError, match=r"transpose.*\(0, 0\)"):
        t.transpose(0, 0)
    with pytest.raises(ValueError, match=r"sum.*axis 2"):
        t.sum(axis=2)
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\).*\(2, 4\)"):
        mg.concatenate([t, mg.ones(2, 4)])
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\).*\(2, 4\)"):
        mg.stack([t, mg.ones(2, 4)])
    with pytest.raises(ValueError, match=r"equal.*\(2, 3\).*\(4,\)"):
        t == mg.ones(4)  # noqa: B015


def test_stack_and_concatenate_say_when_the_axis_is_out_of_range() -> None:
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"^stack: axis 5 is out of range for tensors with 2 dimensions "
                                         r"\(shapes \(2, 3\), \(2, 3\)\); the axis must be in -3\.\.2$"):
        mg.stack([x, x], axis=5)
    with pytest.raises(ValueError, match=r"^stack: axis -4 is out of range .* -3\.\.2$"):
        mg.stack([x, x], axis=-4)
    concatenate_message = (r"^concatenate: axis 3 is out of range for tensors with 2 dimensions "
                           r"\(shapes \(2, 3\), \(2, 3\)\); the axis must be in -2\.\.1$")
    with pytest.raises(ValueError, match=concatenate_message):
        mg.concatenate([x, x], axis=3)
    # The ends of the ranges are valid: stack has one more place for its new axis.
    assert mg.stack([x, x], axis=2).shape == (2, 3, 2) and mg.stack([x, x], axis=-3).shape == (2, 2, 3)
    assert mg.concatenate([x, x], axis=-2).shape == (4, 3)


def test_stack_and_concatenate_refuse_axes_that_are_not_integers() -> None:
    x = mg.ones(2, 3)
    with pytest.raises(TypeError, match="^stack: axis must be an integer, got 1.5$"):
        mg.stack([x, x], axis=1.5)
    with pytest.raises(TypeError, match="^concatenate: axis must be an integer, got 1.5$"):
        mg.concatenate([x, x], axis=1.5)
    # numpy flattens for axis=None; torch.cat has no such form, and the backward had no axis.
    with pytest.raises(TypeError, match="^concatenate: axis must be an integer, got None.*flatten"):
        mg.concatenate([x, x], axis=None)
    with pytest.raises(ValueError, match=r"^concatenate: 0-d tensors .*\(\), \(\).*mg.stack"):
        mg.concatenate([mg.tensor(1.0), mg.tensor(2.0)])


def test_where_errors_name_the_condition_shape_too() -> None:
    with pytest.raises(ValueError, match=r"^where: the condition of shape \(4,\) and the values of shapes "
                                         r"\(2, 3\) and \(\) cannot be broadcast together"):
        mg.where(np.ones(4, bool), mg.ones(2, 3), 0.0)


def test_index_out_of_range_names_the_shape() -> None:
    with pytest.raises(IndexError, match=r"getitem.*\(2, 3\)"):
        mg.ones(2, 3)[5]


def test_backward_on_non_scalar_without_grad() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"\(3,\)"):
        (x * 2).backward()


def test_module_level_functions_accept_tensors_and_arrays() -> None:
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    np.testing.assert_allclose(mg.exp(a).data, np.exp(a))
    np.testing.assert_allclose(mg.abs(Tensor(a)).data, np.abs(a))
    np.testing.assert_allclose(mg.sum(Tensor(a), axis=0).data, a.sum(axis=0))
    np.testing.assert_allclose(mg.matmul(Tensor(a), a).data, a @ a)
    assert mg.argmax(Tensor(a), axis=1).tolist() == [0, 0]
    np.testing.assert_allclose(mg.flatten(Tensor(a)).data, a.reshape(-1))


def test_python_scalars_promote_like_numpy_weak_scalars():
    mask = mg.tensor([True, False])
    assert (mask + 2).tolist() == [3, 2]  # arithmetic, not logical (bool + int counts in ints)
    assert (mask * 3).tolist() == [3, 0]
    assert (mg.tensor([1.0, 2.0]) * 2).dtype == np.float32  # a scalar never upcasts a float tensor
    assert (mg.tensor(np.float16([1.0])) * 2.5).dtype == np.float16


def test_a_python_number_too_big_for_the_dtype_is_a_clear_error():
    with pytest.raises(ValueError, match="300 does not fit in this tensor's dtype int8"):
        mg.tensor(np.int8([1])) + 300


def test_dtype_argument_is_validated_like_the_rest():
    with pytest.raises(TypeError, match="complex"):
        mg.tensor([1 + 2j], dtype=complex)
    with pytest.raises(TypeError, match="cannot make a tensor from <U1"):
        mg.tensor(["a"], dtype="U1")
    with pytest.raises(TypeError, match="cannot convert the data to dtype 'float32'"):
        mg.tensor(["a"], dtype="float32")


def test_axis_errors_name_the_op():
    with pytest.raises(ValueError, match="swapaxes: axis 5 is out of range"):
        mg.zeros(2, 3).swapaxes(0, 5)
    with pytest.raises(ValueError, match="argmax: axis 4 is out of range"):
        mg.zeros(2, 3).argmax(axis=4)


FLATTEN_DIMS = [(start, end) for start in range(-3, 3) for end in range(-3, 3) if start % 3 <= end % 3]


@pytest.mark.parametrize("start, end", FLATTEN_DIMS, ids=str)
def test_flatten_takes_the_dims_numpy_and_pytorch_take(start: int, end: int) -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    first, last = start % 3, end % 3
    expected = a.reshape(a.shape[:first] + (-1,) + a.shape[last + 1:])
    np.testing.assert_array_equal(Tensor(a).flatten(start, end).data, expected)


@pytest.mark.parametrize("start, end", FLATTEN_DIMS + [(0, 0), (-1, -1), (0, -1)], ids=str)
def test_flatten_shapes_match_torch(start: int, end: int) -> None:
    torch = pytest.importorskip("torch")
    expected = torch.ones(2, 3, 4).flatten(start, end).shape
    assert Tensor(np.ones((2, 3, 4))).flatten(start, end).shape == tuple(expected)
    if start in (0, -1) and end in (0, -1):  # the dims a 0-d tensor has in PyTorch
        assert Tensor(3.0).flatten(start, end).shape == tuple(torch.tensor(3.0).flatten(start, end).shape)


def test_flatten_refuses_dims_out_of_range_or_out_of_order():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"^flatten: start_dim 5 is out of range for a tensor with 2 "
                                         r"dimensions \(valid: -2 to 1\)"):
        x.flatten(5)
    with pytest.raises(ValueError, match="^flatten: end_dim -3 is out of range"):
        x.flatten(0, -3)
    with pytest.raises(ValueError, match=r"^flatten: start_dim 1 comes after end_dim 0 .* \(2, 3\)"):
        x.flatten(1, 0)
    with pytest.raises(TypeError, match="^flatten: start_dim must be one integer, got 1.0"):
        x.flatten(1.0)
    with pytest.raises(ValueError, match="^flatten: start_dim 1 is out of range for a tensor with 0 dim"):
        mg.tensor(3.0).flatten(1)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_takes_one_axis_as_numpy_does(name: str) -> None:
    a = np.random.default_rng(0).normal(size=(2, 3, 4))
    with pytest.raises(TypeError, match=rf"^{name}: axis must be one integer, got \(0, 1\)"):
        getattr(Tensor(a), name)(axis=(0, 1))
    with pytest.raises(TypeError):
        getattr(np, name)(a, axis=(0, 1))  # numpy refuses a tuple too (it used to mean axis 0 here)
    for axis in (None, 0, 1, -1, np.int64(2)):
        for keepdims in (False, True):
            np.testing.assert_array_equal(getattr(Tensor(a), name)(axis=axis, keepdims=keepdims).data,
                                          getattr(np, name)(a, axis=axis, keepdims=keepdims))
    assert getattr(Tensor(3.0), name)(axis=-1).tolist() == 0  # a 0-d tensor takes axis 0 or -1, as in PyTorch


def test_swapaxes_takes_one_integer_per_axis():
    with pytest.raises(TypeError, match=r"^swapaxes: axis must be one integer, got \(0, 1\)"):
        mg.ones(2, 3, 4).swapaxes((0, 1), 2)
    assert mg.tensor(3.0).swapaxes(0, -1).shape == ()


def test_arange_with_only_stop_and_step():
    assert mg.arange(10, step=2).tolist() == [0, 2, 4, 6, 8]


def test_errors_already_explained_by_a_primitive_are_not_prefixed_twice():
    with pytest.raises(ValueError) as info:
        mg.ones(3).clip()
    assert str(info.value) == "clip: give at least one of lo and hi"


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.filterwarnings("ignore:divide by zero")  # log(False) = log(0) = -inf, as in numpy
def test_unary_math_on_integer_tensors_gives_the_default_float_dtype(name: str, dtype: str, float64_default) -> None:
    """As in PyTorch: exp of an integer tensor is a float of the default dtype (numpy says float64)."""
    values = np.array([1, 2, 3], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    expected = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
                "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[name](values.astype(np.float64))
    mg.set_default_dtype("float32")
    out = getattr(mg, name)(mg.Tensor(values))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    mg.set_default_dtype("float64")
    assert getattr(mg.Tensor(values), name)().dtype == np.float64


@pytest.mark.parametrize("reduction", ["sum", "mean", "max", "min"])
def test_reductions_refuse_axes_that_are_not_integers(reduction: str) -> None:
    x = mg.randn(2, 3)
    for bad in (1.5, (0, "a"), [0.5]):
        with pytest.raises(TypeError, match=rf"^{reduction}: axis must be an integer or a tuple of integers"):
            getattr(x, reduction)(axis=bad)
    assert getattr(x, reduction)(axis=np.array(1)).shape == (2,)  # a 0-d integer array is an axis, as in numpy
    assert getattr(x, reduction)(axis=[0, -1]).shape == ()


def test_setitem_says_an_integer_tensor_cannot_hold_nan() -> None:
    t = mg.Tensor(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"^setitem: a tensor of dtype int64 cannot hold NaN or infinity"):
        t[0] = float("nan")


def test_an_array_beside_an_equal_nested_list_is_not_called_ragged() -> None:
    """Only a real raggedness is reported as one; otherwise the error that applies."""
    rows = [np.zeros((2, 2)), [[1, 2], [3, 4]]]
    assert mg.Tensor(rows).shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"cannot write a value of shape \(2, 2, 2\)"):
        mg.zeros((2, 2, 3))[:] = rows
    with pytest.raises(TypeError, match="cannot convert the data to dtype 'notadtype'"):
        mg.Tensor(rows, dtype="notadtype")
    with pytest.raises(ValueError, match=r"ragged: at depth 1 their items have shapes \(1,\) and \(2,\)"):
        mg.Tensor([[1, 2], [3]])


def test_non_real_python_numbers_are_refused_in_one_sentence() -> None:
    import decimal
    import fractions

    t = mg.Tensor([1.0, 2.0])
    assert (t * fractions.Fraction(1, 2)).tolist() == [0.5, 1.0]  # a Real: taken as a float
    for value in (1j, decimal.Decimal("1.5")):  # used to recurse until RecursionError
        with pytest.raises(TypeError, match="operand .* is not supported: minigrad tensors hold real numbers"):
            t * value
        with pytest.raises(TypeError, match="is not supported"):
            value + t
