"""minigrad against PyTorch in float64: forward, gradients and second derivatives of every primitive.

One line per op, as tinygrad's test_ops does: the same inputs go through a minigrad function and
the PyTorch function with the same meaning; outputs, gradients (for a random upstream gradient)
and the gradient of <grad, v> (create_graph) must agree. Skipped when torch is not installed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor

torch = pytest.importorskip("torch")


def check(shapes: list[tuple[int, ...]], mg_fn: Callable, torch_fn: Callable, low: float = -2.0,
          high: float = 2.0, seed: int = 0, second_order: bool = True) -> None:
    """Compare forward, first and second derivatives of mg_fn and torch_fn on random inputs."""
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(low, high, size=s) for s in shapes]
    mt = [Tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo, to = mg_fn(*mt), torch_fn(*tt)
    assert mo.shape == tuple(to.shape)
    assert mo.dtype == np.float64
    np.testing.assert_allclose(mo.data, to.detach().numpy(), rtol=1e-10, atol=1e-12)

    w = rng.normal(size=mo.shape)
    mo.backward(Tensor(w))
    to.backward(torch.tensor(w))
    for i, (m, t) in enumerate(zip(mt, tt)):
        assert m.grad is not None and m.grad.shape == m.shape, f"input {i}"
        np.testing.assert_allclose(m.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"input {i}")

    if not second_order:
        return
    # d/dx <d loss/dx, v> for loss = sum(f(x) * w): a Hessian-vector product, both ways.
    vs = [rng.normal(size=s) for s in shapes]
    mt = [Tensor(a, requires_grad=True) for a in arrays]
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    argnums = tuple(range(len(mt)))
    m_grads = mg.grad(lambda *xs: (mg_fn(*xs) * Tensor(w)).sum(), argnums=argnums)(*mt)
    m_hvp = sum(((g * Tensor(v)).sum() for g, v in zip(m_grads, vs)), Tensor(np.zeros(())))
    t_grads = torch.autograd.grad((torch_fn(*tt) * torch.tensor(w)).sum(), tt, create_graph=True)
    t_hvp = sum((g * torch.tensor(v)).sum() for g, v in zip(t_grads, vs))
    t_second = (torch.autograd.grad(t_hvp, tt, allow_unused=True) if t_hvp.requires_grad
                else [None] * len(tt))
    m_second = [None] * len(mt)
    if m_hvp.requires_grad:
        m_hvp.backward()
        m_second = [m.grad for m in mt]
    for i, (m, t) in enumerate(zip(m_second, t_second)):
        m_data = np.zeros(shapes[i]) if m is None else m.data
        t_data = np.zeros(shapes[i]) if t is None else t.numpy(force=True)  # force: abs'' is a ZeroTensor
        np.testing.assert_allclose(m_data, t_data, rtol=1e-9, atol=1e-11, err_msg=f"second order, input {i}")


def positive(shapes, mg_fn, torch_fn, **kw):
    check(shapes, mg_fn, torch_fn, low=0.5, high=2.0, **kw)


BROADCAST = [[(3, 4), (3, 4)], [(3, 1), (1, 4)], [(2, 3, 4), (4,)], [(1,), (2, 1, 3)], [(), (2, 3)]]


BINARY = {name: (mg_fn, torch_fn) for name, mg_fn, torch_fn in [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
    ("maximum", mg.maximum, torch.maximum),
    ("minimum", mg.minimum, torch.minimum),
    ("where", lambda a, b: mg.where(a > b, a, b * 2), lambda a, b: torch.where(a > b, a, b * 2)),
]}


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops(shapes, name) -> None:
    check(shapes, *BINARY[name])


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
def test_pow_both_gradients(shapes) -> None:
    positive(shapes, lambda a, b: a ** b, lambda a, b: a ** b)


UNARY = {name: (mg_fn, torch_fn, low) for name, mg_fn, torch_fn, low in [
    ("neg", lambda x: -x, lambda x: -x, -2),
    ("exp", mg.exp, torch.exp, -2),
    ("log", mg.log, torch.log, 0.2),
    ("sqrt", mg.sqrt, torch.sqrt, 0.2),
    ("abs", mg.abs, torch.abs, -2),
    ("tanh", mg.tanh, torch.tanh, -2),
    ("sigmoid", mg.sigmoid, torch.sigmoid, -2),
    ("relu", mg.relu, torch.relu, -2),
    ("clip", lambda x: x.clip(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), -2),
    ("clip_lo", lambda x: x.clip(lo=-0.5), lambda x: x.clamp(min=-0.5), -2),
    ("pow_2", lambda x: x ** 2, lambda x: x ** 2, -2),
    ("pow_3", lambda x: x ** 3, lambda x: x ** 3, -2),
    ("pow_half", lambda x: x ** 0.5, lambda x: x ** 0.5, 0.2),
    ("pow_neg", lambda x: x ** -1.5, lambda x: x ** -1.5, 0.2),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, -2),
    ("softmax", lambda x: x.softmax(), lambda x: torch.softmax(x, -1), -2),
    ("softmax_axis0", lambda x: x.softmax(axis=0), lambda x: torch.softmax(x, 0), -2),
    ("log_softmax", lambda x: x.log_softmax(), lambda x: torch.log_softmax(x, -1), -2),
    ("astype", lambda x: x.astype("float32").astype("float64"), lambda x: x.float().double(), -2),
]}


@pytest.mark.parametrize("shape", [(3, 4), (2, 1, 3), ()], ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_ops(name, shape) -> None:
    mg_fn, torch_fn, low = UNARY[name]
    if "softmax" in name and shape == ():  # softmax needs an axis
        shape = (5,)
    if name == "astype":
        # float32 rounding on the way: compare on values float32 represents exactly.
        rng = np.random.default_rng(0)
        a = np.round(rng.uniform(-2, 2, size=shape) * 64) / 64
        mt, tt = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        mg_fn(mt).sum().backward()
        torch_fn(tt).sum().backward()
        np.testing.assert_array_equal(mt.grad.data, tt.grad.numpy())
        assert mt.grad.dtype == np.float64
        return
    check([shape], mg_fn, torch_fn, low=low, high=2.0)


@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4, 3)), ((3, 4), (4,)),
    ((4,), (4,)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
], ids=str)
def test_matmul(a_shape, b_shape) -> None:
    check([a_shape, b_shape], lambda a, b: a @ b, torch.matmul)


@pytest.mark.parametrize("x_shape", [(5, 4), (4,), (2, 3, 4)], ids=str)
def test_linear(x_shape) -> None:
    """A Dense layer's fused node against torch's F.linear (which keeps the weight as (out, in))."""
    check([x_shape, (4, 3), (3,)], lambda x, w, b: mg.primitives.Linear.apply(x, w, b),
          lambda x, w, b: torch.nn.functional.linear(x, w.T, b))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (None, True), (0, False), (-1, True), ((0, 2), False),
                                            ((1, -1), True)], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions(name, axis, keepdims) -> None:
    def torch_fn(x):
        dim = tuple(range(x.ndim)) if axis is None else axis
        fn = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax, "min": torch.amin}[name]
        return fn(x, dim=dim, keepdim=keepdims)
    check([(2, 3, 4)], lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), torch_fn)


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_ties_split_like_torch_amax(name) -> None:
    a = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    m, t = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    getattr(m, name)(axis=1).sum().backward()
    {"max": torch.amax, "min": torch.amin}[name](t, dim=1).sum().backward()
    np.testing.assert_allclose(m.grad.data, t.grad.numpy())


def test_maximum_ties_split_like_torch() -> None:
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0])
    ma, mb = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    mg.maximum(ma, mb).sum().backward()
    torch.maximum(ta, tb).sum().backward()
    np.testing.assert_allclose(ma.grad.data, ta.grad.numpy())
    np.testing.assert_allclose(mb.grad.data, tb.grad.numpy())


SHAPE_OPS = {name: (shape, mg_fn, torch_fn) for name, shape, mg_fn, torch_fn in [
    ("reshape", (2, 3, 4), lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1)),
    ("transpose", (2, 3, 4), lambda x: x.transpose(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    ("T", (2, 3, 4), lambda x: x.T, lambda x: x.permute(2, 1, 0)),
    ("swapaxes", (2, 3, 4), lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1)),
    ("flatten", (2, 3, 4), lambda x: x.flatten(), lambda x: x.flatten()),
    ("flatten_1", (2, 3, 4, 1), lambda x: x.flatten(1, 2), lambda x: x.flatten(1, 2)),
    ("broadcast_to", (3, 1), lambda x: x.broadcast_to((2, 3, 4)), lambda x: x.broadcast_to((2, 3, 4))),
    ("getitem_int", (4, 3), lambda x: x[2], lambda x: x[2]),
    ("getitem_slice", (5, 4), lambda x: x[1:4, ::2], lambda x: x[1:4, ::2]),
    ("getitem_repeats", (4, 3), lambda x: x[np.array([0, 3, 0, 0, -1])],
     lambda x: x[torch.tensor([0, 3, 0, 0, -1])]),
    ("getitem_pairs", (4, 3), lambda x: x[np.array([0, 0, 2]), np.array([1, 1, 2])],
     lambda x: x[torch.tensor([0, 0, 2]), torch.tensor([1, 1, 2])]),
    ("getitem_mask", (3, 4), lambda x: x[x > 0], lambda x: x[x > 0]),
    ("getitem_none_ellipsis", (3, 4), lambda x: x[None, ..., 1], lambda x: x[None, ..., 1]),
]}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_ops(name) -> None:
    shape, mg_fn, torch_fn = SHAPE_OPS[name]
    check([shape], mg_fn, torch_fn)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_and_stack(axis) -> None:
    check([(2, 3), (2, 3), (2, 3)], lambda *xs: mg.stack(list(xs), axis=axis),
          lambda *xs: torch.stack(xs, dim=axis))
    shapes = [(2, 3), (2, 3)]
    shapes[1] = (4, 3) if axis == 0 else (2, 5)
    check(shapes, lambda *xs: mg.concatenate(list(xs), axis=axis), lambda *xs: torch.cat(xs, dim=axis))


def test_small_mlp_loss_and_gradients() -> None:
    """A 2-layer MLP with a log-softmax cross-entropy: loss and every parameter's gradient."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 5))
    labels = rng.integers(0, 4, size=8)
    params = [rng.normal(size=(5, 6)) * 0.5, rng.normal(size=6) * 0.1, rng.normal(size=(6, 4)) * 0.5,
              rng.normal(size=4) * 0.1]

    mp = [Tensor(p, requires_grad=True) for p in params]
    h = (Tensor(x) @ mp[0] + mp[1]).tanh()
    h = (h @ mp[2] + mp[3]).relu() + h.sum(axis=1, keepdims=True) * 0.1
    m_loss = -h.log_softmax()[np.arange(8), labels].mean()
    m_loss.backward()

    tp = [torch.tensor(p, requires_grad=True) for p in params]
    th = torch.tanh(torch.tensor(x) @ tp[0] + tp[1])
    th = torch.relu(th @ tp[2] + tp[3]) + th.sum(dim=1, keepdim=True) * 0.1
    t_loss = torch.nn.functional.cross_entropy(th, torch.tensor(labels))
    t_loss.backward()

    assert m_loss.item() == pytest.approx(t_loss.item(), rel=1e-12)
    for m, t in zip(mp, tp):
        assert m.grad.shape == m.shape
        np.testing.assert_allclose(m.grad.data, t.grad.numpy(), rtol=1e-10, atol=1e-13)
