"""Engine semantics: graph shapes, accumulation, retain_graph, no_grad, higher order, transforms, anomalies."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor
from minigrad.primitives import Function


def scalar(value: float, requires_grad: bool = True) -> Tensor:
    return Tensor(np.array(value, dtype=np.float64), requires_grad=requires_grad)


# ----- graph shapes ---------------------------------------------------------------------------

def test_diamond_graph_sums_both_paths() -> None:
    x = scalar(1.5)
    a, b = x * 2, x * 3  # two paths from x that meet again
    (a * b).backward()  # 6x², d/dx = 12x
    assert x.grad.item() == pytest.approx(18.0)


def test_reused_node_gets_every_use() -> None:
    x = scalar(0.3)
    y = x.exp()
    z = y * y + y  # y feeds three uses: d/dx = 2e^{2x} + e^x
    z.backward()
    assert x.grad.item() == pytest.approx(2 * np.exp(0.6) + np.exp(0.3))


def test_same_tensor_as_both_operands() -> None:
    x = Tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.0, -4.0, 6.0])
    x.grad = None
    (x - x).sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.0, 0.0, 0.0])


def test_only_inputs_that_require_grad_get_one() -> None:
    x = scalar(2.0)
    c = scalar(5.0, requires_grad=False)
    (x * c).backward()
    assert x.grad.item() == 5.0
    assert c.grad is None


# ----- accumulation and freeing ---------------------------------------------------------------

def test_gradients_accumulate_over_backward_calls() -> None:
    x = scalar(3.0)
    (x * x).backward()
    (x * 4).backward()
    assert x.grad.item() == pytest.approx(6.0 + 4.0)


def test_setting_grad_to_none_clears_it() -> None:
    x = scalar(3.0)
    (x * x).backward()
    x.grad = None
    (x * 4).backward()
    assert x.grad.item() == 4.0


def test_second_backward_through_freed_graph_raises() -> None:
    x = scalar(2.0)
    y = (x * x).exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = scalar(2.0)
    y = x * x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 12.0)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_freed_shared_subgraph_raises_from_another_output() -> None:
    """A second output that reuses a freed part of the graph also raises (PyTorch does too)."""
    x = scalar(2.0)
    h = x.exp()
    (h * 2).backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 3).backward()


def test_backward_without_graph_raises() -> None:
    with pytest.raises(RuntimeError, match="requires_grad"):
        scalar(1.0, requires_grad=False).exp().backward()


def test_backward_seed_shape_must_match() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))


def test_explicit_seed_scales_gradient() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).backward(Tensor(np.array([10.0, 100.0])))
    np.testing.assert_allclose(x.grad.data, [20.0, 400.0])


# ----- no_grad and detach ---------------------------------------------------------------------

def test_no_grad_records_nothing() -> None:
    x = scalar(2.0)
    with mg.no_grad():
        y = x * 3 + 1
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()
    assert y.requires_grad is False and y.op is None
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_as_decorator_and_enable_grad_inside() -> None:
    x = scalar(2.0)

    @mg.no_grad()
    def f(t: Tensor) -> Tensor:
        with mg.enable_grad():
            inner = t * 2
        return inner + t * 3

    out = f(x)  # the outer add ran under no_grad, so it is not recorded
    assert out.op is None and not out.requires_grad
    assert out.item() == 10.0
    with mg.no_grad(), mg.enable_grad():
        z = x * 2
    assert z.requires_grad and z.op is not None and z.op.op == "mul"


def test_no_grad_restored_after_exception() -> None:
    with pytest.raises(ZeroDivisionError), mg.no_grad():
        raise ZeroDivisionError
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph_and_shares_values() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = (x * 2).detach()
    assert d.op is None and not d.requires_grad
    np.testing.assert_array_equal(d.data, [2.0, 4.0])
    (x * d).sum().backward()  # d is a constant: d/dx = d
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


# ----- deep graphs ----------------------------------------------------------------------------

def test_ten_thousand_op_chain() -> None:
    """No recursion limit: micrograd's recursive topological sort fails past ~1000 ops."""
    x = scalar(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001 ** 10_000, rel=1e-9)
    assert len(mg.trace(y)) == 10_000


# ----- higher order ---------------------------------------------------------------------------

@pytest.mark.parametrize("f, d1, d2", [
    (lambda x: x ** 3, lambda x: 3 * x ** 2, lambda x: 6 * x),
    (lambda x: x.exp() * x, lambda x: np.exp(x) * (x + 1), lambda x: np.exp(x) * (x + 2)),
    (lambda x: x.tanh(), lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    (lambda x: x.sigmoid(), lambda x: _s(x) * (1 - _s(x)), lambda x: _s(x) * (1 - _s(x)) * (1 - 2 * _s(x))),
    (lambda x: x.log() * x, lambda x: np.log(x) + 1, lambda x: 1 / x),
], ids=["cube", "x_exp", "tanh", "sigmoid", "x_log"])
@pytest.mark.parametrize("x0", [0.4, 1.3])
def test_second_derivative_by_grad_of_grad(f, d1, d2, x0: float) -> None:
    x = scalar(x0, requires_grad=False)
    assert mg.grad(f)(x).item() == pytest.approx(d1(x0), rel=1e-10)
    assert mg.grad(mg.grad(f))(x).item() == pytest.approx(d2(x0), rel=1e-10)


def _s(x: float) -> float:
    return 1 / (1 + np.exp(-x))


def test_second_derivative_by_create_graph() -> None:
    x = scalar(0.7)
    (x.exp() * x).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.op is not None
    assert g.item() == pytest.approx(np.exp(0.7) * 1.7)
    x.grad = None
    g.backward()
    assert x.grad.item() == pytest.approx(np.exp(0.7) * 2.7)


def test_third_derivative_and_create_graph_keeps_the_graph() -> None:
    x = scalar(2.0)
    y = x ** 3
    y.backward(create_graph=True)  # retain_graph defaults to create_graph
    g1 = x.grad
    y.backward(create_graph=True)  # would raise if the graph had been freed
    assert x.grad.item() == pytest.approx(24.0)
    assert mg.grad(mg.grad(mg.grad(lambda t: t ** 3)))(scalar(2.0, False)).item() == pytest.approx(6.0)
    x.grad = None
    g1.backward()
    assert x.grad.item() == pytest.approx(12.0)


def test_grad_with_argnums_and_without_touching_dot_grad() -> None:
    a, b = scalar(2.0), scalar(3.0)
    ga, gb = mg.grad(lambda p, q: p * p * q, argnums=(0, 1))(a, b)
    assert (ga.item(), gb.item()) == (pytest.approx(12.0), pytest.approx(4.0))
    assert a.grad is None and b.grad is None
    assert mg.grad(lambda p, q: p * q, argnums=1)(a, b).item() == 2.0


def test_grad_of_constant_function_is_zero() -> None:
    g = mg.grad(lambda x: Tensor(np.array(5.0)))(scalar(1.0))
    assert g.item() == 0.0


def test_grad_rejects_non_scalar_output() -> None:
    with pytest.raises(ValueError, match="jacobian"):
        mg.grad(lambda x: x * 2)(Tensor(np.ones(3)))


def test_mixed_second_derivative_through_a_variable_the_inner_grad_does_not_differentiate() -> None:
    """d/dx (d/dy x·y²) = 2y: the inner grad must record its result's graph, because it depends on
    x, which only the outer grad differentiates (torch.func gives 6 and 8 here)."""
    f = lambda x, y: (x * y * y).sum()
    y = scalar(3.0, requires_grad=False)
    assert mg.grad(lambda x: mg.grad(f, argnums=1)(x, y))(scalar(2.0, False)).item() == pytest.approx(6.0)
    inner_jacobian = lambda x: mg.jacobian(lambda v: x * v * v, Tensor([3.0, 1.0], dtype="float64")).sum()
    assert mg.grad(inner_jacobian)(scalar(2.0, False)).item() == pytest.approx(8.0)


def test_gradient_penalty_reaches_the_parameters_behind_a_closure() -> None:
    """A gradient taken with mg.grad inside a loss stays differentiable with respect to the
    parameters it depends on (a WGAN-GP style penalty): backward() must not see a constant."""
    w = scalar(1.5)
    penalty = mg.grad(lambda x: (w * x * x).sum())(scalar(2.0, False)) ** 2  # (2wx)² at x = 2: 16w²
    penalty.backward()
    assert w.grad.item() == pytest.approx(32 * 1.5)
    plain = mg.grad(lambda x: (x * x).sum())(scalar(2.0, False))
    assert not plain.requires_grad and plain.op is None  # nothing else to differentiate: no graph kept


def test_grad_runs_and_frees_only_the_nodes_that_lead_to_its_inputs() -> None:
    """mg.grad through a closure's tensor leaves that tensor's own graph alone, in either order."""
    w0 = Tensor([1.0, 2.0], requires_grad=True)
    w = w0 * 3
    assert mg.grad(lambda x: (x * w).sum())(Tensor([1.0, 1.0])).tolist() == [3.0, 6.0]
    w.sum().backward()  # w's graph was neither run nor freed by mg.grad
    assert w0.grad.tolist() == [3.0, 3.0]
    v0 = Tensor([1.0, 2.0], requires_grad=True)
    v = v0 * 3
    v.sum().backward()  # frees v's graph, which mg.grad below has no reason to enter
    assert mg.grad(lambda x: (x * v.detach()).sum())(Tensor([1.0, 1.0])).tolist() == [3.0, 6.0]
    assert mg.grad(lambda x: (x * v).sum())(Tensor([1.0, 1.0])).tolist() == [3.0, 6.0]


def test_leaves_never_share_gradient_memory_even_through_views() -> None:
    """add hands g to both inputs and reshape a view of it; each leaf still gets its own array."""
    x = Tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = Tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    (x.reshape(2, 2).reshape(4) + w).sum().backward()
    assert not np.shares_memory(x.grad.data, w.grad.data)
    x.grad.data *= 0
    assert w.grad.tolist() == [1.0, 1.0, 1.0, 1.0]
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones((3, 2)), requires_grad=True)
    (a.T + b).sum().backward()  # a transposed view of the gradient b receives
    assert not np.shares_memory(a.grad.data, b.grad.data)


# ----- jacobian -------------------------------------------------------------------------------

def test_jacobian_of_linear_map_is_the_matrix() -> None:
    A = np.arange(12.0).reshape(4, 3) - 5
    J = mg.jacobian(lambda v: Tensor(A) @ v, Tensor(np.array([0.3, -1.0, 2.0])))
    assert J.shape == (4, 3)
    np.testing.assert_allclose(J.data, A)


def test_jacobian_of_softmax() -> None:
    z = np.array([0.5, -1.0, 2.0, 0.0])
    p = np.exp(z) / np.exp(z).sum()
    J = mg.jacobian(lambda v: v.softmax(), Tensor(z))
    np.testing.assert_allclose(J.data, np.diag(p) - np.outer(p, p), atol=1e-12)


def test_jacobian_shape_is_output_shape_plus_input_shape() -> None:
    x = np.arange(6.0).reshape(2, 3)
    J = mg.jacobian(lambda v: v.sum(axis=0) * 2, Tensor(x))
    assert J.shape == (3, 2, 3)
    expected = np.zeros((3, 2, 3))
    for j in range(3):
        expected[j, :, j] = 2
    np.testing.assert_array_equal(J.data, expected)


def test_hessian_as_jacobian_of_grad() -> None:
    x = np.array([1.0, -2.0, 0.5])
    H = mg.jacobian(mg.grad(lambda v: (v ** 3).sum() + v[0] * v[1]), Tensor(x))
    expected = np.diag(6 * x)
    expected[0, 1] = expected[1, 0] = 1.0
    np.testing.assert_allclose(H.data, expected)


def test_jacobian_of_a_constant_is_zero() -> None:
    J = mg.jacobian(lambda v: Tensor(np.ones(2)), Tensor(np.ones(3)))
    assert J.shape == (2, 3) and not J.data.any()


def test_grad_works_inside_no_grad() -> None:
    """mg.grad is a transform: it differentiates even where recording is off (gradcheck's numeric pass)."""
    with mg.no_grad():
        g = mg.grad(lambda v: (v * v).sum())(Tensor(np.array([1.0, -3.0])))
    np.testing.assert_allclose(g.data, [2.0, -6.0])
    assert not g.requires_grad


# ----- gradcheck ------------------------------------------------------------------------------

class WrongSquare(Function):
    """x² with a deliberately wrong backward (3x instead of 2x), to see gradcheck object."""

    op, rule = "wrong_square", "d/dx = 3·x (wrong)"

    def forward(self, x):
        return x * x

    def backward(self, g):
        return (g * self.inputs[0] * 3,)


class WrongSecondInput(Function):
    """a·b whose gradient for b is wrong (it ignores a)."""

    op = "wrong_mul"

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        return g * self.inputs[1], g


def test_gradcheck_accepts_correct_ops() -> None:
    rng = np.random.default_rng(0)
    assert mg.gradcheck(lambda a, b: (a @ b).tanh().sum(axis=0), rng.normal(size=(3, 2)), rng.normal(size=(2, 4)))
    # Integer inputs are passed through unchecked.
    assert mg.gradcheck(lambda x, i: x[i], rng.normal(size=5), np.array([0, 3, 3]))


def test_gradcheck_rejects_a_wrong_backward() -> None:
    with pytest.raises(mg.GradcheckError) as info:
        mg.gradcheck(lambda x: WrongSquare.apply(x), np.array([1.0, 2.0]))
    message = str(info.value)
    assert "input 0" in message and "analytic" in message and "numeric" in message
    # The reported numbers are the wrong and the right derivative (3x vs 2x at x = 1 or 2).
    assert re.search(r"analytic 3\b.*numeric 2\b|analytic 6\b.*numeric 4\b", message), message
    assert "output element (0,)" in message or "output element (1,)" in message
    assert "np.int" not in message


def test_gradcheck_names_the_wrong_input() -> None:
    with pytest.raises(mg.GradcheckError, match="input 1"):
        mg.gradcheck(lambda a, b: WrongSecondInput.apply(a, b), np.array([2.0, 3.0]), np.array([1.0, -1.0]))


def test_gradcheck_is_a_assertion_error_subclass() -> None:
    assert issubclass(mg.GradcheckError, AssertionError)


# ----- detect_anomaly -------------------------------------------------------------------------

def test_anomaly_in_forward_names_the_op() -> None:
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with np.errstate(invalid="ignore"), mg.detect_anomaly(), \
            pytest.raises(mg.AnomalyError, match=r"^log\b.*NaN.*\(2,\)"):
        x.exp().log().log()  # log(e^-1) = -1, then log(-1) = NaN


def test_anomaly_born_in_backward_names_the_op_and_scope() -> None:
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with mg.detect_anomaly():
        with mg.scope("layer"):
            y = x.sqrt().sum()  # sqrt(0) = 0 is fine; its gradient 1/(2·0) is not
        with np.errstate(divide="ignore"), pytest.raises(mg.AnomalyError) as info:
            y.backward()
    message = str(info.value)
    assert message.startswith("sqrt") and "layer" in message and "Inf" in message


def test_no_anomaly_error_without_detect_anomaly() -> None:
    x = Tensor(np.array([0.0, -1.0]), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = x.sqrt().sum()
        y.backward()
    assert np.isnan(y.item())
    assert np.isinf(x.grad.data[0])


def test_detect_anomaly_is_off_again_after_the_block() -> None:
    with mg.detect_anomaly():
        pass
    with np.errstate(invalid="ignore"):
        assert np.isnan(Tensor(np.array(-1.0)).log().item())


# ----- backward_steps -------------------------------------------------------------------------

def _build(x: Tensor, w: Tensor) -> Tensor:
    h = (x @ w).relu()
    return (h * h).sum() + w.tanh().mean()


def test_backward_steps_to_the_end_equals_backward() -> None:
    rng = np.random.default_rng(1)
    xs, ws = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    x1, w1 = Tensor(xs, requires_grad=True), Tensor(ws, requires_grad=True)
    _build(x1, w1).backward()
    x2, w2 = Tensor(xs, requires_grad=True), Tensor(ws, requires_grad=True)
    steps = list(mg.backward_steps(_build(x2, w2)))
    assert steps
    np.testing.assert_array_equal(x1.grad.data, x2.grad.data)
    np.testing.assert_array_equal(w1.grad.data, w2.grad.data)


def test_backward_steps_come_in_reverse_topological_order_with_rules() -> None:
    x = Tensor(np.array([[1.0, -2.0]]), requires_grad=True)
    w = Tensor(np.array([[0.5], [0.25]]), requires_grad=True)
    out = _build(x, w)
    order = mg.trace(out).nodes
    steps = list(mg.trace(out).backward_steps())
    assert [s.node for s in steps] == order[::-1]
    assert all(isinstance(s.rule, str) and s.rule for s in steps)
    relu = next(s for s in steps if s.node.op == "relu")
    assert "x > 0" in relu.rule
    for s in steps:
        assert s.grad_output.shape == s.node.output.shape
        assert len(s.grad_inputs) == len(s.node.inputs)
        for t, gi in zip(s.node.inputs, s.grad_inputs):
            assert gi is None or gi.shape == t.shape


def test_nodes_come_in_the_order_they_were_made() -> None:
    """Creation order is a topological order, and the one the code reads in (not argument order)."""
    a, b, c = scalar(2.0), scalar(3.0), scalar(5.0)
    first = a * b
    second = c.exp()
    out = second - first  # the later product is the first argument
    assert [node.op for node in mg.trace(out).nodes] == ["mul", "exp", "sub"]
    assert [step.node.op for step in mg.backward_steps(out)] == ["sub", "exp", "mul"]
    assert (a.grad.item(), b.grad.item(), c.grad.item()) == (-3.0, -2.0, pytest.approx(np.exp(5.0)))


def test_a_node_used_twice_gets_its_gradient_once_both_uses_are_in() -> None:
    x = scalar(1.5)
    h = x.exp()
    y = h * h + h.tanh()  # h feeds mul twice and tanh: its node waits for all three
    y.backward()
    e = np.exp(1.5)
    expected = (2 * e + (1 - np.tanh(e) ** 2)) * e
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)


def test_backward_steps_can_stop_half_way() -> None:
    x = scalar(2.0)
    y = (x * 3).exp()
    steps = mg.backward_steps(y)
    first = next(steps)
    assert first.node.op == "exp" and x.grad is None  # nothing reached the leaf yet
    second = next(steps)
    assert second.node.op == "mul" and x.grad.item() == pytest.approx(3 * np.exp(6.0))


# ----- gradient dtypes ------------------------------------------------------------------------

@pytest.mark.parametrize("low, high", [(np.float32, np.float64), (np.float16, np.float32)])
def test_gradient_has_the_inputs_dtype_under_mixed_precision(low: type, high: type) -> None:
    """float32 * float64 computes in float64, but the float32 input's gradient is float32 (PyTorch)."""
    x = Tensor(np.array([1.0, 2.0], dtype=low), requires_grad=True)
    y = Tensor(np.array([3.0, 4.0], dtype=high), requires_grad=True)
    out = (x * y).sum()
    assert out.dtype == high
    out.backward()
    assert x.grad.dtype == low and y.grad.dtype == high
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


def test_backward_on_a_leaf_seeds_its_own_grad() -> None:
    x = scalar(2.0)
    x.backward()
    assert x.grad.item() == 1.0


def test_a_paused_backward_steps_leaves_recording_on():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor(3.0, requires_grad=True)
    steps = mg.backward_steps((x * w).sum())
    next(steps)  # a REPL user looks at the first step, then goes on working
    y = (x * 3).sum()
    assert y.requires_grad and y.op is not None
    for _ in steps:
        pass
    assert x.grad.tolist() == [3.0, 3.0] and w.grad.item() == 3.0


def test_leaves_never_share_one_gradient_object():
    p = mg.tensor([1.0], requires_grad=True)
    q = mg.tensor([2.0], requires_grad=True)
    (p + q).sum().backward()  # add hands the same g to both sides
    assert p.grad is not q.grad
    p.grad.data *= 10  # clipping or scaling one gradient in place ...
    assert q.grad.tolist() == [1.0]  # ... leaves the other alone


def test_casting_to_integers_cuts_the_graph():
    x = mg.tensor([1.7, 2.2], requires_grad=True)
    y = x.astype("int64")
    assert not y.requires_grad and y.op is None  # rounding has no gradient, as in PyTorch


def test_pow_with_zero_exponent_has_zero_slope_at_zero_base():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]  # not 0 * inf = NaN


def test_pow_second_derivative_in_the_exponent_at_zero_exponent() -> None:
    """d/db of d(a^b)/da = a^(b−1)(1 + b·log a): at b = 0 that is 1/a, not the 1 a base of 1 would give."""
    a = mg.Tensor(np.array(0.5), requires_grad=True)
    b = mg.Tensor(np.array(0.0), requires_grad=True)
    (ga,) = mg.engine.gradients(a ** b, [a], create_graph=True)
    (gab,) = mg.engine.gradients(ga, [b])
    np.testing.assert_allclose(gab.data, 2.0)


# ----- in-place writes ------------------------------------------------------------------------

def test_backward_refuses_an_input_written_in_place_after_the_op_read_it() -> None:
    """mul's backward reads c: a write into c (or into a view of it) before backward would give a
    gradient from the new values, so backward raises, as PyTorch's version counters do."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    y = (x * c).sum()
    c[0] = 100.0
    with pytest.raises(RuntimeError, match=r"input 1 of 'mul' \(shape \(2,\)\) was modified in place"):
        y.backward()
    c = Tensor([[3.0, 4.0]])
    y = (x * c.reshape(2)).sum()  # mul reads a view of c's memory
    c[0, 1] = 100.0
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_writes_that_do_not_reach_what_backward_reads_are_fine() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    c, unrelated = Tensor([3.0, 4.0]), Tensor([5.0, 6.0])
    y = (x * c).sum() + (x + c).sum()
    unrelated[0] = 0.0  # another array: nothing to do with this graph
    c2 = Tensor([3.0, 4.0])
    z = (x + c2).sum()  # add's backward reads no input values
    c2[1] = -1.0
    y.backward()
    z.backward()
    assert x.grad.tolist() == [5.0, 6.0]  # (c + 1) + 1
    c[0] = 7.0  # a write before the forward pass is simply the new value
    x.grad = None
    (x * c).sum().backward()
    assert x.grad.tolist() == [7.0, 4.0]


def test_an_optimizer_step_between_forward_and_backward_is_caught() -> None:
    """The optimizer updates parameters in place: a graph made before the step reads old values."""
    w = Tensor([1.0, 2.0], requires_grad=True)
    opt = mg.optim.SGD([w], learning_rate=0.1)
    x = Tensor([[1.0, 1.0]], requires_grad=True)
    stale = (x @ w.reshape(2, 1)).sum()  # matmul reads w for x's gradient
    (w * w).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()
    opt.zero_grad()
    fresh = (x @ w.reshape(2, 1)).sum()  # made after the step: fine
    fresh.backward()
    assert np.allclose(x.grad.data, [[0.8, 1.6]])


def test_a_write_while_backward_steps_is_paused_is_caught_at_the_next_node() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    steps = mg.backward_steps(((x * c) + 1).sum())
    next(steps)  # sum
    c[1] = 0.0  # mul, still to come, reads c
    with pytest.raises(RuntimeError, match="'mul'"):
        for _ in steps:
            pass


def test_the_record_of_writes_forgets_arrays_that_are_gone() -> None:
    from minigrad import engine

    for _ in range(3000):
        t = Tensor(np.zeros(3))
        t[0] = 1.0
    assert len(engine._WRITES) <= 1024
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * Tensor([3.0, 4.0])).sum().backward()  # a new array at a recycled address is not "written"
    assert x.grad.tolist() == [3.0, 4.0]


def test_a_seed_passed_to_backward_is_copied_so_editing_it_later_leaves_the_grads_alone() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, 1.0], dtype=np.float32)
    (x + 1).backward(seed)  # add passes the seed straight to x
    seed[0] = 99.0
    as_tensor = Tensor([2.0, 2.0])
    (x * 1).backward(as_tensor)
    as_tensor.data[1] = -5.0
    assert x.grad.tolist() == [3.0, 3.0]


def test_backward_steps_refuses_a_tensor_without_a_graph_when_called() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.backward_steps(Tensor([1.0]))  # at the call, not at the first next()
    with pytest.raises(ValueError, match="grad has shape"):
        mg.backward_steps((Tensor([1.0, 2.0], requires_grad=True) * 2), grad=np.ones(3))


def test_an_index_or_condition_written_in_place_before_backward_is_caught() -> None:
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    index = Tensor(np.array([0, 0, 2]))
    picked = x[index].sum()
    index[1] = 1  # the scatter-add would now send g to element 1
    with pytest.raises(RuntimeError, match=r"the index array of 'getitem' \(shape \(3,\)\) was modified"):
        picked.backward()
    condition = Tensor(np.array([True, False, True]))
    chosen = mg.where(condition, x, 0.0).sum()
    condition[1] = True
    with pytest.raises(RuntimeError, match="the condition array of 'where'"):
        chosen.backward()


def test_an_optimizer_step_marks_only_the_parameters_it_updated() -> None:
    """One optimizer, two losses (a GAN-style loop): updating a must not make b's older graph stale."""
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float32), requires_grad=True)
    opt = mg.optim.SGD([a, b], learning_rate=0.1)  # both in one flat buffer
    loss_a, loss_b = (a * a).sum(), (b * b).sum()
    loss_a.backward()
    opt.step()  # b has no gradient: only a's span changes
    loss_b.backward()
    assert b.grad.tolist() == [2.0, 2.0, 2.0]
    stale = (a * a).sum()
    a.grad = None
    (a * 2).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


def test_set_weights_and_load_weights_count_as_writes(tmp_path) -> None:
    model = mg.nn.Sequential([mg.nn.Dense(2), mg.nn.Dense(1)])
    x = Tensor(np.ones((1, 2), np.float32))
    model(x)
    weights = model.get_weights()
    model.save_weights(tmp_path / "w.npz")
    loss = model(x).sum()
    model.set_weights([np.full_like(w, 3) for w in weights])
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    loss = model(x).sum()
    model.load_weights(tmp_path / "w.npz")
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()
    model(x).sum().backward()  # a graph made after the load is fine


def test_many_live_written_tensors_do_not_make_every_write_scan_the_record() -> None:
    """The record of writes is pruned of dead arrays only when it has doubled since the last
    pruning, not on every write once it is large (which made each write cost ~1 ms)."""
    from minigrad import engine

    tensors = [Tensor(np.zeros(2, np.float32)) for _ in range(3000)]
    for t in tensors:
        t[0] = 1.0
    assert len(engine._WRITES) >= 3000
    assert engine._prune_at > len(engine._WRITES)  # the next scan waits until the record has grown
    tensors[0][0] = 2.0  # a tensor already in the record never triggers a scan
    assert engine._prune_at > len(engine._WRITES)


def test_a_differentiable_seed_is_copied_unless_create_graph_keeps_its_graph() -> None:
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    v = Tensor(np.full(3, 2, np.float32), requires_grad=True)
    (x + 0).backward(v)
    assert x.grad is not v and not x.grad.requires_grad
    with mg.no_grad():
        v[0] = 100.0
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
