"""Optimizers: each step equals a direct transcription of Keras' update; state round-trips exactly."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim


def _params(seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    shapes = [(4, 3), (3,), (3, 2), ()]
    return [mg.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True, name=f"p{i}")
            for i, s in enumerate(shapes)]


def _grads(step, shapes, dtype="float32"):
    rng = np.random.default_rng(100 + step)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _run(opt, params, steps, skip=None):
    """Apply `steps` optimizer steps with fixed pseudo-random gradients; `skip` = index left without grad."""
    for step in range(steps):
        for i, (p, g) in enumerate(zip(params, _grads(step, [q.shape for q in params], params[0].dtype))):
            p.grad = None if i == skip else mg.Tensor(g)
        opt.step()


def _sgd_reference(values, steps, lr, momentum=0.0, nesterov=False, skip=None):
    """Keras' SGD.update_step, transcribed (float64)."""
    values = [v.astype(np.float64) for v in values]
    velocity = [np.zeros_like(v) for v in values]
    for step in range(steps):
        for i, g in enumerate(_grads(step, [v.shape for v in values])):
            if i == skip:
                continue
            g = g.astype(np.float64)
            if momentum:
                velocity[i] = -g * lr + velocity[i] * momentum
                values[i] = values[i] + (-g * lr + velocity[i] * momentum if nesterov else velocity[i])
            else:
                values[i] = values[i] - g * lr
    return values


def _adam_reference(values, steps, lr, b1=0.9, b2=0.999, eps=1e-7, skip=None):
    """Keras' Adam.update_step, transcribed (float64)."""
    values = [v.astype(np.float64) for v in values]
    m = [np.zeros_like(v) for v in values]
    v2 = [np.zeros_like(v) for v in values]
    for step in range(steps):
        t = step + 1
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(_grads(step, [v.shape for v in values])):
            if i == skip:
                continue
            g = g.astype(np.float64)
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v2[i] = v2[i] + (np.square(g) - v2[i]) * (1 - b2)
            values[i] = values[i] - (m[i] * alpha) / (np.sqrt(v2[i]) + eps)
    return values


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True), (0.5, True)])
def test_sgd_matches_keras_formula(momentum, nesterov):
    params = _params()
    start = [p.data.copy() for p in params]
    opt = optim.SGD(params, learning_rate=0.1, momentum=momentum, nesterov=nesterov)
    _run(opt, params, 4)
    expected = _sgd_reference(start, 4, 0.1, momentum, nesterov)
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.data, e, rtol=1e-5, atol=1e-6)
    assert opt.iterations == 4


def test_sgd_first_step_by_hand():
    p = mg.Tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([p], learning_rate=0.5, momentum=0.9)
    p.grad = mg.Tensor([2.0, 4.0])
    opt.step()  # v = -0.5·g = [-1, -2]; p = [0, -4]
    np.testing.assert_allclose(p.data, [0.0, -4.0])
    opt.step()  # v = 0.9·v − 0.5·g = [-1.9, -3.8]; p = [-1.9, -7.8]
    np.testing.assert_allclose(p.data, [-1.9, -7.8], rtol=1e-6)


def test_adam_matches_keras_formula():
    params = _params()
    start = [p.data.copy() for p in params]
    opt = optim.Adam(params, learning_rate=0.01)
    _run(opt, params, 5)
    for p, e in zip(params, _adam_reference(start, 5, 0.01)):
        np.testing.assert_allclose(p.data, e, rtol=1e-5, atol=1e-6)


def test_adam_first_step_moves_each_value_by_lr():
    # With m = (1-β1)g, v = (1-β2)g², α = lr·√(1-β2)/(1-β1): the step is lr·g/(|g| + ε') ≈ lr·sign(g).
    p = mg.Tensor([1.0, 1.0, 1.0], requires_grad=True)
    opt = optim.Adam([p], learning_rate=0.1)
    p.grad = mg.Tensor([3.0, -0.5, 100.0])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, 1.1, 0.9], rtol=1e-5)


@pytest.mark.parametrize("make,reference", [
    (lambda ps: optim.Adam(ps, learning_rate=0.01), lambda v: _adam_reference(v, 3, 0.01, skip=1)),
    (lambda ps: optim.SGD(ps, learning_rate=0.1, momentum=0.9), lambda v: _sgd_reference(v, 3, 0.1, 0.9, skip=1)),
])
def test_params_without_grad_are_skipped(make, reference):
    params = _params()
    start = [p.data.copy() for p in params]
    opt = make(params)
    _run(opt, params, 3, skip=1)
    np.testing.assert_array_equal(params[1].data, start[1])
    for p, e in zip(params, reference(start)):
        np.testing.assert_allclose(p.data, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, learning_rate=0.01),
    lambda ps: optim.SGD(ps, learning_rate=0.1, momentum=0.9, nesterov=True),
])
def test_a_step_leaves_the_gradients_it_read_as_they_were(make):
    # The updates use their flat copy of the gradients as scratch; the tensors' .grad are the user's.
    params = _params()
    opt = make(params)
    grads = _grads(0, [p.shape for p in params])
    for p, g in zip(params, grads):
        p.grad = mg.Tensor(g.copy())
    opt.step()
    opt.step()  # a second step from the same .grad: the same gradient again, not the scratch
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.data, g)
    fresh = _params()
    ref = make(fresh)
    for _ in range(2):
        for p, g in zip(fresh, grads):
            p.grad = mg.Tensor(g.copy())
        ref.step()
    for p, q in zip(params, fresh):
        np.testing.assert_array_equal(p.data, q.data)


def test_step_without_any_grad_does_nothing():
    params = _params()
    start = [p.data.copy() for p in params]
    opt = optim.Adam(params)
    opt.step()
    assert opt.iterations == 0
    for p, s in zip(params, start):
        np.testing.assert_array_equal(p.data, s)


def test_params_become_views_of_one_flat_buffer():
    params = _params()
    values = [p.data.copy() for p in params]
    opt = optim.Adam(params)
    bases = {id(p.data.base) for p in params}
    assert len(bases) == 1
    for p, v in zip(params, values):
        np.testing.assert_array_equal(p.data, v)
    _run(opt, params, 2)
    assert {id(p.data.base) for p in params} == bases  # never rebound by a step


def test_rebound_data_is_taken_over():
    params = _params()
    opt = optim.SGD(params, learning_rate=1.0)
    params[0].data = np.zeros((4, 3), np.float32)  # a user replaces the array
    for p in params:
        p.grad = mg.Tensor(np.ones(p.shape, np.float32))
    opt.step()
    np.testing.assert_array_equal(params[0].data, -np.ones((4, 3)))
    assert params[0].data.base is params[1].data.base


def test_mixed_dtypes_are_grouped():
    a = mg.Tensor(np.ones(3, np.float32), requires_grad=True)
    b = mg.Tensor(np.ones(2, np.float64), requires_grad=True)
    opt = optim.SGD([a, b], learning_rate=0.5)
    a.grad, b.grad = mg.Tensor(np.ones(3, np.float32)), mg.Tensor(np.ones(2, np.float64))
    opt.step()
    np.testing.assert_array_equal(a.data, [0.5] * 3)
    np.testing.assert_array_equal(b.data, [0.5] * 2)
    assert a.dtype == np.float32 and b.dtype == np.float64


def test_training_a_quadratic_with_backward():
    # A real loop: zero_grad, backward, step — minimizes ||w - target||².
    target = np.array([1.0, -2.0, 3.0], np.float32)
    w = mg.Tensor(np.zeros(3, np.float32), requires_grad=True)
    opt = optim.Adam([w], learning_rate=0.1)
    for _ in range(300):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, target, atol=1e-2)


@pytest.mark.parametrize("make", [lambda ps: optim.Adam(ps, learning_rate=0.01, beta_1=0.8),
                                  lambda ps: optim.SGD(ps, learning_rate=0.1, momentum=0.9, nesterov=True)])
def test_state_dict_round_trip_resumes_exactly(make, tmp_path):
    reference = _params()
    opt_ref = make(reference)
    _run(opt_ref, reference, 6)

    params = _params()
    opt = make(params)
    _run(opt, params, 3)
    state = opt.state_dict()
    np.savez(tmp_path / "state.npz", **state)
    values = [p.data.copy() for p in params]

    # A fresh optimizer (different hyperparameters, to check they are restored) on fresh tensors.
    fresh = [mg.Tensor(v, requires_grad=True) for v in values]
    opt2 = type(opt)(fresh, learning_rate=0.5)
    with np.load(tmp_path / "state.npz") as f:
        opt2.load_state_dict(dict(f))
    assert opt2.iterations == 3 and opt2.get_config() == opt.get_config()
    for step in range(3, 6):
        for p, g in zip(fresh, _grads(step, [p.shape for p in fresh])):
            p.grad = mg.Tensor(g)
        opt2.step()
    for p, r in zip(fresh, reference):
        np.testing.assert_array_equal(p.data, r.data)


def test_state_loaded_before_binding_applies_at_bind():
    params = _params()
    opt = optim.Adam(params)
    _run(opt, params, 2)
    state = opt.state_dict()
    later = optim.Adam()
    later.load_state_dict(state)
    fresh = [mg.Tensor(p.data.copy(), requires_grad=True) for p in params]
    later.bind(fresh)
    again = later.state_dict()
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(again[key], value)
        else:
            assert again[key] == value


def test_state_dict_mismatch_is_refused_and_changes_nothing():
    params = _params()
    opt = optim.Adam(params)
    _run(opt, params, 1)
    state = opt.state_dict()
    state["m.2"] = np.zeros((5, 5), np.float32)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"'m\.2' has shape \(5, 5\).*\(3, 2\)"):
        opt.load_state_dict(state)
    after = opt.state_dict()
    np.testing.assert_array_equal(after["m.2"], before["m.2"])
    with pytest.raises(ValueError, match="for SGD, not Adam"):
        opt.load_state_dict(optim.SGD(_params()).state_dict())
    short = {k: v for k, v in opt.state_dict().items() if k != "v.3"}
    with pytest.raises(ValueError, match="no 'v.3'"):
        opt.load_state_dict(short)


def test_bad_arguments():
    with pytest.raises(ValueError, match="learning_rate must be a positive"):
        optim.Adam(learning_rate=-1)
    with pytest.raises(ValueError, match="beta_1"):
        optim.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD(momentum=-0.1)
    with pytest.raises(ValueError, match="requires_grad"):
        optim.SGD([mg.Tensor([1.0])])
    with pytest.raises(TypeError, match="only float"):
        optim.SGD([mg.Tensor([1, 2])])
    with pytest.raises(TypeError, match=r"Adam\(learning_rate=0.01\)"):
        optim.Adam(0.01)
    with pytest.raises(RuntimeError, match="no parameters"):
        optim.Adam().step()
    p = mg.Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p])
    p.grad = mg.Tensor([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        opt.step()
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        optim.get("adamw")
    assert isinstance(optim.get("SGD"), optim.SGD) and isinstance(optim.get("adam"), optim.Adam)


def test_learning_rate_schedule_callable():
    p = mg.Tensor([0.0], requires_grad=True)
    seen = []
    opt = optim.SGD([p], learning_rate=lambda step: seen.append(step) or 1.0 / (step + 1))
    for _ in range(3):
        p.grad = mg.Tensor([1.0])
        opt.step()
    assert seen == [0, 1, 2]
    np.testing.assert_allclose(p.data, [-(1 + 1 / 2 + 1 / 3)], rtol=1e-6)
    assert "learning_rate" not in opt.state_dict()


def test_zero_grad():
    params = _params()
    opt = optim.SGD(params)
    for p in params:
        p.grad = mg.Tensor(np.ones(p.shape, np.float32))
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("state, message", [
    ({}, "not an optimizer state"),
    ({"foo": 1}, "not an optimizer state .* keys: foo"),
    ({"optimizer": "Adam", "iterations": 1, "foo": 2}, "unknown entry 'foo'"),
    ({"optimizer": "Adam", "iterations": 5}, "says 5 steps were taken but holds none of the m/v arrays"),
    ({"optimizer": "Adam"}, "has no 'iterations'"),
])
def test_load_state_dict_refuses_states_that_would_silently_reset_the_moments(state, message) -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([w])
    w.grad = mg.Tensor(np.ones(3))
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["iterations"] == 1
    np.testing.assert_array_equal(after["m.0"], before["m.0"])  # nothing changed
    fresh = optim.Adam(learning_rate=1e-3).state_dict()  # saved before any step: no arrays, 0 steps
    opt.load_state_dict(fresh)
    assert opt.iterations == 0 and not opt.state_dict()["m.0"].any()
