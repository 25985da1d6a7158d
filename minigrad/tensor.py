"""The Tensor: a numpy array plus what autodiff needs (requires_grad, .grad, the node that made it)."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Iterator
from typing import Any

import numpy as np

from minigrad import engine, replay
from minigrad.engine import STATE

__all__ = ["Tensor", "get_default_dtype", "set_default_dtype", "tensor"]

_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype: Any) -> None:
    """Dtype for Python floats and lists of floats: "float32" (the default) or "float64"."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"set_default_dtype: expected float16, float32 or float64, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats become."""
    return _default_dtype


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            array = replay.asarray(data, dtype=dtype)  # a traced array (minigrad.replay) stays traced
        except (TypeError, ValueError) as exc:
            ragged = _ragged(data)  # a shape problem, whatever the dtype
            if ragged:
                raise ValueError(f"Tensor: {ragged}") from None
            raise TypeError(f"Tensor: cannot convert the data to dtype {dtype!r} ({exc})") from None
    elif isinstance(data, np.ndarray):
        array = data
    elif isinstance(data, np.generic):
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)  # Python scalars and nested lists
        except ValueError as exc:
            raise ValueError(f"Tensor: {_ragged(data) or exc}") from None
        if array.dtype == np.float64:
            array = array.astype(_default_dtype)
    if array.dtype.kind == "O":
        raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} data (object array)")
    if array.dtype.kind == "c":
        raise TypeError("Tensor: complex numbers are not supported")
    if array.dtype.kind not in "biuf":  # strings, dates, raw bytes: numpy accepts them, autodiff cannot
        kind = array.dtype
        raise TypeError(f"Tensor: cannot make a tensor from {kind} data; give bool, int or float values")
    return array


def _ragged(data: Any) -> str | None:
    """Where nested lists fail to make an n-d array (items of different lengths at some depth), or None.

    Arrays among the lists count by their shape, row by row, so [np.zeros((2, 2)), [[1, 2], [3, 4]]]
    is regular; one stand-in `_Rows(shape)` takes the place of an array's rows at the next depth.
    """
    items, depth = [data], 0
    while items:
        shapes = {_leading(x) for x in items}
        if len(shapes) > 1:
            listed = " and ".join(str(shape) for shape in sorted(shapes))
            return (f"the nested lists are ragged: at depth {depth} their items have shapes {listed}, "
                    "so they do not make an n-d array; give every row the same length")
        deeper: list[Any] = []
        for x in items:
            if isinstance(x, (list, tuple)):
                deeper.extend(x)
            else:
                shape = x.shape if isinstance(x, _Rows) else np.shape(x)
                if shape:
                    deeper.append(_Rows(shape[1:]))
        items, depth = deeper, depth + 1
    return None


class _Rows:
    """The rows of an array, by shape, while `_ragged` walks nested lists."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape


def _leading(x: Any) -> tuple[int, ...]:
    if isinstance(x, (list, tuple)):
        return (len(x),)
    return (x.shape if isinstance(x, _Rows) else np.shape(x))[:1]


class Tensor:
    """An n-d array that records how it was made, so gradients can flow back through it."""

    # _logits: ("softmax" | "sigmoid", the logits Tensor) when this tensor is a softmax/sigmoid
    # output, else None; set even under no_grad, so losses can recover the logits in evaluate().
    __slots__ = ("__weakref__", "_logits", "data", "grad", "name", "op", "requires_grad")
    __array_priority__ = 1000  # numpy defers `ndarray + Tensor` to Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data: np.ndarray = _to_array(data, dtype)
        self.grad: Tensor | None = None
        self.op = None
        self.name = name
        self._logits = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray, requires_grad: bool = False) -> Tensor:
        """Fast constructor for ops: `data` is already an ndarray of the right dtype."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.op = None
        t.name = None
        t._logits = None
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark this leaf as a variable to differentiate with respect to."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad=True needs a float tensor, but this one is {self.data.dtype}: "
                "only floating point values have gradients. Pass dtype='float32' (or convert with "
                ".astype('float32')) to differentiate with respect to it."
            )
        if self.op is not None and not requires_grad:
            raise RuntimeError("requires_grad_: only leaves can stop requiring grad; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    # ----- attributes ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors convert to a Python number, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same values as a new leaf that is cut off from the graph."""
        return Tensor._wrap(self.data)

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to `dtype` (differentiable between float dtypes)."""
        from minigrad import primitives

        return primitives.Cast.apply(self, dtype=np.dtype(dtype))

    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d self / d leaf into each leaf's `.grad` (reverse-mode autodiff)."""
        engine.backward(self, grad, retain_graph, create_graph)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.data.dtype}")
        return int(self.item())

    __hash__ = object.__hash__  # tensors are identities (usable as dict keys), like PyTorch's

    def __repr__(self) -> str:
        from minigrad.graph import summarize

        extras = []
        if self.name:
            extras.append(f"name={self.name!r}")
        if self.op is not None:
            extras.append(f"op={self.op.op}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.data.size <= 12:
            body = np.array2string(self.data, precision=4, separator=", ", suppress_small=True)
            body = body.replace("\n", "\n       ")
        else:
            body = summarize(self.data)
        tail = (", " + ", ".join(extras)) if extras else ""
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}{tail})"

    def __rich__(self) -> Any:
        from minigrad.graph import tensor_table

        return tensor_table(self)

    # ----- operators ----------------------------------------------------------------------
    def _scalar_pair(self, other: Any) -> tuple[Tensor, Tensor]:
        """This tensor and the other side of a binary op (not a Tensor), both as Tensors.

        A Python scalar is "weak", as in numpy: float32 * 2.0 stays float32 and bool + 2 counts in
        integers; the scalar never upcasts a float tensor. A Python float meeting an integer or
        bool tensor gives the default float dtype, as in PyTorch, where numpy would give float64:
        the tensor is converted too (it has no gradient to lose, only float tensors do).
        """
        kind = type(other)
        if kind is float or kind is int or kind is bool:
            tensor, dtype = self, self.data.dtype
            if dtype.kind != "f":  # a float tensor keeps its dtype: this is the rare path
                if kind is float:
                    dtype = _default_dtype
                    tensor = Tensor._wrap(self.data.astype(dtype))
                else:
                    dtype = np.result_type(dtype, other)
            try:
                return tensor, Tensor._wrap(np.array(other, dtype=dtype))
            except OverflowError:
                raise ValueError(f"the Python number {other} does not fit in this tensor's dtype {dtype}; "
                                 f"convert the tensor first, e.g. t.astype('int64')") from None
        if isinstance(other, numbers.Number) and not isinstance(other, np.generic):
            if not isinstance(other, numbers.Real):  # complex: converting it again would recurse forever
                raise TypeError(f"a {type(other).__name__} operand ({other!r}) is not supported: minigrad "
                                "tensors hold real numbers")
            return self._scalar_pair(float(other))  # Fraction, Decimal-like reals: as a Python float
        return self, Tensor(other)

    # A Tensor on the other side goes straight to the primitive (every training step's case);
    # anything else is converted by _scalar_pair, which returns (self, other) in that order.
    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.Add.apply(self, other)
        return P.Add.apply(*self._scalar_pair(other))

    def __radd__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.Add.apply(other, tensor)

    def __sub__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.Sub.apply(self, other)
        return P.Sub.apply(*self._scalar_pair(other))

    def __rsub__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.Sub.apply(other, tensor)

    def __mul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.Mul.apply(self, other)
        return P.Mul.apply(*self._scalar_pair(other))

    def __rmul__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.Mul.apply(other, tensor)

    def __truediv__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.Div.apply(self, other)
        return P.Div.apply(*self._scalar_pair(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.Div.apply(other, tensor)

    def __pow__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.Pow.apply(self, other)
        return P.Pow.apply(*self._scalar_pair(other))

    def __rpow__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.Pow.apply(other, tensor)

    def __matmul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return P.MatMul.apply(self, other)
        return P.MatMul.apply(*self._scalar_pair(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        tensor, other = self._scalar_pair(other)
        return P.MatMul.apply(other, tensor)

    def __neg__(self) -> Tensor:
        return P.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Tensor:
        return P.GetItem.apply(self, index=_plain_index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        if self.requires_grad and STATE.grad_enabled:
            raise RuntimeError(
                "setitem: writing into a tensor that requires grad would corrupt its gradient; "
                "do it inside `with mg.no_grad():` or build a new tensor with mg.where"
            )
        index = _plain_index(index)
        value = value.data if isinstance(value, Tensor) else value
        try:
            self.data[index] = value
        except (ValueError, TypeError, IndexError, OverflowError) as exc:
            raise _setitem_error(self.data, index, value, exc) from None
        engine.note_write(self.data)  # a graph that read these values before must not backward through them

    # Comparisons make boolean tensors and never carry gradient.
    def _compare(self, other: Any, ufunc: np.ufunc) -> Tensor:
        other_data = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._wrap(np.asarray(ufunc(self.data, other_data)))
        except ValueError:
            other_shape = other.shape if isinstance(other, Tensor) else np.shape(other)
            raise ValueError(
                f"{ufunc.__name__}: shapes {self.shape} and {tuple(other_shape)} cannot be broadcast together"
            ) from None

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, np.greater_equal)

    # ----- math ---------------------------------------------------------------------------
    def _floating(self) -> Tensor:
        """self, or for an integer/bool tensor its values in the default float dtype: exp, log and the
        like of integers are floats of the default dtype, as in PyTorch (numpy would give float64)."""
        if self.data.dtype.kind in "fc":
            return self
        return Tensor._wrap(self.data.astype(get_default_dtype()))

    def exp(self) -> Tensor:
        return P.Exp.apply(self._floating())

    def log(self) -> Tensor:
        return P.Log.apply(self._floating())

    def sqrt(self) -> Tensor:
        return P.Sqrt.apply(self._floating())

    def abs(self) -> Tensor:
        return P.Abs.apply(self)

    def tanh(self) -> Tensor:
        return P.Tanh.apply(self._floating())

    def sigmoid(self) -> Tensor:
        out = P.Sigmoid.apply(self._floating())
        out._logits = ("sigmoid", self)  # so losses recover the logits, even under no_grad
        return out

    def relu(self) -> Tensor:
        return P.Relu.apply(self)

    def clip(self, lo: float | None = None, hi: float | None = None) -> Tensor:
        """Values limited to [lo, hi]; the gradient passes where lo <= x <= hi."""
        if self.data.dtype.kind != "f" and (type(lo) is float or type(hi) is float):
            # Python float bounds make an integer tensor the default float dtype (as a binary op
            # does, and PyTorch's clamp), not numpy's float64.
            return P.Clip.apply(Tensor._wrap(self.data.astype(_default_dtype)), lo=lo, hi=hi)
        return P.Clip.apply(self, lo=lo, hi=hi)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return P.Sum.apply(self, axis=_axes(axis, self.ndim, "sum"), keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return P.Mean.apply(self, axis=_axes(axis, self.ndim, "mean"), keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return P.Max.apply(self, axis=_axes(axis, self.ndim, "max"), keepdims=keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return P.Min.apply(self, axis=_axes(axis, self.ndim, "min"), keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the largest value along one axis, or in the flattened tensor (no gradient)."""
        return self._index_of(np.argmax, "argmax", axis, keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the smallest value along one axis, or in the flattened tensor (no gradient)."""
        return self._index_of(np.argmin, "argmin", axis, keepdims)

    def _index_of(self, pick: Any, op: str, axis: Any, keepdims: bool) -> Tensor:
        if axis is not None:
            axis = _axis(axis, self.ndim, op)  # one int, as numpy and PyTorch take: a tuple is a TypeError
            if self.ndim == 0:
                axis = None  # PyTorch's 0-d case: the one element's index, 0
        return Tensor._wrap(np.asarray(pick(self.data, axis=axis, keepdims=keepdims)))

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return P.Reshape.apply(self, shape=tuple(int(s) for s in shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dimensions start_dim..end_dim into one (all of them by default)."""
        start = _axis(start_dim, self.ndim, "flatten", "start_dim")
        end = _axis(end_dim, self.ndim, "flatten", "end_dim")
        if start > end:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} in a tensor of "
                             f"shape {self.shape}; give start_dim <= end_dim")
        if self.ndim == 0:
            return self.reshape(1)
        shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return self.reshape(shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes (numpy-style, negative ones count from the end); none reverses them, like `.T`."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes or axes == (None,):  # numpy's a.transpose(None) reverses too
            return P.Transpose.apply(self, axes=tuple(range(self.ndim))[::-1])
        # Normalised here, where the axes enter: the backward inverts the permutation with argsort,
        # which is only right for non-negative axes.
        return P.Transpose.apply(self, axes=_permutation(axes, self.shape))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """The two axes exchanged."""
        first, second = _axis(axis1, self.ndim, "swapaxes"), _axis(axis2, self.ndim, "swapaxes")
        if self.ndim == 0:  # PyTorch's 0-d case: axis 0 or -1, nothing to swap
            return P.Transpose.apply(self, axes=())
        axes = list(range(self.ndim))
        axes[first], axes[second] = axes[second], axes[first]
        return P.Transpose.apply(self, axes=tuple(axes))

    def broadcast_to(self, shape: tuple[int, ...]) -> Tensor:
        return P.BroadcastTo.apply(self, shape=tuple(shape))

    def softmax(self, axis: int = -1) -> Tensor:
        from minigrad import functional

        return functional.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        from minigrad import functional

        return functional.log_softmax(self, axis=axis)


def _axes(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """Normalise an axis argument to a sorted tuple of non-negative ints (None = all)."""
    if axis is None:
        return None
    try:
        axes = (operator.index(axis),)
    except TypeError:
        try:
            axes = tuple(operator.index(a) for a in axis)
        except TypeError:
            raise TypeError(f"{op}: axis must be an integer or a tuple of integers, got {axis!r}") from None
    if ndim == 0:
        # PyTorch accepts axis 0 or -1 on a 0-d tensor (and reduces nothing); numpy would raise.
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"{op}: axis {axis} is out of range for a 0-d tensor (only 0 or -1)")
        return ()
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))


def _axis(axis: Any, ndim: int, op: str, name: str = "axis") -> int:
    """One axis as a non-negative int; a 0-d tensor takes 0 or -1, as in PyTorch."""
    try:
        index = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: {name} must be one integer, got {axis!r}") from None
    bound = max(ndim, 1)
    if not -bound <= index < bound:
        raise ValueError(f"{op}: {name} {index} is out of range for a tensor with {ndim} dimensions "
                         f"(valid: {-bound} to {bound - 1})")
    return index % bound


def _permutation(axes: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """`axes` as non-negative ints, checked to be a permutation of the axes of `shape`."""
    ndim = len(shape)
    try:
        perm = tuple(operator.index(a) for a in axes)
    except TypeError:
        message = f"transpose: axes must be integers, got {axes} for a tensor of shape {shape}"
        raise TypeError(message) from None
    if len(perm) != ndim:
        problem = f"give {ndim} axes, one per dimension, not {len(perm)}"
    elif not all(-ndim <= a < ndim for a in perm):
        problem = f"each axis must be in {-ndim}..{ndim - 1}"
    else:
        normalised = tuple(a % ndim for a in perm)
        if len(set(normalised)) == ndim:
            return normalised
        problem = "an axis is repeated"
    raise ValueError(f"transpose: axes {perm} are not a permutation of the axes of a tensor of shape {shape} "
                     f"({problem})")


def _setitem_error(target: np.ndarray, index: Any, value: Any, exc: Exception) -> Exception:
    """The error for a failed `t[index] = value`, with the op and the shapes numpy's message lacks."""
    if isinstance(exc, IndexError):
        return IndexError(f"setitem: index {index!r} does not fit a tensor of shape {target.shape}: {exc}")
    if isinstance(exc, OverflowError):
        return ValueError(f"setitem: {value} does not fit in this tensor's dtype {target.dtype}")
    ragged = _ragged(value)
    if ragged:
        return ValueError(f"setitem: {ragged}")
    values = np.asarray(value)
    if target.dtype.kind in "iub" and values.dtype.kind == "f" and not np.isfinite(values).all():
        return ValueError(f"setitem: a tensor of dtype {target.dtype} cannot hold NaN or infinity; "
                          "convert it to a float dtype first (t = t.astype('float32'))")
    if values.dtype.kind not in "biuf":  # strings, objects, complex numbers: not the shape
        return TypeError(f"setitem: cannot write this {type(value).__name__} into a tensor of dtype "
                         f"{target.dtype} ({exc})")
    selected = target[index].shape
    return ValueError(f"setitem: cannot write a value of shape {np.shape(value)} into a selection of "
                      f"shape {selected} of a tensor of shape {target.shape}; the value must broadcast to "
                      f"{selected}")


def _plain_index(index: Any) -> Any:
    """Indices may hold Tensors (integer arrays, boolean masks); numpy wants arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """Make a Tensor (same as `Tensor(...)`)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


from minigrad import primitives as P
