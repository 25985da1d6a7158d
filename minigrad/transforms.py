"""Function transforms in JAX's style: `grad`, `jacobian`, and `gradcheck` against finite differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.engine import STATE, enable_grad, gradients, no_grad, topological_order
from minigrad.primitives import stack
from minigrad.tensor import Tensor, get_default_dtype

__all__ = ["GradcheckError", "grad", "gradcheck", "jacobian"]


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with central finite differences."""


def _variable(x: Any) -> Tensor:
    """A tensor we can differentiate with respect to, still connected to any outer graph.

    Inside `grad(grad(f))` the outer transform's variable reaches the inner one; the inner one
    must stay differentiable with respect to it, so it is passed through an identity op rather
    than detached.
    """
    t = x if isinstance(x, Tensor) else Tensor(x)
    if t.dtype.kind != "f":
        t = Tensor._wrap(t.data.astype(get_default_dtype()))  # integer points: differentiate in floats
    if t.requires_grad and STATE.grad_enabled:
        return t + 0
    return Tensor._wrap(t.data, requires_grad=True)


def _records_gradient(root: Tensor, variables: list[Tensor]) -> bool:
    """Whether d root / d variables must be recorded as a graph (create_graph).

    It must when recording is on and the graph reaches a tensor that requires grad besides the
    variables: the outer variable of `grad(lambda x: grad(f, argnums=1)(x, y))`, a closure's
    parameters, or an outer graph the variables come from. The gradient is a function of those
    tensors, and an outer grad or backward() has to go through it (mixed second derivatives,
    gradient penalties); without the graph it would see a constant and silently give 0.
    """
    if not STATE.grad_enabled:
        return False
    own = {id(v) for v in variables}
    return any(t.requires_grad and t.op is None and id(t) not in own
               for node in topological_order(root) for t in node.inputs)


def _as_tuple(argnums: int | Sequence[int]) -> tuple[int, ...]:
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def grad(f: Callable[..., Tensor], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """d f / d args[argnums] for a scalar-valued f; composes: `grad(grad(f))`."""
    which = _as_tuple(argnums)

    def grad_f(*args: Any) -> Any:
        if max(which, default=-1) >= len(args):
            raise ValueError(f"grad: argnums {argnums} but the function got {len(args)} arguments")
        args = list(args)
        variables = [_variable(args[i]) for i in which]
        for i, v in zip(which, variables):
            args[i] = v
        with enable_grad():
            out = f(*args)
        if not isinstance(out, Tensor) or out.size != 1:
            shape = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"grad: f must return a one-element Tensor, got {shape}; use mg.jacobian for vectors")
        if not out.requires_grad:
            grads = [None] * len(variables)
        else:
            with enable_grad():  # under no_grad (gradcheck's numeric pass) reshape must still record
                root = out.reshape(())
            grads = gradients(root, variables, create_graph=_records_gradient(root, variables))
        result = tuple(g if g is not None else Tensor._wrap(np.zeros(v.shape, v.dtype))
                       for g, v in zip(grads, variables))
        return result[0] if isinstance(argnums, int) else result

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def jacobian(f: Callable[[Tensor], Tensor], x: Any) -> Tensor:
    """J[i..., j...] = d f(x)[i...] / d x[j...], a Tensor of shape out.shape + x.shape."""
    v = _variable(x)
    with enable_grad():
        out = f(v)
    if not isinstance(out, Tensor):
        raise TypeError(f"jacobian: f must return a Tensor, got {type(out).__name__}")
    outer = out.requires_grad and _records_gradient(out, [v])
    rows = []
    for i in range(out.size):
        seed = np.zeros(out.size, dtype=out.dtype)
        seed[i] = 1
        g = None
        if out.requires_grad:
            (g,) = gradients(out, [v], grad=Tensor._wrap(seed.reshape(out.shape)), retain_graph=True,
                             create_graph=outer)
        rows.append(g if g is not None else Tensor._wrap(np.zeros(v.shape, v.dtype)))
    if not rows:
        return Tensor._wrap(np.zeros(out.shape + v.shape, v.dtype))
    return stack(rows).reshape(out.shape + v.shape)


def gradcheck(f: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3) -> bool:
    """Compare f's analytic Jacobian with central finite differences, in float64.

    Every float input is checked; integer inputs (labels, indices) are passed through. Returns
    True, or raises GradcheckError naming the input, the worst element, analytic and numeric.
    """
    arrays = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in inputs]
    checked = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    if not checked:
        raise ValueError("gradcheck: no float inputs to check")
    arrays = [a.astype(np.float64) if i in checked else a for i, a in enumerate(arrays)]

    def call(values: list[np.ndarray], requires: bool) -> tuple[Tensor, list[Tensor]]:
        ts = [Tensor(v.copy(), requires_grad=requires and i in checked) for i, v in enumerate(values)]
        return f(*ts), ts

    with enable_grad():
        out, ts = call(arrays, True)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: f returned {out.dtype} from float64 inputs; it must compute in float64")
    variables = [ts[i] for i in checked]

    def numeric_jacobian(i: int) -> np.ndarray:
        """d out / d input i by central differences: (out.size,) + input shape, one pass per element."""
        jac = np.zeros((out.size,) + arrays[i].shape)
        with no_grad():
            for j in np.ndindex(arrays[i].shape):
                values = list(arrays)
                for sign in (1, -1):
                    bumped = arrays[i].copy()
                    bumped[j] += sign * eps
                    values[i] = bumped
                    jac[(slice(None),) + j] += sign * np.asarray(call(values, False)[0].data).reshape(-1)
        return jac / (2 * eps)

    numeric_jacobians = {i: numeric_jacobian(i) for i in checked}
    for k in range(out.size):
        seed = np.zeros(out.size)
        seed[k] = 1
        analytic = gradients(out, variables, grad=Tensor(seed.reshape(out.shape)), retain_graph=True) \
            if out.requires_grad else [None] * len(variables)
        for which, i in enumerate(checked):
            a = analytic[which]
            a = np.zeros(arrays[i].shape) if a is None else a.data
            numeric = numeric_jacobians[i][k]
            error = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
            if (error > 0).any() or not np.isfinite(a).all():
                j = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(error), error, np.inf))), a.shape)
                element = tuple(int(v) for v in np.unravel_index(k, out.shape))  # (0, 1), not np.int64 reprs
                where = f" of output element {element}" if out.size > 1 else ""
                raise GradcheckError(
                    f"gradcheck: gradient{where} with respect to input {i} (shape {arrays[i].shape}) is wrong "
                    f"at index {tuple(int(v) for v in j)}: analytic {a[j]:.8g}, numeric {numeric[j]:.8g} "
                    f"(atol={atol}, rtol={rtol})"
                )
    return True
