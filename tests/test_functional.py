"""minigrad.functional: the softmax composites and the losses, fused and composite.

The fused ops are checked against the composites where both are finite (float64, rtol 1e-10),
against an exact float64 reference where the composites break (float32 logits of 1e3 and 1e4),
against finite differences (first and second derivatives) and, when installed, against PyTorch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import SETTINGS

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor


def reference_log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax in float64 with math.fsum, row by row (slow, but an independent reference)."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    for i, row in enumerate(z):
        m = max(row)
        lse = m + math.log(math.fsum(math.exp(v - m) for v in row))
        out[i] = row - lse
    return out


def differentiable(f: Callable[..., Tensor], argnums: int | tuple[int, ...] = 0,
                   pick: int | None = None) -> Callable[..., Tensor]:
    """x -> d f / d x as a function gradcheck can differentiate again (second derivatives)."""
    grad_f = mg.grad(f, argnums=argnums)

    def first_derivative(*args: Tensor) -> Tensor:
        with mg.enable_grad():  # gradcheck's numeric pass runs under no_grad
            out = grad_f(*args)
        return out if pick is None else out[pick]

    return first_derivative


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----- softmax and friends -----------------------------------------------------------------

def test_softmax_is_a_composite_in_its_scope_and_marks_its_logits():
    z = Tensor(rng().normal(size=(3, 4)), requires_grad=True)
    p = F.softmax(z)
    ops = [node.op for node in mg.trace(p).nodes]
    assert ops == ["sub", "exp", "sum", "div"]  # the max is a detached leaf: the shift has no gradient
    assert "max (detached)" in [leaf.name for leaf in mg.trace(p).leaves]
    assert {node.scope for node in mg.trace(p).nodes} == {"softmax"}
    assert p._logits[0] == "softmax" and p._logits[1] is z
    np.testing.assert_allclose(p.data.sum(axis=-1), 1, rtol=1e-12)
    np.testing.assert_allclose(np.log(p.data), reference_log_softmax(z.data), rtol=1e-12)
    with mg.no_grad():
        q = F.softmax(z)
    assert q.op is None and q._logits[1] is z  # recovery works in evaluate, too
    assert F.softmax(z, axis=0)._logits is None  # only the class axis is recoverable


def test_softmax_survives_huge_logits_where_naive_softmax_does_not():
    z = Tensor(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32))
    np.testing.assert_array_equal(F.softmax(z).data, [[1, 0, 0]])
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isnan(F.naive_softmax(z).data).any()
    small = Tensor(rng().normal(size=(2, 5)))
    np.testing.assert_allclose(F.naive_softmax(small).data, F.softmax(small).data, rtol=1e-12)


def test_logsumexp_and_log_softmax_match_the_exact_reference_and_gradcheck():
    z = rng(1).normal(size=(3, 5)) * 30
    expected = reference_log_softmax(z)
    np.testing.assert_allclose(F.log_softmax(Tensor(z)).data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.logsumexp(Tensor(z)).data, z[:, 0] - expected[:, 0], rtol=1e-12)
    assert F.logsumexp(Tensor(z), keepdims=True).shape == (3, 1)
    assert F.logsumexp(Tensor(z), axis=0).shape == (5,)
    assert mg.gradcheck(lambda x: F.log_softmax(x), z / 30)
    assert mg.gradcheck(lambda x: F.logsumexp(x, axis=0), z / 30)
    assert mg.gradcheck(lambda x: F.softmax(x), z / 30)


def test_activations_exist_and_sigmoid_marks_its_logits():
    x = Tensor([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(F.relu(x).data, [0, 0, 3])
    np.testing.assert_allclose(F.tanh(x).data, np.tanh(x.data), rtol=1e-6)
    s = F.sigmoid(x)
    np.testing.assert_allclose(s.data, 1 / (1 + np.exp(-x.data)), rtol=1e-6)
    assert s._logits[0] == "sigmoid" and s._logits[1] is x


# ----- softmax_cross_entropy ---------------------------------------------------------------

def test_softmax_cross_entropy_is_one_node_with_its_rule():
    z = Tensor(rng().normal(size=(4, 3)), requires_grad=True)
    loss = F.softmax_cross_entropy(z, [0, 2, 1, 1])
    graph = mg.trace(loss)
    assert [node.op for node in graph.nodes] == ["softmax_cross_entropy"]
    assert graph.nodes[0].rule == "d/dz = (p − y)/N"
    assert graph.nodes[0].attrs["reduction"] == "mean"
    assert loss.shape == () and loss.dtype == np.float64


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_agrees_with_the_composite_where_both_are_finite(reduction):
    g = rng(2)
    z = g.normal(size=(6, 5)) * 3
    labels = g.integers(0, 5, size=6)
    rows = g.random(size=(6, 5))
    rows /= rows.sum(axis=1, keepdims=True)
    fused = F.softmax_cross_entropy(Tensor(z), labels, reduction=reduction).data
    composite = F.cross_entropy(F.softmax(Tensor(z)), labels, reduction=reduction).data
    np.testing.assert_allclose(fused, composite, rtol=1e-10)
    fused_rows = F.softmax_cross_entropy(Tensor(z), rows, reduction=reduction).data
    composite_rows = F.cross_entropy(F.softmax(Tensor(z)), rows, reduction=reduction).data
    np.testing.assert_allclose(fused_rows, composite_rows, rtol=1e-10)
    # One-hot rows are the same loss as the indices.
    onehot = np.eye(5)[labels]
    np.testing.assert_allclose(F.softmax_cross_entropy(Tensor(z), onehot, reduction=reduction).data,
                               fused, rtol=1e-12)


@given(n=st.integers(1, 5), c=st.integers(1, 6), scale=st.sampled_from([1e-3, 1.0, 10.0, 50.0]),
       seed=st.integers(0, 2**16))
@SETTINGS
def test_fused_matches_the_exact_reference_for_any_shape(n, c, scale, seed):
    g = rng(seed)
    z = g.normal(size=(n, c)) * scale
    labels = g.integers(0, c, size=n)
    expected = -reference_log_softmax(z)[np.arange(n), labels]
    got = F.softmax_cross_entropy(Tensor(z), labels, reduction="none").data
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scale", [1e3, 1e4])
def test_fused_stays_finite_and_exact_in_float32_where_the_composite_breaks(scale):
    z64 = rng(3).normal(size=(8, 10)) * scale
    z = Tensor(z64.astype(np.float32), requires_grad=True)
    labels = rng(4).integers(0, 10, size=8)
    loss = F.softmax_cross_entropy(z, labels, reduction="none")
    assert loss.dtype == np.float32
    exact = -reference_log_softmax(z.data.astype(np.float64))[np.arange(8), labels]
    np.testing.assert_allclose(loss.data, exact, rtol=1e-6)
    loss.sum().backward()
    p = np.exp(reference_log_softmax(z.data.astype(np.float64)))
    np.testing.assert_allclose(z.grad.data, p - np.eye(10)[labels], atol=1e-6)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        composite = F.cross_entropy(F.softmax(Tensor(z.data)), labels, reduction="none").data
        naive = F.cross_entropy(F.naive_softmax(Tensor(z.data)), labels, reduction="none").data
    assert not np.isfinite(composite).all()  # log of a probability rounded to 0 is inf
    assert not np.isfinite(naive).all()


def test_fused_gradient_is_p_minus_onehot_over_n():
    z = Tensor(rng(5).normal(size=(4, 3)), requires_grad=True)
    labels = np.array([2, 0, 1, 2])
    F.softmax_cross_entropy(z, labels).backward()
    p = np.exp(reference_log_softmax(z.data))
    np.testing.assert_allclose(z.grad.data, (p - np.eye(3)[labels]) / 4, rtol=1e-12, atol=1e-15)
    z.grad = None
    F.softmax_cross_entropy(z, labels, reduction="sum").backward()
    np.testing.assert_allclose(z.grad.data, p - np.eye(3)[labels], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_fused_gradients_match_finite_differences(reduction):
    g = rng(6)
    z = g.normal(size=(3, 4))
    labels = np.array([3, 0, 1])
    rows = g.random(size=(3, 4))
    rows /= rows.sum(axis=1, keepdims=True)
    assert mg.gradcheck(lambda x: F.softmax_cross_entropy(x, labels, reduction=reduction), z)
    # Probability rows get a gradient too (−log_softmax(z)), and rows that do not sum to 1 work.
    assert mg.gradcheck(lambda x, y: F.softmax_cross_entropy(x, y, reduction=reduction), z, rows)
    assert mg.gradcheck(lambda x, y: F.softmax_cross_entropy(x, y, reduction=reduction), z, rows * 1.7)


def test_fused_second_derivatives_through_create_graph():
    g = rng(7)
    z = g.normal(size=(3, 4))
    labels = np.array([1, 3, 0])
    rows = g.random(size=(3, 4))
    rows /= rows.sum(axis=1, keepdims=True)
    assert mg.gradcheck(differentiable(lambda x: F.softmax_cross_entropy(x, labels)), z)
    assert mg.gradcheck(differentiable(lambda x: F.softmax_cross_entropy(x, labels, reduction="none").sum()), z)
    both = lambda x, y: F.softmax_cross_entropy(x, y)
    assert mg.gradcheck(differentiable(both, argnums=(0, 1), pick=0), z, rows)
    assert mg.gradcheck(differentiable(both, argnums=(0, 1), pick=1), z, rows)
    # The Hessian of the mean loss in z is (diag(p) − p pᵀ)/N per row.
    x = Tensor(z[:1], requires_grad=True)
    hessian = mg.jacobian(mg.grad(lambda v: F.softmax_cross_entropy(v, labels[:1])), x).data.reshape(4, 4)
    p = np.exp(reference_log_softmax(z[:1]))[0]
    np.testing.assert_allclose(hessian, np.diag(p) - np.outer(p, p), atol=1e-12)


def test_fused_backward_reuses_p_and_frees_it():
    z = Tensor(rng(8).normal(size=(2, 3)), requires_grad=True)
    loss = F.softmax_cross_entropy(z, [0, 1])
    node = loss.op
    assert node.saved is not None and node.saved.shape == (2, 3)
    loss.backward(retain_graph=True)
    first = z.grad.data.copy()
    loss.backward()  # the saved p is still there, and unchanged by the first backward
    np.testing.assert_allclose(z.grad.data, 2 * first, rtol=1e-12)
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


def test_fused_single_row_and_float_label_rows_cast_to_the_logits_dtype():
    z = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    loss = F.softmax_cross_entropy(z, 2, reduction="none")
    assert loss.shape == ()
    np.testing.assert_allclose(loss.item(), -reference_log_softmax(z.data[None])[0, 2], rtol=1e-6)
    row = F.softmax_cross_entropy(z, np.array([0.0, 0.0, 1.0]))  # float64 row, float32 logits
    assert row.dtype == np.float32
    np.testing.assert_allclose(row.item(), loss.item(), rtol=1e-6)


@pytest.mark.parametrize(("labels", "message"), [
    ([0, 3, 1], r"label 3 at position 1 is out of range for 3 classes \(valid labels are 0..2\)"),
    ([0, -1, 1], r"label -1 at position 1 is out of range for 3 classes"),
    ([0, 1], r"labels have shape \(2,\) but the batch has 3 rows"),
    (np.zeros((3, 4)), r"probability rows have shape \(3, 4\) but the input has shape \(3, 3\)"),
    (np.array([0.0, 1.0, 2.0]), r"must be integer class indices 0..2 for 3 classes, got float64"),
    (np.array([0.5, 1.0, 2.0]), r"must be integer class indices 0..2 for 3 classes"),
    (np.array([True, False, True]), r"must be integer class indices 0..2 for 3 classes, got dtype bool"),
])
def test_bad_labels_are_refused_with_the_value_and_the_classes(labels, message):
    z = Tensor(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=message):
        F.softmax_cross_entropy(z, labels)
    with pytest.raises(ValueError, match=message.replace("softmax_cross_entropy", "cross_entropy")):
        F.cross_entropy(F.softmax(z), labels)


def test_bad_logits_and_reductions_are_refused():
    with pytest.raises(TypeError, match="logits must be a float tensor, got int64"):
        F.softmax_cross_entropy(np.zeros((2, 3), dtype=np.int64), [0, 1])
    with pytest.raises(ValueError, match=r"expects logits of shape \(N, C\).*got \(2, 3, 4\)"):
        F.softmax_cross_entropy(Tensor(np.zeros((2, 3, 4))), [0, 1])
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.softmax_cross_entropy(Tensor(np.zeros((2, 3))), [0, 1], reduction="avg")
    with pytest.raises(ValueError, match=r"logits of shape \(0, 3\) are empty"):
        F.softmax_cross_entropy(Tensor(np.zeros((0, 3))), np.zeros(0, dtype=int))


# ----- sigmoid_binary_cross_entropy ---------------------------------------------------------

def test_sigmoid_bce_is_one_node_and_agrees_with_the_composite():
    g = rng(9)
    z = g.normal(size=(5, 3)) * 4
    y = (g.random(size=(5, 3)) > 0.5).astype(np.float64)
    fused = F.sigmoid_binary_cross_entropy(Tensor(z, requires_grad=True), y)
    assert [node.op for node in mg.trace(fused).nodes] == ["sigmoid_binary_cross_entropy"]
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(F.sigmoid_binary_cross_entropy(Tensor(z), y, reduction=reduction).data,
                                   F.binary_cross_entropy(F.sigmoid(Tensor(z)), y, reduction=reduction).data,
                                   rtol=1e-10)


def test_sigmoid_bce_is_stable_for_huge_logits_in_float32():
    z = Tensor(np.array([1e4, -1e4, 1e4, -1e4, 30.0], dtype=np.float32), requires_grad=True)
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    loss = F.sigmoid_binary_cross_entropy(z, y, reduction="none")
    np.testing.assert_allclose(loss.data, [0, 0, 1e4, 1e4, 30 + np.log1p(np.exp(-30))], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.data, [0, 0, 1, -1, 1], atol=1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        composite = F.binary_cross_entropy(F.sigmoid(Tensor(z.data)), y, reduction="none").data
    assert not np.isfinite(composite).all()


def test_sigmoid_bce_gradients_first_and_second_order():
    g = rng(10)
    z = g.normal(size=(3, 2)) * 2
    y = g.random(size=(3, 2))
    for reduction in ("mean", "sum", "none"):
        assert mg.gradcheck(lambda a, b, r=reduction: F.sigmoid_binary_cross_entropy(a, b, reduction=r), z, y)
    assert mg.gradcheck(differentiable(lambda a: F.sigmoid_binary_cross_entropy(a, y)), z)
    both = lambda a, b: F.sigmoid_binary_cross_entropy(a, b, reduction="sum")
    assert mg.gradcheck(differentiable(both, argnums=(0, 1), pick=0), z, y)
    x = Tensor(z, requires_grad=True)
    F.sigmoid_binary_cross_entropy(x, y).backward()
    np.testing.assert_allclose(x.grad.data, (1 / (1 + np.exp(-z)) - y) / z.size, rtol=1e-12)


def test_sigmoid_bce_refuses_mismatched_targets():
    with pytest.raises(ValueError, match=r"targets have shape \(3,\) but the input has shape \(3, 1\)"):
        F.sigmoid_binary_cross_entropy(Tensor(np.zeros((3, 1))), np.zeros(3))
    with pytest.raises(TypeError, match="logits must be a float tensor"):
        F.sigmoid_binary_cross_entropy(np.zeros(3, dtype=np.int32), np.zeros(3))


# ----- composites from probabilities --------------------------------------------------------

def test_cross_entropy_composite_lives_in_its_scope():
    p = F.softmax(Tensor(rng(11).normal(size=(2, 3)), requires_grad=True))
    loss = F.cross_entropy(p, [1, 2])
    scopes = [node.scope for node in mg.trace(loss).nodes if node.scope != "softmax"]
    assert scopes and set(scopes) == {"cross_entropy"}
    np.testing.assert_allclose(loss.item(), -np.log(p.data[[0, 1], [1, 2]]).mean(), rtol=1e-12)
    assert mg.gradcheck(lambda q: F.cross_entropy(q, [1, 2]), p.data)


def test_binary_cross_entropy_and_mse_values_and_gradients():
    g = rng(12)
    p = g.uniform(0.1, 0.9, size=(4, 2))
    y = (g.random(size=(4, 2)) > 0.5).astype(np.float64)
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    np.testing.assert_allclose(F.binary_cross_entropy(Tensor(p), y).item(), expected, rtol=1e-12)
    assert mg.gradcheck(lambda a: F.binary_cross_entropy(a, y), p)
    np.testing.assert_allclose(F.mse(Tensor(p), y).item(), ((p - y) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(F.mse(Tensor(p), y, reduction="sum").item(), ((p - y) ** 2).sum(), rtol=1e-12)
    assert mg.gradcheck(lambda a, b: F.mse(a, b), p, y)
    with pytest.raises(ValueError, match=r"targets have shape \(4,\) but the input has shape \(4, 2\)"):
        F.mse(Tensor(p), np.zeros(4))


# ----- against PyTorch, when it is installed -------------------------------------------------

def test_against_pytorch_cross_entropy_and_bce_with_logits():
    torch = pytest.importorskip("torch")
    g = rng(13)
    z = g.normal(size=(6, 4)) * 5
    labels = g.integers(0, 4, size=6)
    rows = g.random(size=(6, 4))
    rows /= rows.sum(axis=1, keepdims=True)
    for target in (labels, rows):
        for reduction in ("mean", "sum", "none"):
            tz = torch.tensor(z, requires_grad=True)
            ty = torch.tensor(target)
            t_loss = torch.nn.functional.cross_entropy(tz, ty, reduction=reduction)
            t_loss.sum().backward()
            x = Tensor(z, requires_grad=True)
            loss = F.softmax_cross_entropy(x, target, reduction=reduction)
            loss.sum().backward()
            np.testing.assert_allclose(loss.data, t_loss.detach().numpy(), rtol=1e-10)
            np.testing.assert_allclose(x.grad.data, tz.grad.numpy(), rtol=1e-10, atol=1e-14)
    y = g.random(size=(6, 4))
    for reduction in ("mean", "sum", "none"):
        tz = torch.tensor(z, requires_grad=True)
        t_loss = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(y), reduction=reduction)
        t_loss.sum().backward()
        x = Tensor(z, requires_grad=True)
        loss = F.sigmoid_binary_cross_entropy(x, y, reduction=reduction)
        loss.sum().backward()
        np.testing.assert_allclose(loss.data, t_loss.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(x.grad.data, tz.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_second_derivative_against_pytorch():
    torch = pytest.importorskip("torch")
    g = rng(14)
    z = g.normal(size=(3, 5))
    labels = np.array([4, 0, 2])
    v = g.normal(size=(3, 5))  # Hessian-vector product: d/dz <grad(z), v>
    tz = torch.tensor(z, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(tz, torch.tensor(labels)), tz, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tz)
    hv = mg.grad(lambda x: (mg.grad(lambda w: F.softmax_cross_entropy(w, labels))(x) * Tensor(v)).sum())(Tensor(z))
    np.testing.assert_allclose(hv.data, thv.numpy(), rtol=1e-10, atol=1e-14)


def test_logsumexp_over_all_axes_and_of_an_all_minus_inf_row():
    z = mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64")
    assert F.logsumexp(z, axis=None).item() == pytest.approx(np.log(np.exp([1, 2, 3, 4]).sum()))
    with np.errstate(divide="ignore"):
        out = F.logsumexp(mg.tensor([[-np.inf, -np.inf]]), axis=-1)
    assert out.tolist() == [-np.inf]  # log(0), not nan
    assert mg.gradcheck(lambda t: F.logsumexp(t, axis=None), np.array([[0.5, -1.0], [2.0, 0.1]]))


@pytest.mark.parametrize("axis", [(0, 1), (-1, 0), (0, 2), (1,), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_over_several_axes_matches_the_exact_reference(axis, keepdims):
    z = rng(2).normal(size=(2, 3, 4)) * 20
    expected = np.log(np.exp(z.astype(np.longdouble)).sum(axis=axis, keepdims=keepdims)).astype(np.float64)
    out = F.logsumexp(Tensor(z), axis=axis, keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert mg.gradcheck(lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims), z / 20)


@pytest.mark.parametrize("axis", [(0, 1), (-1, 0), (2, 0), (0, 1, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_over_several_axes_matches_torch(axis, keepdims):
    torch = pytest.importorskip("torch")
    z = rng(3).normal(size=(2, 3, 4))
    x, tx = Tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    out, t_out = F.logsumexp(x, axis=axis, keepdims=keepdims), torch.logsumexp(tx, dim=axis, keepdim=keepdims)
    assert out.shape == tuple(t_out.shape)
    np.testing.assert_allclose(out.data, t_out.detach().numpy(), rtol=1e-12)
    g = rng(4).normal(size=out.shape)
    out.backward(Tensor(g))
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-12)


def test_logsumexp_refuses_axes_out_of_range_naming_itself():
    with pytest.raises(ValueError, match="logsumexp: axis 5 is out of range for a tensor with 2 dimensions"):
        F.logsumexp(mg.ones(2, 3), axis=5)
    with pytest.raises(ValueError, match="logsumexp: repeated axis"):
        F.logsumexp(mg.ones(2, 3), axis=(1, -1))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "naive_softmax"])
def test_softmax_family_names_itself_for_a_bad_axis(name: str) -> None:
    f = getattr(F, name)
    x = mg.randn(2, 3)
    with pytest.raises(ValueError, match=rf"^{name}: axis 5 is out of range for a tensor with 2 dimensions"):
        f(x, axis=5)
    with pytest.raises(TypeError, match=rf"^{name}: axis must be one integer"):
        f(x, axis=1.0)
    np.testing.assert_allclose(f(x, axis=-2).data, f(x, axis=0).data)  # negative axes still work
