"""minigrad.replay: traces write out exactly the numpy calls a step made, refuse what they cannot
replay, and fit's replayed steps train bit for bit as the eager ones do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn, optim
from minigrad.replay import Program, trace
from tests.strategies import FEW_SETTINGS

RNG = np.random.default_rng(0)


def _arrays(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [RNG.standard_normal(s).astype(np.float32) for s in shapes]


def _same(a: object, b: object) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ----- trace --------------------------------------------------------------------------------

def _step(x, w):
    h = np.maximum(x @ w, 0)  # ufuncs, operators
    h += 1.0  # in place, into an array the step made
    s = h.sum(axis=0, keepdims=True)  # a method numpy runs in C
    z = (h / s).T.reshape(-1)  # views
    idx = np.argmax(h, axis=1)
    picked = h[np.arange(len(h)), idx]  # fancy indexing with a traced index
    total = np.add.reduce(z, axis=None)  # a numpy scalar in eager numpy
    out = np.zeros_like(h)
    out[:, 0] = picked  # a write into an array made from a traced one
    return total, out, np.concatenate([z, picked])


def test_a_program_repeats_the_step_on_new_inputs():
    x, w = _arrays((5, 4), (4, 3))
    program, problems, _ = trace(_step, (x, w), ("x", "w"))
    assert problems == [] and isinstance(program, Program)
    assert program.source.startswith("def step(x, w):")
    assert "np.matmul(x, w)" in program.source and "np.add.reduce" in program.source
    for _ in range(3):
        x2, w2 = _arrays((5, 4), (4, 3))
        got, expected = program(x2, w2), _step(x2, w2)
        assert len(got) == 3 and all(_same(a, b) for a, b in zip(got, expected))


def test_the_trace_computes_real_values():
    x, w = _arrays((5, 4), (4, 3))
    seen = []
    trace(lambda a, b: seen.append(np.asarray(a @ b).copy()) or (a @ b,), (x, w), ("x", "w"))
    assert np.array_equal(seen[0], x @ w)


def test_constants_keep_their_names_and_are_read_when_the_program_runs():
    x, w = _arrays((2, 3), (3, 3))
    program, _, _ = trace(lambda a: (a @ w,), (x,), ("x",), weights={"dense.kernel": w})
    assert "np.matmul(x, dense_kernel)" in program.source
    w += 1.0  # an optimizer updates in place: the program reads the new values
    assert _same(program(x)[0], x @ w)


@pytest.mark.parametrize(("step", "problem"), [
    (lambda a: (a * 2,) if float(a.sum()) > -1e9 else (a,), "read into Python (float())"),
    (lambda a: (a * 2,) if (a > 100).any() or True else (a,), "read into Python (bool())"),
    (lambda a: (np.asarray(a) + a,), "outside numpy's dispatch"),
    (lambda a: (np.array(a) + 0,), "output 0 of the step was not made by numpy calls inside it"),
    (lambda a: (np.add(a, 1, out=CONSTANT),), "did not make"),
    (lambda a: (np.add(a, 1, out=a),), "writes into the step's input"),
    (lambda a: (np.multiply(a.reshape(-1), 2, out=a.reshape(-1)),), "writes into the step's input"),
    (lambda a: (a.view(np.int32) + 1,), "came from a numpy call the trace did not see"),
    (lambda a: (CONSTANT,), "output 0 of the step was not made"),
])
def test_what_cannot_be_replayed_is_refused_with_the_reason(step, problem):
    program, problems, _ = trace(step, (np.ones((2, 3), np.float32),), ("x",))
    assert program is None
    assert any(problem in p for p in problems), problems


CONSTANT = np.zeros((2, 3), np.float32)


def test_traces_do_not_nest_and_a_failed_step_ends_the_trace():
    x = np.ones(3)
    with pytest.raises(RuntimeError, match="do not nest"):
        trace(lambda a: trace(lambda b: (b,), (a,), ("b",)), (x,), ("a",))
    with pytest.raises(ZeroDivisionError):
        trace(lambda a: 1 / 0, (x,), ("a",))
    program, problems, _ = trace(lambda a: (a + 1,), (x,), ("a",))  # the next trace starts afresh
    assert problems == [] and _same(program(x)[0], x + 1)


def test_a_traced_array_outliving_its_trace_is_plain_numpy():
    kept = []
    trace(lambda a: kept.append(a) or (a + 1,), (np.ones(3),), ("a",))
    assert _same(kept[0] * 2, np.full(3, 2.0))


# ----- fit ----------------------------------------------------------------------------------

def _model(layers, loss, jit, seed=0, **compile_args):
    mg.manual_seed(seed)
    model = nn.Sequential(layers())
    model.compile(optimizer=optim.Adam(learning_rate=0.01), loss=loss, metrics=["accuracy"] if
                  isinstance(loss, (nn.SparseCategoricalCrossentropy, nn.CategoricalCrossentropy)) else None,
                  jit_compile=jit, **compile_args)
    return model


def _fit_both(layers, loss, x, y, **fit_args):
    """(eager model, jit model, their histories) after the same fit."""
    results = []
    for jit in (False, "auto"):
        model = _model(layers, loss, jit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the recovered-logits hint
            history = model.fit(x, y, verbose=0, **fit_args)
        results.append((model, history.history))
    return results


def _assert_same_training(results):
    (eager, h_eager), (jit, h_jit) = results
    assert eager.train_function is None
    assert jit.train_function is not None and jit.train_function.ready, jit.train_function.refused
    assert h_eager == h_jit
    for a, b in zip(eager.get_weights(), jit.get_weights(), strict=True):
        assert _same(a, b)


CLASSIFIERS = {
    "softmax output": (lambda: [nn.Dense(7, activation="relu"), nn.Dense(3, activation="softmax")],
                       nn.SparseCategoricalCrossentropy()),
    "logits": (lambda: [nn.Dense(6, activation="tanh"), nn.Dense(5, activation="sigmoid"), nn.Dense(3)],
               nn.SparseCategoricalCrossentropy(from_logits=True)),
    "images": (lambda: [nn.Flatten(), nn.Dense(4), nn.Activation("relu"), nn.Dense(3)],
               nn.SparseCategoricalCrossentropy(from_logits=True)),
    "summed": (lambda: [nn.Dense(3)], nn.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")),
}


@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_fit_replays_and_trains_bit_for_bit_as_eager(name):
    layers, loss = CLASSIFIERS[name]
    x = RNG.standard_normal((70, 2, 3) if name == "images" else (70, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 70)
    results = _fit_both(layers, loss, x, y, epochs=4, batch_size=16, validation_data=(x[:9], y[:9]))
    _assert_same_training(results)
    # 70 = 4 batches of 16 and one of 6: both shapes are replayed from the second epoch
    assert len(results[1][0].train_function.ready) == 2


@given(hidden=st.lists(st.integers(1, 5), min_size=0, max_size=2), batch=st.integers(1, 9),
       n=st.integers(1, 25), shuffle=st.booleans())
@FEW_SETTINGS
def test_fit_replay_matches_eager_for_any_shapes(hidden, batch, n, shuffle):
    def layers():
        return [*(nn.Dense(h, activation="relu") for h in hidden), nn.Dense(4)]
    x = RNG.standard_normal((n, 3)).astype(np.float32)
    y = RNG.integers(0, 4, n)
    results = _fit_both(layers, nn.SparseCategoricalCrossentropy(from_logits=True), x, y, epochs=3,
                        batch_size=batch, shuffle=shuffle)
    _assert_same_training(results)


@pytest.mark.parametrize(("layers", "loss", "targets"), [
    (lambda: [nn.Dense(4, activation="relu"), nn.Dense(1)], nn.MeanSquaredError(), "regression"),
    (lambda: [nn.Dense(4, activation="relu"), nn.Dense(1, activation="sigmoid")], nn.BinaryCrossentropy(), "binary"),
    (lambda: [nn.Dense(4), nn.Dense(3, activation="softmax")], nn.CategoricalCrossentropy(), "one-hot"),
])
def test_fit_replays_the_other_built_in_losses(layers, loss, targets):
    x = RNG.standard_normal((40, 5)).astype(np.float32)
    y = {"regression": x[:, :1] * 2 - 1, "binary": (x[:, :1] > 0).astype(np.float32),
         "one-hot": np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 40)]}[targets]
    _assert_same_training(_fit_both(layers, loss, x, y, epochs=3, batch_size=8))


def test_the_replayed_step_sets_each_batchs_gradients_for_callbacks():
    class Norms(nn.Callback):
        def __init__(self):
            self.norms = []

        def on_train_batch_end(self, batch, logs=None):
            self.norms.append([float(np.linalg.norm(p.grad.data)) for p in self.model.parameters()])

    norms = []
    for jit in (False, True):
        model = _model(CLASSIFIERS["logits"][0], CLASSIFIERS["logits"][1], jit)
        callback = Norms()
        model.fit(RNG.standard_normal((48, 6)).astype(np.float32) * 0 + 1, np.arange(48) % 3, epochs=2,
                  batch_size=8, verbose=0, callbacks=[callback])
        norms.append(callback.norms)
    assert len(norms[0]) == 12 and norms[0] == norms[1]


def test_new_parameter_arrays_are_seen_by_the_next_step():
    class Replace(nn.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                kernel = self.model.layers[0].kernel
                kernel.data = np.full_like(kernel.data, 0.5)  # a new array, not a write into the old one

    x, y = RNG.standard_normal((64, 6)).astype(np.float32), RNG.integers(0, 3, 64)
    weights = []
    for jit in (False, True):
        model = _model(CLASSIFIERS["logits"][0], CLASSIFIERS["logits"][1], jit)
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[Replace()], shuffle=False)
        weights.append((history.history, model.get_weights()))
    assert model.train_function.ready  # traced again after the change, and replayed
    assert weights[0][0] == weights[1][0]
    assert all(_same(a, b) for a, b in zip(weights[0][1], weights[1][1]))


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_detect_anomaly_runs_every_step_eagerly():
    x = RNG.standard_normal((64, 6)).astype(np.float32)
    x[60] = np.inf  # the last batch: by then the full-size batch shape would be replayed
    model = _model(CLASSIFIERS["logits"][0], CLASSIFIERS["logits"][1], True)
    with mg.detect_anomaly(), pytest.raises(mg.AnomalyError):
        model.fit(x, RNG.integers(0, 3, 64), epochs=1, batch_size=8, verbose=0, shuffle=False)


def test_auto_replays_only_built_in_layers_and_losses():
    x, y = RNG.standard_normal((32, 6)).astype(np.float32), RNG.integers(0, 3, 32)

    class Custom(nn.Layer):
        def call(self, t):
            return t * 2

    cases = [
        ([nn.Dense(3, activation=lambda t: t.relu())], nn.SparseCategoricalCrossentropy(from_logits=True)),
        ([Custom(), nn.Dense(3)], nn.SparseCategoricalCrossentropy(from_logits=True)),
        ([nn.Dense(3)], lambda yt, yp: mg.functional.softmax_cross_entropy(yp, yt)),
    ]
    for layers, loss in cases:
        model = _model(lambda layers=layers: layers, loss, "auto")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert model.train_function is None
    for jit, eagerly in ((False, False), ("auto", True)):
        model = _model(CLASSIFIERS["logits"][0], CLASSIFIERS["logits"][1], jit, run_eagerly=eagerly)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        assert model.train_function is None
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
        model.compile(loss="mse", jit_compile="yes")


def test_jit_compile_true_replays_custom_code_when_it_can_and_says_why_not():
    x, y = RNG.standard_normal((48, 6)).astype(np.float32), RNG.integers(0, 3, 48)

    class Double(nn.Layer):
        def call(self, t):
            return t * 2

    class Noise(nn.Layer):  # draws new numbers every batch: a replay would repeat the first batch's
        def call(self, t):
            return t + mg.randn(*t.shape) * 0.1

    results = []
    for jit in (False, True):
        model = _model(lambda: [Double(), nn.Dense(3)], nn.SparseCategoricalCrossentropy(from_logits=True), jit)
        results.append((model, model.fit(x, y, epochs=3, batch_size=8, verbose=0).history))
    _assert_same_training(results)

    model = _model(lambda: [Noise(), nn.Dense(3)], nn.SparseCategoricalCrossentropy(from_logits=True), True)
    with pytest.warns(RuntimeWarning, match="jit_compile=True, but batches of shape .* run eagerly: its replay "
                                            "differed from the eager step on the next batch"):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert not model.train_function.ready


def test_the_replayed_step_is_printable_numpy():
    model = _model(CLASSIFIERS["logits"][0], CLASSIFIERS["logits"][1], "auto")
    model.fit(RNG.standard_normal((32, 6)).astype(np.float32), RNG.integers(0, 3, 32), epochs=2, batch_size=8,
              verbose=0)
    text = repr(model.train_function)
    assert text.startswith("<TrainStep: 1 replayed batch shape(s)>")
    assert "def step(x, y):" in text and "np.matmul(x, dense_kernel)" in text
    assert "np.matmul(s" in text and "dense_1_kernel_T)" in text  # a weight's transpose by its name
    assert "[:, None]" in text  # indexing as Python writes it
    assert "np.arange(8)\n" in text  # constants described in the header, as "# c7 = np.arange(8)"


def test_gradients_that_eager_backward_keeps_apart_stay_apart_in_the_replay():
    def step(x):
        a, b = mg.Tensor._wrap(x).requires_grad_(), mg.Tensor._wrap(x * 2).requires_grad_()
        # add hands one gradient (x, from the product) to both reshapes, each makes its own view of it:
        # two arrays of the same memory reach the leaves, and the engine copies it for the second
        ((a.reshape(1, 3) + b.reshape(1, 3)) * mg.Tensor._wrap(x)).sum().backward()
        return a.grad.data, b.grad.data

    x = np.ones(3, np.float32)
    program, problems, _ = trace(step, (x,), ("x",))
    assert problems == []
    x = np.arange(3, dtype=np.float32)
    ga, gb = program(x)
    assert _same(ga, x) and _same(gb, x)
    assert not np.shares_memory(ga, gb)


def test_a_constant_never_takes_an_input_name():
    w = np.ones((2, 2), np.float32)
    program, _, _ = trace(lambda x: (x @ w,), (np.zeros((1, 2), np.float32),), ("x",), weights={"x": w})
    assert "def step(x):" in program.source and _same(program(np.ones((1, 2), np.float32))[0], np.full((1, 2), 2.0, np.float32))


def test_a_program_shows_its_source_in_tracebacks():
    program, _, _ = trace(lambda a, b: (a @ b,), (np.ones((2, 3)), np.ones((3, 2))), ("a", "b"))
    with pytest.raises(ValueError) as info:
        program(np.ones((2, 3)), np.ones((4, 2)))
    assert "np.matmul(a, b)" in "".join(__import__("traceback").format_tb(info.tb))


# ----- what a replay must not freeze (each case once trained differently from eager) ---------------

def _fit_same(layers, callbacks=(), jit="auto", loss=None, x=None, y=None, epochs=3):
    """Fit with jit_compile=False and `jit` from the same start; both results must be equal bit for bit."""
    x = RNG.standard_normal((64, 5)).astype(np.float32) if x is None else x
    y = RNG.integers(0, 3, 64) if y is None else y
    results = []
    for mode in (False, jit):
        model = _model(layers, loss() if loss else nn.SparseCategoricalCrossentropy(from_logits=True), mode)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            history = model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=[c() for c in callbacks])
        results.append((model, history.history))
    (eager, h_eager), (replayed, h_replayed) = results
    assert h_eager == h_replayed
    assert all(_same(a, b) for a, b in zip(eager.get_weights(), replayed.get_weights(), strict=True))
    return replayed


class _AfterFirstEpoch(nn.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.change(self.model)


def _two_dense():
    return [nn.Dense(8, activation="relu"), nn.Dense(3)]


def test_freezing_a_layer_during_fit_freezes_it_in_the_replay_too():
    class Freeze(_AfterFirstEpoch):
        def change(self, model):
            for t in (model.layers[0].kernel, model.layers[0].bias):
                t.requires_grad_(False)

    model = _fit_same(_two_dense, [Freeze])
    assert model.train_function.ready and model.layers[0].kernel.grad is None


def test_a_new_weight_tensor_or_a_swapped_layer_is_traced_again():
    class NewKernel(_AfterFirstEpoch):
        def change(self, model):
            dense = model.layers[-1]
            dense.kernel = mg.Tensor(np.zeros(dense.kernel.shape, np.float32), requires_grad=True)

    class Swap(_AfterFirstEpoch):
        def change(self, model):
            model.layers[1] = nn.Activation("tanh")

    class Summed(_AfterFirstEpoch):
        def change(self, model):
            model.loss.reduction = "sum"  # a loss setting: the replay must follow it too

    for layers, change in ((lambda: [nn.Dense(8), nn.Activation("relu"), nn.Dense(3)], Swap), (_two_dense, Summed)):
        model = _fit_same(layers, [change])
        # a new layer also sets its name and shapes on its first call: one more retrace
        assert model.train_function.ready and 1 <= model.train_function.retraces <= 2
    # The new kernel is not one of fit's parameters, so eager backward keeps adding to its .grad
    # batch after batch; a replay would not, so that shape stays eager.
    model = _fit_same(_two_dense, [NewKernel])
    assert "also sets .grad of" in model.train_function.refusals()


def test_auto_does_not_replay_an_activation_layer_with_user_code():
    temperature = [1.0]

    class Anneal(_AfterFirstEpoch):
        def on_train_begin(self, logs=None):
            temperature[0] = 1.0

        def change(self, model):
            temperature[0] = 0.25  # read by the activation below: a replay would keep 1.0

    model = _fit_same(lambda: [nn.Dense(8), nn.Activation(lambda z: z * (1.0 / temperature[0])), nn.Dense(3)],
                      [Anneal])
    assert model.train_function is None


def test_user_code_runs_once_per_batch_under_jit_compile_true():
    class Noise(nn.Layer):  # draws from minigrad's generator, which also shuffles the batches
        def call(self, t):
            return t + mg.Tensor(mg.creation.generator().standard_normal(t.shape).astype(np.float32) * 0.1)

    class RunningMean(nn.Layer):  # keeps state across batches, as BatchNorm's moving mean does
        def __init__(self):
            super().__init__()
            self.mean = np.zeros(5, np.float32)

        def call(self, t):
            self.mean += 0.1 * (t.data.mean(axis=0) - self.mean)
            return t

    _fit_same(lambda: [Noise(), nn.Dense(3)], jit=True)
    model = _fit_same(lambda: [RunningMean(), nn.Dense(3)], jit=True)
    assert "did not make" in model.train_function.refusals()


def test_a_tensor_made_from_traced_targets_is_traced_not_frozen():
    # sorted targets and no shuffling: the second batch's targets equal the first's, so only the
    # trace itself can tell that the loss reads this batch's targets
    y = np.repeat(np.arange(2, dtype=np.int64), 32)

    def loss():
        return lambda y_true, y_pred: mg.functional.mse(y_pred, mg.Tensor(y_true, dtype="float32"))

    x = np.concatenate([RNG.standard_normal((32, 5)) - 1, RNG.standard_normal((32, 5)) + 1]).astype(np.float32)
    model = _fit_same(lambda: [nn.Dense(4, activation="relu"), nn.Dense(1)], jit=True, loss=loss, x=x, y=y)
    assert model.train_function.ready


def test_in_place_sorts_are_noted():
    x = RNG.standard_normal((4, 3)).astype(np.float32)

    def sorts(a):
        h = a * 1.0
        h.sort(axis=1)
        return (h,)

    program, problems, _ = trace(sorts, (x,), ("x",))
    x2 = RNG.standard_normal((4, 3)).astype(np.float32)
    assert problems == [] and _same(program(x2)[0], np.sort(x2, axis=1))


def test_names_python_would_fold_are_not_used():
    w1, w2 = np.full((2, 2), 1.0, np.float32), np.full((2, 2), 2.0, np.float32)
    x = np.ones((1, 2), np.float32)
    program, _, _ = trace(lambda a: (a @ w1 @ w2,), (x,), ("x",), {"\ufb01": w1, "fi": w2})  # "ﬁ" folds to "fi"
    assert _same(program(x)[0], x @ w1 @ w2)


@pytest.mark.parametrize(("layers", "loss"), [
    (lambda: [nn.Dense(4), nn.Dense(3, activation="softmax")], nn.MeanSquaredError()),  # broadcast_to
    (lambda: [nn.Dense(4), nn.Dense(3, activation="sigmoid")], nn.CategoricalCrossentropy()),  # clipped rows
])
def test_built_in_composites_replay_too(layers, loss):
    x = RNG.standard_normal((40, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 40)]
    _assert_same_training(_fit_both(layers, loss, x, y, epochs=3, batch_size=8))


def test_a_composite_cross_entropy_replays_with_its_label_check_in_the_program():
    x = RNG.standard_normal((40, 5)).astype(np.float32)
    y = RNG.integers(0, 3, 40)
    # outputs that are not a softmax's: the clipped composite loss, which checks the labels itself
    layers = (lambda: [nn.Dense(4), nn.Dense(3, activation="sigmoid")])
    _assert_same_training(_fit_both(layers, nn.SparseCategoricalCrossentropy(), x, y, epochs=3, batch_size=8))

    def step(p, labels):
        return (mg.functional.cross_entropy(mg.Tensor(p), labels).data,)

    p = np.full((4, 3), 1 / 3, np.float32)
    program, reasons, _ = trace(step, (p, np.array([0, 1, 2, 0])), ("p", "labels"))
    assert reasons == [] and "class_indices(" in program.source
    with pytest.raises(ValueError, match="label 7 at position 1 is out of range for 3 classes"):
        program(p, np.array([0, 7, 2, 0]))  # the replay checks each batch's labels, as eager does


def test_jit_compile_takes_true_false_or_auto_only():
    model = nn.Sequential([nn.Dense(2)])
    for bad in (1, 0, "yes", None):
        with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'"):
            model.compile(loss="mse", jit_compile=bad)


def test_an_error_in_the_users_code_is_raised_as_eager_raises_it():
    class Fails(nn.Layer):
        def call(self, t):
            if self.built and t.shape[0] == 8:
                raise ValueError("my layer refuses batches of 8")
            return t

    model = _model(lambda: [Fails(), nn.Dense(3)], nn.SparseCategoricalCrossentropy(from_logits=True), True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no "tracing it failed" before the real error
        with pytest.raises(ValueError, match="my layer refuses batches of 8"):
            model.fit(RNG.standard_normal((16, 5)).astype(np.float32), RNG.integers(0, 3, 16), batch_size=8,
                      verbose=0)


def test_a_head_replaced_keras_style_is_never_confused_with_the_old_one():
    # model.layers.pop(); model.add(...): the old head is freed, and the new one may get its id
    class NewHead(nn.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch:
                self.model.layers.pop()
                self.model.add(nn.Dense(3))

    _fit_same(_two_dense, [NewHead], epochs=5)


def test_a_layer_added_during_fit_is_watched_from_then_on():
    class Grow(_AfterFirstEpoch):
        def change(self, model):
            model.add(nn.Dense(3))

    class NewArray(nn.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                head = self.model.layers[-1]
                head.kernel.data = np.full_like(head.kernel.data, 0.1)  # a new array for the added layer

    _fit_same(_two_dense, [Grow, NewArray], epochs=4)


def test_fit_called_again_reuses_its_programs_and_callbacks_setting_model_attributes_do_not_retrace():
    class Note(nn.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.last_logs = dict(logs)  # a new object on the model every batch

    x, y = RNG.standard_normal((16, 5)).astype(np.float32), RNG.integers(0, 3, 16)
    model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), "auto")
    first = None
    for _ in range(4):  # one batch of 16 per fit: trace, check, then replay in later calls
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[Note()])
        first = first or model.train_function
    assert model.train_function is first and first.ready and first.retraces == 0
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    assert model.train_function is None  # compiled again: programs for the old optimizer go


def test_a_weight_named_like_a_keyword_still_replays():
    model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), "auto")
    model.fit(RNG.standard_normal((16, 5)).astype(np.float32), RNG.integers(0, 3, 16), batch_size=8, verbose=0)
    model.layers[0].kernel.name, model.layers[1].kernel.name = "lambda", "step"
    x, y = RNG.standard_normal((32, 5)).astype(np.float32), RNG.integers(0, 3, 32)
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, verbose=0)
    assert model.train_function.ready, model.train_function.refusals()


def test_a_traced_array_left_from_an_earlier_trace_is_data_to_the_next():
    kept = []
    trace(lambda a: kept.append(a * 2) or (a + 1,), (np.ones(3),), ("a",))
    program, reasons, _ = trace(lambda b: (b + kept[0],), (np.zeros(3),), ("b",))
    assert reasons == [] and _same(program(np.ones(3))[0], np.full(3, 3.0))


def test_warnings_of_the_checked_batch_come_once():
    x = np.full((16, 5), 1e30, np.float32)  # overflows in the loss: numpy warns on every step
    model = _model(lambda: [nn.Dense(3)], nn.MeanSquaredError(), "auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, np.zeros((16, 3), np.float32), epochs=3, batch_size=8, verbose=0)
    eager = _model(lambda: [nn.Dense(3)], nn.MeanSquaredError(), False)
    with warnings.catch_warnings(record=True) as caught_eagerly:
        warnings.simplefilter("always")
        eager.fit(x, np.zeros((16, 3), np.float32), epochs=3, batch_size=8, verbose=0)
    assert len(caught_eagerly) > 0 and len(caught) <= len(caught_eagerly)


def test_a_loss_set_between_fits_is_not_replayed_with_the_old_ones_program():
    x, y = RNG.standard_normal((32, 5)).astype(np.float32), RNG.integers(0, 3, 32)
    histories = []
    for jit in (False, "auto"):
        model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), jit)
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        model.loss = nn.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")  # no compile
        histories.append(model.fit(x, y, epochs=2, batch_size=8, verbose=0).history)
    assert histories[0] == histories[1]


@pytest.mark.filterwarnings("ignore:.*looks like probabilities")
def test_a_new_layers_list_or_an_overridden_forward_is_not_replayed_stale():
    x, y = RNG.standard_normal((32, 5)).astype(np.float32), RNG.integers(0, 3, 32)
    histories = []
    for jit in (False, "auto"):
        model = _model(lambda: [nn.Dense(8), nn.Dense(3), nn.Activation("softmax")],
                       nn.SparseCategoricalCrossentropy(from_logits=True), jit)
        model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        model.layers = model.layers[:-1]  # a new list: the softmax goes
        histories.append(model.fit(x, y, epochs=3, batch_size=8, verbose=0).history)
    assert histories[0] == histories[1]

    model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), "auto")
    original = model.forward
    model.forward = lambda t: original(t * 2.0)  # user code on the instance: not minigrad's own
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert model.train_function is None


def test_a_model_fitted_with_replay_can_be_copied_and_pickled():
    import copy
    import pickle

    model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), "auto")
    x, y = RNG.standard_normal((32, 5)).astype(np.float32), RNG.integers(0, 3, 32)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert model.train_function.ready
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.train_function is None  # its own arrays: it traces its own step
        assert all(_same(a, b) for a, b in zip(clone.get_weights(), model.get_weights(), strict=True))
        clone.fit(x, y, epochs=2, batch_size=8, verbose=0)
        assert clone.train_function.ready


def test_a_shape_seen_once_is_not_traced_and_programs_stay_few():
    model = _model(_two_dense, nn.SparseCategoricalCrossentropy(from_logits=True), "auto")
    for n in range(10, 40):  # a growing buffer, one batch per fit: every shape new
        model.fit(RNG.standard_normal((n, 5)).astype(np.float32), RNG.integers(0, 3, n), batch_size=n, verbose=0)
    step = model.train_function
    assert not step.ready and not step.pending  # nothing traced: no shape came back


def test_a_custom_model_is_not_retraced_by_fits_own_bookkeeping():
    class Net(nn.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = nn.Dense(8, activation="relu"), nn.Dense(3)

        def forward(self, t):
            return self.out(self.hidden(t))

    mg.manual_seed(0)
    model = Net()
    model.compile(optimizer="adam", loss=nn.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    x, y = RNG.standard_normal((32, 5)).astype(np.float32), RNG.integers(0, 3, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for _ in range(20):
            model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert model.train_function.ready and model.train_function.retraces == 0
