"""The primitives: one small class per op, forward (numpy) and backward (Tensor ops) side by side.

A primitive's instance is a node of the graph. `forward` computes the output array from the input
arrays and saves what the backward needs; `backward(g)` maps the gradient of the output to the
gradients of the inputs with Tensor operations. The engine runs backward without recording, so
it costs what numpy costs, unless `create_graph=True`, when the same formula records a graph and
higher-order derivatives come for free.

Backward may return a gradient with the broadcast (output) shape; the engine folds it back to
the input's shape in one place (`engine.walk_backward`).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from minigrad import replay
from minigrad.engine import STATE, check_anomaly, next_sequence_number
from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["Function"]


class Function:
    """A node: which op, its inputs in argument order, its attributes and scope, its output."""

    __slots__ = (
        "__weakref__",
        "_output",
        "attrs",
        "freed",
        "grad",
        "inputs",
        "needs_input_grad",
        "saved",
        "scope",
        "seq",
    )
    op = "function"  # the op's name, as graphs and errors show it
    rule = ""  # the local derivative, for backward_steps and drawings
    saved_names: tuple[str, ...] = ()  # names of what `saved` holds, for drawings
    reads_inputs = True  # backward reads input or output values (False: only g and shapes)

    @classmethod
    def apply(cls, *inputs: Tensor, **attrs: Any) -> Tensor:
        # The hot path of the whole framework: every op of every step comes through here, so
        # it avoids generators and loops over inputs where one or two inputs are the rule.
        node = cls()  # (primitives define no __init__: this is the cheapest way to make one)
        node.attrs = attrs
        node.saved = None
        try:
            n_inputs = len(inputs)
            if n_inputs == 2:
                data = node.forward(inputs[0].data, inputs[1].data)
            elif n_inputs == 1:
                data = node.forward(inputs[0].data)
            elif n_inputs == 3:  # linear: x, W, b
                data = node.forward(inputs[0].data, inputs[1].data, inputs[2].data)
            else:
                data = node.forward(*[t.data for t in inputs])
        except (ValueError, IndexError, TypeError) as exc:
            raise type(exc)(node.explain_error(inputs, exc)) from None
        if type(data) is not np.ndarray:
            # ufuncs on 0-d arrays return numpy scalars; .data is an array (asanyarray: a traced
            # array, minigrad.replay's, stays traced)
            data = np.asanyarray(data)
        out = _wrap(data)
        if STATE.grad_enabled and data.dtype.kind == "f":  # integer and bool outputs have no gradient
            # Spelled out for one to three inputs: a comprehension costs as much as the rest of apply.
            if n_inputs == 2:
                needs = (inputs[0].requires_grad, inputs[1].requires_grad)
            elif n_inputs == 1:
                needs = (inputs[0].requires_grad,)
            elif n_inputs == 3:
                needs = (inputs[0].requires_grad, inputs[1].requires_grad, inputs[2].requires_grad)
            else:
                needs = tuple([t.requires_grad for t in inputs])
            if True in needs:  # some input is differentiable: link this node into the graph
                node.inputs = inputs
                node.needs_input_grad = needs
                node.scope = STATE.scope_name
                node.seq = _next_seq()  # creation order, a topological order of the graph
                node._output = _weakref(out)  # weak: the output holds its node, not the other way round
                node.freed = False
                node.grad = None
                out.requires_grad = True
                out.op = node
        if STATE.anomaly:
            node.inputs, node.scope = inputs, STATE.scope_name
            check_anomaly(node, data, "its output")
        return out

    def forward(self, *arrays: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    def explain_error(self, inputs: tuple[Tensor, ...], exc: Exception) -> str:
        if str(exc).startswith(f"{self.op}:"):  # the forward already explained itself
            return str(exc)
        shapes = " and ".join(str(t.shape) for t in inputs)
        if "broadcast" in str(exc):
            return f"{self.op}: shapes {shapes} cannot be broadcast together (numpy broadcasting rules)"
        return f"{self.op}: {exc} (input shapes {shapes})"

    @property
    def output(self) -> Tensor | None:
        """The tensor this node made (None once nothing holds it any more)."""
        return self._output()

    def free(self) -> None:
        """Drop what backward needed; a second backward through this node then raises."""
        self.freed = True
        self.saved = None

    def __rich__(self) -> Any:
        from minigrad.graph import node_table

        return node_table(self)

    def __repr__(self) -> str:
        out = self.output
        shape = out.shape if out is not None else "?"
        dtype = out.dtype if out is not None else "?"
        where = f" scope={self.scope!r}" if self.scope else ""
        attrs = "".join(f" {k}={v!r}" for k, v in self.attrs.items() if not k.startswith("_"))
        inputs = ", ".join(str(t.shape) for t in self.inputs)
        return f"<{self.op}{where}{attrs} ({inputs}) -> {shape} {dtype}>"


_wrap = Tensor._wrap
_weakref = weakref.ref
_next_seq = next_sequence_number  # shared with in-place writes (engine.note_write)
_add_reduce = np.add.reduce  # ndarray.sum without its Python-level wrapper
_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _blas_ones(n: int, dtype: np.dtype) -> np.ndarray | None:
    """A read-only vector of n ones to sum with BLAS (x·1), kept for the next call (batch sizes
    repeat every step); None where numpy's own sum is the choice (not float32/64, or n > 8192,
    which keeps the cache under 2 MiB)."""
    if dtype not in _BLAS_FLOATS or n > 8192:
        return None
    ones = _ONES.get((n, dtype))
    if ones is None:
        if len(_ONES) >= 32:  # many different sizes: start over rather than grow without bound
            _ONES.clear()
        ones = _ONES[(n, dtype)] = np.ones(n, dtype)
        ones.flags.writeable = False
    return ones


def _const(array: np.ndarray) -> Tensor:
    """A constant (no gradient) tensor for masks and saved values used in backward formulas."""
    return Tensor._wrap(array)


# ----- elementwise binary ops --------------------------------------------------------------

class Add(Function):
    op, rule = "add", "d/da = g, d/db = g"
    reads_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Function):
    op, rule = "sub", "d/da = g, d/db = -g"
    reads_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Function):
    op, rule = "mul", "d/da = g·b, d/db = g·a"

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    op, rule = "div", "d/da = g/b, d/db = -g·a/b²"

    def forward(self, a, b):
        out = a / b
        if a.dtype.kind in "iub" and b.dtype.kind in "iub":
            out = out.astype(get_default_dtype())  # int / int -> default float, as in PyTorch
        return out

    def backward(self, g):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    op, rule = "pow", "d/da = g·b·a^(b-1), d/db = g·a^b·log(a)"

    def forward(self, a, b):
        if a.dtype.kind in "iu" and b.dtype.kind in "iu" and np.any(b < 0):
            raise ValueError("pow: integer tensors raised to negative integer powers; use floats")
        return np.power(a, b)

    def backward(self, g):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        ga = None
        if need_a:
            # At b = 0 the slope is 0 (x^0 is flat), but b·a^(b−1) would be 0·inf = NaN at a = 0:
            # there alone, a is replaced by 1 so the product is a clean 0. (Elsewhere a stays, so
            # the second derivative in b, a^(b−1), is right at b = 0 too.)
            zero_power_of_zero = (b.data == 0) & (a.data == 0)
            base = where(_const(zero_power_of_zero), _const(np.ones((), a.dtype)), a) \
                if zero_power_of_zero.any() else a
            ga = g * b * base ** (b - 1)
        gb = None
        if need_b:
            # a = 0 contributes 0 (0^b is flat in b for b > 0), as PyTorch does; log of a
            # negative base is NaN, because a^b is not real there.
            safe_a = where(_const(a.data == 0), _const(np.ones((), a.dtype)), a)
            gb = g * self.output * safe_a.log()
        return ga, gb


class Maximum(Function):
    op, rule = "maximum", "g goes to the larger input; ties split it evenly"

    def forward(self, a, b):
        return np.maximum(a, b)

    def backward(self, g):
        return _pick_larger(self.inputs, g, np.greater)


class Minimum(Function):
    op, rule = "minimum", "g goes to the smaller input; ties split it evenly"

    def forward(self, a, b):
        return np.minimum(a, b)

    def backward(self, g):
        return _pick_larger(self.inputs, g, np.less)


def _pick_larger(inputs, g, better):
    a, b = inputs[0].data, inputs[1].data
    dtype = g.dtype
    wins_a = better(a, b).astype(dtype) + 0.5 * (a == b).astype(dtype)
    return g * _const(wins_a), g * _const(1 - wins_a)


class Where(Function):
    op, rule = "where", "d/da = g where cond, d/db = g elsewhere"

    def forward(self, a, b):
        return np.where(self.attrs["_condition"], a, b)

    def explain_error(self, inputs, exc):
        a, b = inputs
        return (f"where: the condition of shape {self.attrs['_condition'].shape} and the values of shapes "
                f"{a.shape} and {b.shape} cannot be broadcast together (numpy broadcasting rules)")

    def backward(self, g):
        cond = _const(self.attrs["_condition"])
        zero = _const(np.zeros((), g.dtype))
        need_a, need_b = self.needs_input_grad
        return (where(cond, g, zero) if need_a else None), (where(cond, zero, g) if need_b else None)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if condition else b` (numpy broadcasting); gradients flow to a and b."""
    cond = replay.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    return Where.apply(*_operands(a, b), _condition=cond)


# ----- elementwise unary ops ---------------------------------------------------------------

class Neg(Function):
    op, rule = "neg", "d/dx = -g"
    reads_inputs = False

    def forward(self, x):
        return -x

    def backward(self, g):
        return (-g,)


class Exp(Function):
    op, rule = "exp", "d/dx = g·exp(x)"

    def forward(self, x):
        return np.exp(x)

    def backward(self, g):
        return (g * self.output,)


class Log(Function):
    op, rule = "log", "d/dx = g/x"

    def forward(self, x):
        return np.log(x)

    def backward(self, g):
        return (g / self.inputs[0],)


class Sqrt(Function):
    op, rule = "sqrt", "d/dx = g/(2·sqrt(x))"

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, g):
        return (g / (2 * self.output),)


class Abs(Function):
    op, rule = "abs", "d/dx = g·sign(x)"

    def forward(self, x):
        return np.abs(x)

    def backward(self, g):
        return (g * _const(np.sign(self.inputs[0].data)),)


class Tanh(Function):
    op, rule = "tanh", "d/dx = g·(1 - tanh(x)²)"

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g):
        out = self.output
        return (g * (1 - out * out),)


class Sigmoid(Function):
    op, rule = "sigmoid", "d/dx = g·s·(1 - s), s = sigmoid(x)"

    def forward(self, x):
        # exp(-|x|) never overflows: sigmoid(x) = 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1, e) / (1 + e)

    def backward(self, g):
        s = self.output
        return (g * s * (1 - s),)


class Relu(Function):
    op, rule = "relu", "d/dx = g·(x > 0)"

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, g):
        return (g * _const(self.inputs[0].data > 0),)  # float * bool stays float


class Clip(Function):
    op, rule = "clip", "d/dx = g·(lo <= x <= hi)"

    def forward(self, x):
        lo, hi = self.attrs["lo"], self.attrs["hi"]
        if lo is None and hi is None:
            raise ValueError("clip: give at least one of lo and hi")
        return np.clip(x, lo, hi)

    def backward(self, g):
        x = self.inputs[0].data
        lo, hi = self.attrs["lo"], self.attrs["hi"]
        # masks made from x itself (not written into np.ones): a traced x (minigrad.replay) sees them
        if lo is None:
            inside = x <= hi
        else:
            inside = x >= lo
            if hi is not None:
                inside &= x <= hi
        return (g * _const(inside.astype(g.dtype)),)


class Cast(Function):
    op, rule = "cast", "d/dx = g (in x's dtype)"
    reads_inputs = False

    def forward(self, x):
        return x.astype(self.attrs["dtype"])

    def backward(self, g):
        return (g.astype(self.inputs[0].dtype),)


# ----- matrix product ----------------------------------------------------------------------

class MatMul(Function):
    op, rule = "matmul", "d/dA = g·Bᵀ, d/dB = Aᵀ·g"

    def forward(self, a, b):
        if self.attrs:  # transpose_a / transpose_b: only matmul's own backward sets them (2-d)
            if self.attrs.get("transpose_a"):
                a = a.T
            if self.attrs.get("transpose_b"):
                b = b.T
        return np.matmul(a, b)

    def explain_error(self, inputs, exc):
        a, b = inputs
        if a.ndim == 0 or b.ndim == 0:
            return f"matmul: needs tensors with at least 1 dimension, got shapes {a.shape} and {b.shape}"
        k_a = a.shape[-1]
        k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if k_a != k_b:
            return f"matmul: shapes {a.shape} and {b.shape} do not align ({k_a} != {k_b})"
        return f"matmul: shapes {a.shape} and {b.shape} have batch dimensions that cannot be broadcast"

    def backward(self, g):
        a, b = self.inputs
        need_a, need_b = self.needs_input_grad
        if a.data.ndim == 2 and b.data.ndim == 2:
            # The common case, and every step's: out = A·B with A = aᵀ if transpose_a (B likewise).
            # dA = g·Bᵀ and dB = Aᵀ·g, written as matmuls with transposed operands so that no
            # transpose op (and no copy) is made; the four flag cases close over each other.
            ta, tb = self.attrs.get("transpose_a", False), self.attrs.get("transpose_b", False)
            ga = gb = None
            if need_a:
                ga = _matmul(b, g, tb, True) if ta else _matmul(g, b, False, not tb)
            if need_b:
                gb = _matmul(g, a, True, ta) if tb else _matmul(a, g, not ta, False)
            return ga, gb
        # Treat 1-d operands as matrices (a row, b a column), as numpy's matmul defines them.
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        # g lacks the dims numpy dropped: b's column (last) first, then a's row (second to last),
        # so 1-d @ 1-d gets g as a 1x1 matrix.
        g2 = g.reshape(g.shape + (1,)) if b.ndim == 1 else g
        if a.ndim == 1:
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:])
        ga = gb = None
        if need_a:
            ga = g2 @ b2.swapaxes(-1, -2)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if need_b:
            gb = a2.swapaxes(-1, -2) @ g2
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb


class Linear(Function):
    """x·W + b, a dense layer's affine map as one node (PyTorch's F.linear, its addmm)."""

    op, rule = "linear", "d/dx = g·Wᵀ, d/dW = xᵀ·g, d/db = g summed over rows"

    def forward(self, x, w, b):
        out = np.matmul(x, w)
        if b.ndim <= out.ndim and (out.dtype is b.dtype or out.dtype == np.result_type(out, b)):
            out += b  # into matmul's fresh result (b cannot widen it): no second (N, units) array
            return out
        return out + b

    def explain_error(self, inputs, exc):
        x, w, b = inputs
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[0]:
            return f"linear: inputs of shape {x.shape} do not fit a kernel of shape {w.shape}"
        return f"linear: a bias of shape {b.shape} does not fit outputs of shape {x.shape[:-1] + w.shape[1:]}"

    def backward(self, g):
        x, w, _ = self.inputs
        need_x, need_w, need_b = self.needs_input_grad
        if x.data.ndim == 2:  # every step's case: a batch of rows
            gx = _matmul(g, w, False, True) if need_x else None
            gw = _matmul(x, g, True, False) if need_w else None
        else:  # one row, or more batch axes: as rows, then back
            rows, g_rows = x.reshape(-1, x.shape[-1]), g.reshape(-1, g.shape[-1])
            gx = _matmul(g_rows, w, False, True).reshape(x.shape) if need_x else None
            gw = _matmul(rows, g_rows, True, False) if need_w else None
        return gx, gw, (g if need_b else None)  # the engine sums g over the rows to b's shape


def _matmul(a: Tensor, b: Tensor, transpose_a: bool, transpose_b: bool) -> Tensor:
    """(aᵀ if transpose_a else a) @ (bᵀ if transpose_b else b), for 2-d a and b."""
    if transpose_a:
        return MatMul.apply(a, b, transpose_a=True, transpose_b=True) if transpose_b else \
            MatMul.apply(a, b, transpose_a=True)
    return MatMul.apply(a, b, transpose_b=True) if transpose_b else MatMul.apply(a, b)


# ----- reductions --------------------------------------------------------------------------

def _keepdims_shape(shape, axis):
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


class Sum(Function):
    op, rule = "sum", "d/dx = g broadcast back to x's shape"
    reads_inputs = False

    def forward(self, x):
        # ndarray methods, not np.sum & co.: their Python wrappers cost more than a small sum
        return x.sum(axis=self.attrs["axis"], keepdims=self.attrs["keepdims"])

    def backward(self, g):
        x = self.inputs[0]
        return (g.reshape(_keepdims_shape(x.shape, self.attrs["axis"])).broadcast_to(x.shape),)


class Mean(Function):
    op, rule = "mean", "d/dx = g/n broadcast back to x's shape"
    reads_inputs = False

    def forward(self, x):
        axis = self.attrs["axis"]
        if x.size == 0:
            raise ValueError(f"mean: the tensor of shape {x.shape} is empty")
        if x.dtype.kind in "iub":
            x = x.astype(get_default_dtype())
        # sum * (1/n) rather than np.mean, whose Python wrapper costs 4x more on small arrays
        count = x.size if axis is None else math.prod(x.shape[i] for i in axis)
        total = x.sum(axis=axis, keepdims=self.attrs["keepdims"])
        return np.asanyarray(total * np.asarray(1.0 / count, dtype=total.dtype))

    def backward(self, g):
        x = self.inputs[0]
        axis = self.attrs["axis"]
        count = x.size if axis is None else math.prod(x.shape[i] for i in axis)
        g = g.reshape(_keepdims_shape(x.shape, axis)) * (1.0 / count)
        return (g.broadcast_to(x.shape),)


class Max(Function):
    op, rule = "max", "g goes to the largest element(s); ties split it evenly"
    pick = staticmethod(np.ndarray.max)

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.op}: the tensor of shape {x.shape} is empty")
        return self.pick(x, axis=self.attrs["axis"], keepdims=self.attrs["keepdims"])

    def backward(self, g):
        x = self.inputs[0]
        keep = _keepdims_shape(x.shape, self.attrs["axis"])
        out = self.output.data.reshape(keep)
        winners = (x.data == out).astype(g.dtype)
        winners /= winners.sum(axis=self.attrs["axis"], keepdims=True)
        return (g.reshape(keep) * _const(winners),)


class Min(Max):
    op, rule = "min", "g goes to the smallest element(s); ties split it evenly"
    pick = staticmethod(np.ndarray.min)


# ----- shape ops ---------------------------------------------------------------------------

class Reshape(Function):
    op, rule = "reshape", "d/dx = g reshaped to x's shape"
    reads_inputs = False

    def forward(self, x):
        return x.reshape(self.attrs["shape"])

    def explain_error(self, inputs, exc):
        return (f"reshape: cannot reshape a tensor of shape {inputs[0].shape} ({inputs[0].size} elements) "
                f"into shape {self.attrs['shape']}")

    def backward(self, g):
        return (g.reshape(self.inputs[0].shape),)


class Transpose(Function):
    op, rule = "transpose", "d/dx = g with the axes permuted back"
    reads_inputs = False

    def forward(self, x):
        return x.transpose(self.attrs["axes"])

    def explain_error(self, inputs, exc):
        return f"transpose: axes {self.attrs['axes']} are not a permutation of the {inputs[0].ndim} axes of {inputs[0].shape}"

    def backward(self, g):
        return (g.transpose(tuple(np.argsort(self.attrs["axes"]))),)


class BroadcastTo(Function):
    op, rule = "broadcast_to", "d/dx = g summed over the broadcast axes"
    reads_inputs = False

    def forward(self, x):
        # A filled array rather than np.broadcast_to's read-only view: 5x cheaper to make for
        # the small shapes of a training step, and safe for consumers that write in place.
        # empty_like, not empty: numpy tells a traced x (minigrad.replay) about the new array.
        out = np.empty_like(x, shape=self.attrs["shape"], order="C")
        np.copyto(out, x)
        return out

    def explain_error(self, inputs, exc):
        return f"broadcast_to: cannot broadcast shape {inputs[0].shape} to {self.attrs['shape']}"

    def backward(self, g):
        return (g,)  # the engine sums g back to x's shape


def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """x summed over the axes that broadcasting added or stretched, so it has `shape` again."""
    lead = x.ndim - len(shape)
    if lead == 1 and x.shape[1:] == shape:  # every step's case, a bias: sum the batch axis away
        ones = _blas_ones(x.shape[0], x.dtype) if x.ndim == 2 else None
        # As ones·x: BLAS' matrix-vector product is 2-3x faster than numpy's axis-0
        # reduction on a (128, 25) gradient, and no less accurate.
        return _add_reduce(x, 0) if ones is None else ones @ x
    if lead >= 0 and x.shape[lead:] == shape:  # sum leading axes away
        return x.sum(axis=tuple(range(lead))) if lead else x.copy()
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, x.shape[lead:])):
        raise ValueError(f"shape {x.shape} does not broadcast from {shape}")
    kept = tuple(i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1)
    return x.sum(axis=tuple(range(lead)) + kept, keepdims=True).reshape(shape)


class SumTo(Function):
    op, rule = "sum_to", "d/dx = g broadcast back to x's shape"
    reads_inputs = False

    def forward(self, x):
        return sum_to(x, self.attrs["shape"])

    def explain_error(self, inputs, exc):
        return f"sum_to: cannot sum a gradient of shape {inputs[0].shape} down to shape {self.attrs['shape']}"

    def backward(self, g):
        return (g.broadcast_to(self.inputs[0].shape),)


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    op, rule = "getitem", "d/dx = zeros with g scatter-added at the index"
    reads_inputs = False

    def forward(self, x):
        return np.asanyarray(x[self.attrs["index"]])

    def explain_error(self, inputs, exc):
        return f"getitem: index {self.attrs['index']!r} does not fit a tensor of shape {inputs[0].shape}: {exc}"

    def backward(self, g):
        x = self.inputs[0]
        return (ScatterAdd.apply(g, shape=x.shape, index=self.attrs["index"]),)


class ScatterAdd(Function):
    op, rule = "scatter_add", "d/dg = g indexed the same way"
    reads_inputs = False

    def forward(self, g):
        # zeros_like, not zeros: numpy tells a traced g (minigrad.replay) about the new array
        out = np.zeros_like(g, shape=self.attrs["shape"], order="C")
        index = self.attrs["index"]
        if _is_basic_index(index):
            out[index] = g  # basic indexing never repeats an element
        else:
            np.add.at(out, index, g)  # integer arrays may repeat: every use adds
        return out

    def backward(self, g):
        return (g[self.attrs["index"]],)


class Concatenate(Function):
    op, rule = "concatenate", "each input gets its slice of g"
    reads_inputs = False

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.attrs["axis"])

    def explain_error(self, inputs, exc):
        shapes = ", ".join(str(t.shape) for t in inputs)
        if any(t.ndim == 0 for t in inputs):
            return f"concatenate: 0-d tensors have no axis to join along (shapes {shapes}); use mg.stack"
        return _axis_error("concatenate", inputs, self.attrs["axis"], 0, exc) or \
            f"concatenate: shapes {shapes} must match except along axis {self.attrs['axis']}"

    def backward(self, g):
        axis = self.attrs["axis"] % g.ndim
        grads, start = [], 0
        for t, need in zip(self.inputs, self.needs_input_grad):
            stop = start + t.shape[axis]
            index = (slice(None),) * axis + (slice(start, stop),)
            grads.append(g[index] if need else None)
            start = stop
        return tuple(grads)


class Stack(Function):
    op, rule = "stack", "each input gets its slice of g"
    reads_inputs = False

    def forward(self, *xs):
        return np.stack(xs, axis=self.attrs["axis"])

    def explain_error(self, inputs, exc):
        shapes = ", ".join(str(t.shape) for t in inputs)
        # The new axis can go anywhere from before the first dimension to after the last: one more.
        return _axis_error("stack", inputs, self.attrs["axis"], 1, exc) or \
            f"stack: all inputs need the same shape, got {shapes}"

    def backward(self, g):
        axis = self.attrs["axis"] % g.ndim
        return tuple(g[(slice(None),) * axis + (i,)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


def _axis_error(op: str, inputs: tuple[Tensor, ...], axis: Any, extra: int, exc: Exception) -> str | None:
    """concatenate's and stack's message for a bad axis (numpy checks it before the shapes), else None.

    `extra` is how many more places the axis can take than the inputs have dimensions.
    """
    if isinstance(exc, TypeError):
        return f"{op}: axis must be an integer, got {axis!r}"
    if isinstance(exc, np.exceptions.AxisError):
        ndim = inputs[0].ndim
        shapes = ", ".join(str(t.shape) for t in inputs)
        return (f"{op}: axis {axis} is out of range for tensors with {ndim} dimensions (shapes {shapes}); "
                f"the axis must be in {-ndim - extra}..{ndim + extra - 1}")
    return None


def concatenate(tensors: list[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    if axis is None:  # numpy would flatten the inputs first; torch.cat has no such form
        raise TypeError("concatenate: axis must be an integer, got None; to join flattened tensors, "
                        "flatten them first: mg.concatenate([t.flatten() for t in tensors])")
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: list[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both sides as Tensors; a Python scalar on either side is weak, as in the operators."""
    if isinstance(a, Tensor):
        return (a, b) if isinstance(b, Tensor) else a._scalar_pair(b)
    if isinstance(b, Tensor):
        b, a = b._scalar_pair(a)
        return a, b
    return Tensor(a)._scalar_pair(b)  # Python floats and lists of floats: the default dtype


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger of a and b (ties split the gradient)."""
    return Maximum.apply(*_operands(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller of a and b (ties split the gradient)."""
    return Minimum.apply(*_operands(a, b))
