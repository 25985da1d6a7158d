"""Keras-style losses: values from Keras' documentation, logit recovery, warnings, labels, dtypes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import Tensor, nn
from minigrad.nn import losses


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def caught(fn, *args):
    """Call fn and return (result, the UserWarnings it raised)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        result = fn(*args)
    return result, [r for r in records if issubclass(r.category, UserWarning)]


# ----- the values Keras' documentation gives ------------------------------------------------

def test_keras_documented_values():
    probs = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]], dtype=np.float32)
    assert nn.SparseCategoricalCrossentropy()(np.array([1, 2]), Tensor(probs)).item() == pytest.approx(1.177, abs=1e-3)
    onehot = np.array([[0, 1, 0], [0, 0, 1]])
    assert nn.CategoricalCrossentropy()(onehot, Tensor(probs)).item() == pytest.approx(1.177, abs=1e-3)
    logits = Tensor([-18.6, 0.51, 2.94, -12.8])
    bce = nn.BinaryCrossentropy(from_logits=True)
    assert bce(np.array([0.0, 1.0, 0.0, 0.0]), logits).item() == pytest.approx(0.865, abs=1e-3)
    mse = nn.MeanSquaredError()
    assert mse(np.array([[0.0, 1.0], [0.0, 0.0]]), Tensor([[1.0, 1.0], [1.0, 0.0]])).item() == pytest.approx(0.5)


def test_losses_return_scalar_tensors_with_gradients():
    z = Tensor(rng().normal(size=(4, 3)), requires_grad=True)
    labels = np.array([0, 2, 1, 1])
    for loss_fn, target in ((nn.SparseCategoricalCrossentropy(from_logits=True), labels),
                            (nn.CategoricalCrossentropy(from_logits=True), np.eye(3)[labels]),
                            (nn.BinaryCrossentropy(from_logits=True), np.eye(3)[labels]),
                            (nn.MeanSquaredError(), np.eye(3)[labels])):
        z.grad = None
        loss = loss_fn(target, z)
        assert isinstance(loss, Tensor) and loss.shape == ()
        loss.backward()
        assert z.grad is not None and z.grad.shape == (4, 3)


# ----- from_logits=True uses the fused op -----------------------------------------------------

def test_from_logits_uses_the_fused_ops():
    z = Tensor(rng(1).normal(size=(5, 4)), requires_grad=True)
    labels = rng(2).integers(0, 4, size=5)
    sparse = nn.SparseCategoricalCrossentropy(from_logits=True)(labels, z)
    assert [node.op for node in mg.trace(sparse).nodes] == ["softmax_cross_entropy"]
    assert mg.trace(sparse).nodes[0].scope == "sparse_categorical_crossentropy"
    np.testing.assert_allclose(sparse.item(), F.softmax_cross_entropy(z, labels).item(), rtol=1e-12)
    binary = nn.BinaryCrossentropy(from_logits=True)(np.eye(4)[labels], z)
    assert [node.op for node in mg.trace(binary).nodes] == ["sigmoid_binary_cross_entropy"]


# ----- from_logits=False: recovery, clipping and the warnings ---------------------------------

def test_softmax_output_recovers_the_logits_and_warns_once_per_loss_object():
    z = Tensor(rng(3).normal(size=(6, 4)) * 40, requires_grad=True)  # saturated probabilities
    labels = rng(4).integers(0, 4, size=6)
    loss_fn = nn.SparseCategoricalCrossentropy()
    loss, warned = caught(loss_fn, labels, F.softmax(z))
    assert len(warned) == 1
    message = str(warned[0].message)
    assert "recovered the logits" in message and "from_logits=True" in message
    assert "warnings.filterwarnings" in message
    assert warned[0].filename == __file__  # points at the caller of loss(...), not at minigrad
    np.testing.assert_allclose(loss.item(), F.softmax_cross_entropy(z, labels).item(), rtol=1e-12)
    assert "softmax_cross_entropy" in [node.op for node in mg.trace(loss).nodes]
    loss.backward()
    p = F.softmax(z).data
    np.testing.assert_allclose(z.grad.data, (p - np.eye(4)[labels]) / 6, rtol=1e-9, atol=1e-15)
    _, again = caught(loss_fn, labels, F.softmax(z))
    assert again == []  # once per loss object
    _, other = caught(nn.SparseCategoricalCrossentropy(), labels, F.softmax(z))
    assert len(other) == 1


def test_recovery_works_under_no_grad_as_in_evaluate():
    z = Tensor(rng(5).normal(size=(4, 3)) * 60)
    labels = np.array([0, 1, 2, 0])
    with mg.no_grad():
        p = F.softmax(z)
        assert p.op is None
        loss, warned = caught(nn.SparseCategoricalCrossentropy(), labels, p)
    assert len(warned) == 1
    np.testing.assert_allclose(loss.item(), F.softmax_cross_entropy(z, labels).item(), rtol=1e-12)
    clipped = nn.SparseCategoricalCrossentropy()(labels, Tensor(p.data))  # same values, no history
    assert clipped.item() != pytest.approx(loss.item(), rel=1e-3)  # clipping caps -log p at 16.1


def test_sigmoid_output_recovers_the_logits_recorded_or_not():
    z = Tensor(rng(6).normal(size=(5, 3)) * 30, requires_grad=True)
    y = (rng(7).random(size=(5, 3)) > 0.5).astype(np.float32)
    expected = F.sigmoid_binary_cross_entropy(z, y).item()
    for make in (lambda: z.sigmoid(), lambda: F.sigmoid(z)):
        loss, warned = caught(nn.BinaryCrossentropy(), y, make())
        assert len(warned) == 1 and "recovered the logits" in str(warned[0].message)
        np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    with mg.no_grad():
        loss, warned = caught(nn.BinaryCrossentropy(), y, F.sigmoid(z))
    assert len(warned) == 1
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)


def test_warning_can_be_silenced_as_the_message_says():
    z = Tensor(rng(8).normal(size=(2, 3)))
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=".*recovered the logits")
        nn.SparseCategoricalCrossentropy()(np.array([0, 1]), F.softmax(z))
    assert records == []


def test_from_logits_true_on_probabilities_warns_that_they_look_like_probabilities():
    z = Tensor(rng(9).normal(size=(3, 4)))
    labels = np.array([0, 1, 3])
    p = F.softmax(z)
    loss, warned = caught(nn.SparseCategoricalCrossentropy(from_logits=True), labels, p)
    assert len(warned) == 1 and "looks like probabilities" in str(warned[0].message)
    # It does what it was asked: treats p as logits.
    np.testing.assert_allclose(loss.item(), F.softmax_cross_entropy(p, labels).item(), rtol=1e-12)
    _, warned = caught(nn.BinaryCrossentropy(from_logits=True), np.ones((3, 4)), z.sigmoid())
    assert len(warned) == 1 and "sigmoid" in str(warned[0].message)
    _, none = caught(nn.SparseCategoricalCrossentropy(from_logits=True), labels, z)
    assert none == []


def test_wrong_activation_is_not_recovered():
    z = Tensor(rng(10).normal(size=(3, 4)))
    y = (rng(11).random(size=(3, 4)) > 0.5).astype(np.float64)
    # A softmax output given to BinaryCrossentropy must not be treated as sigmoid logits.
    loss, warned = caught(nn.BinaryCrossentropy(), y, F.softmax(z))
    assert warned == []
    p = np.clip(F.softmax(z).data, 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(loss.item(), -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(), rtol=1e-12)
    _, warned = caught(nn.SparseCategoricalCrossentropy(), np.array([0, 1, 2]), z.sigmoid())
    assert warned == []


def test_probabilities_without_history_are_clipped_like_keras():
    probs = Tensor(np.array([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]), requires_grad=True)
    labels = np.array([1, 2])
    loss, warned = caught(nn.SparseCategoricalCrossentropy(), labels, probs)
    assert warned == []
    expected = (-np.log(1e-7) - np.log(0.5)) / 2
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    loss.backward()
    assert np.isfinite(probs.grad.data).all()
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(nn.CategoricalCrossentropy()(onehot, probs).item(), expected, rtol=1e-12)
    # Keras rescales rows to sum to 1 before clipping.
    unnormalised = Tensor(np.array([[2.0, 2.0]]))
    np.testing.assert_allclose(nn.SparseCategoricalCrossentropy()(np.array([0]), unnormalised).item(),
                               np.log(2), rtol=1e-12)
    binary = nn.BinaryCrossentropy()(np.array([1.0, 0.0]), Tensor(np.array([0.0, 1.0])))
    np.testing.assert_allclose(binary.item(), -np.log(1e-7), rtol=1e-6)


# ----- labels, shapes, dtypes, reductions ----------------------------------------------------

def test_label_forms_keras_accepts():
    z = Tensor(rng(12).normal(size=(4, 3)))
    labels = np.array([0, 2, 1, 1])
    loss_fn = nn.SparseCategoricalCrossentropy(from_logits=True)
    expected = loss_fn(labels, z).item()
    for form in (labels.reshape(-1, 1), labels.astype(np.float32), Tensor(labels), labels.tolist(),
                 Tensor(labels.reshape(-1, 1).astype(np.float64))):
        assert loss_fn(form, z).item() == pytest.approx(expected, rel=1e-12)
    cat = nn.CategoricalCrossentropy(from_logits=True)
    assert cat(Tensor(np.eye(3)[labels]), z).item() == pytest.approx(expected, rel=1e-12)
    assert cat(np.eye(3, dtype=np.int64)[labels], z).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("labels", "message"), [
    (np.array([0, 3]), r"SparseCategoricalCrossentropy: label 3 at position 1 is out of range for 3 classes"),
    (np.array([-2, 0]), r"label -2 at position 0 is out of range for 3 classes \(valid labels are 0..2\)"),
    (np.array([0.0, 1.5]), r"label 1.5 at position 1 is not a class index: .* 0..2 for 3 classes"),
    (np.array([0, 1, 2]), r"labels have shape \(3,\) but the batch has 2 rows"),
    (np.eye(3)[[0, 1]], r"look like one-hot rows; .*Use CategoricalCrossentropy"),
])
def test_sparse_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        nn.SparseCategoricalCrossentropy(from_logits=True)(labels, Tensor(np.zeros((2, 3))))


def test_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"y_true has shape \(2,\) but y_pred has shape \(2, 3\).*Sparse"):
        nn.CategoricalCrossentropy()(np.array([0, 1]), Tensor(np.full((2, 3), 1 / 3)))
    with pytest.raises(ValueError, match=r"y_pred must have shape \(N, C\).*got \(3,\)"):
        nn.SparseCategoricalCrossentropy()(np.array([0]), Tensor(np.full(3, 1 / 3)))
    with pytest.raises(ValueError, match=r"BinaryCrossentropy: y_true has shape \(3, 2\) but y_pred has shape"):
        nn.BinaryCrossentropy()(np.zeros((3, 2)), Tensor(np.full((2, 3), 0.5)))
    with pytest.raises(TypeError, match="y_pred must be a float tensor"):
        nn.MeanSquaredError()(np.zeros(3), Tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MeanSquaredError(reduction="avg")


def test_trailing_axis_of_one_is_squeezed_or_expanded_like_keras():
    pred = Tensor(np.array([[0.2], [0.9], [0.6]]))
    y = np.array([0.0, 1.0, 1.0])
    assert nn.BinaryCrossentropy()(y, pred).item() == pytest.approx(
        nn.BinaryCrossentropy()(y.reshape(3, 1), pred).item(), rel=1e-12)
    assert nn.MeanSquaredError()(y, pred).item() == pytest.approx(((pred.data[:, 0] - y) ** 2).mean())


def test_float_targets_take_the_predictions_dtype():
    z = Tensor(rng(13).normal(size=(3, 2)).astype(np.float32), requires_grad=True)
    y64 = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    for loss_fn in (nn.BinaryCrossentropy(from_logits=True), nn.BinaryCrossentropy(),
                    nn.CategoricalCrossentropy(from_logits=True), nn.MeanSquaredError()):
        loss = loss_fn(y64 / y64.sum(axis=1, keepdims=True) if "Categorical" in repr(loss_fn) else y64, z)
        assert loss.dtype == np.float32, loss_fn


def test_reductions_sum_and_none_are_per_sample_like_keras():
    z = Tensor(rng(14).normal(size=(4, 3)))
    y = (rng(15).random(size=(4, 3)) > 0.5).astype(np.float64)
    labels = np.array([0, 1, 2, 1])
    per_row = F.softmax_cross_entropy(z, labels, reduction="none").data
    none = nn.SparseCategoricalCrossentropy(from_logits=True, reduction="none")(labels, z)
    np.testing.assert_allclose(none.data, per_row, rtol=1e-12)
    summed = nn.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")(labels, z)
    np.testing.assert_allclose(summed.item(), per_row.sum(), rtol=1e-12)
    keras_mean = nn.SparseCategoricalCrossentropy(from_logits=True, reduction="sum_over_batch_size")
    np.testing.assert_allclose(keras_mean(labels, z).item(), per_row.mean(), rtol=1e-12)
    per_sample = F.sigmoid_binary_cross_entropy(z, y, reduction="none").data.mean(axis=1)
    np.testing.assert_allclose(nn.BinaryCrossentropy(from_logits=True, reduction="none")(y, z).data,
                               per_sample, rtol=1e-12)
    np.testing.assert_allclose(nn.BinaryCrossentropy(from_logits=True, reduction="sum")(y, z).item(),
                               per_sample.sum(), rtol=1e-12)
    np.testing.assert_allclose(nn.MeanSquaredError(reduction="none")(y, z).data,
                               ((z.data - y) ** 2).mean(axis=1), rtol=1e-12)


class PerSampleSquaredError(nn.Loss):
    """Keras' documented way to write a loss: call() returns one value per sample, __call__ reduces."""

    def call(self, y_true, y_pred):
        return ((y_pred - y_true) ** 2).mean(axis=-1)


def test_a_loss_subclass_gets_its_reduction_applied_like_keras():
    y = rng(16).normal(size=(5, 2))
    z = Tensor(rng(17).normal(size=(5, 2)), requires_grad=True)
    per_sample = ((z.data - y) ** 2).mean(axis=-1)
    mean = PerSampleSquaredError()(y, z)
    assert mean.shape == () and mean.item() == pytest.approx(per_sample.mean(), rel=1e-12)
    mean.backward()
    np.testing.assert_allclose(z.grad.data, 2 * (z.data - y) / z.size, rtol=1e-12)
    assert PerSampleSquaredError(reduction="sum")(y, z).item() == pytest.approx(per_sample.sum(), rel=1e-12)
    np.testing.assert_allclose(PerSampleSquaredError(reduction="none")(y, z).data, per_sample, rtol=1e-12)
    # Keras' "sum_over_batch_size" divides by every element: a (N, k) output is averaged over all of it
    class Elementwise(nn.Loss):
        def call(self, y_true, y_pred):
            return (y_pred - y_true) ** 2
    assert Elementwise()(y, z).item() == pytest.approx(((z.data - y) ** 2).mean(), rel=1e-12)
    assert Elementwise(reduction="none")(y, z).shape == (5, 2)


@pytest.mark.parametrize(("true_shape", "pred_shape", "expected"), [
    ((4,), (4, 1), ((4, 1), (4, 1))),        # targets one rank short: expanded, not broadcast to (4, 4)
    ((4, 1), (4,), ((4, 1), (4, 1))),        # Keras expands the rank-1 side, here the outputs
    ((4, 3, 1), (4, 3), ((4, 3), (4, 3))),   # longer than rank 2: the trailing 1 is squeezed
    ((4, 3), (4, 3, 1), ((4, 3), (4, 3))),
    ((4, 3), (4, 3), ((4, 3), (4, 3))),      # same rank: untouched
    ((4,), (4, 3), ((4,), (4, 3))),          # class indices against class scores: untouched
])
def test_squeeze_or_expand_to_same_rank_as_keras(true_shape, pred_shape, expected):
    y_true, y_pred = losses.squeeze_or_expand_to_same_rank(np.zeros(true_shape), Tensor(np.zeros(pred_shape)))
    assert (np.shape(y_true), y_pred.shape) == expected
    assert isinstance(y_true, np.ndarray) and isinstance(y_pred, Tensor)


def test_a_loss_function_gets_keras_rank_fix_and_reduction():
    y = rng(18).normal(size=6)
    z = Tensor(rng(19).normal(size=(6, 1)), requires_grad=True)
    wrapped = losses.get(lambda y_true, y_pred: ((y_pred - y_true) ** 2).mean())
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "loss"
    value = wrapped(y, z)
    assert value.item() == pytest.approx(((z.data[:, 0] - y) ** 2).mean(), rel=1e-12)
    value.backward()
    np.testing.assert_allclose(z.grad.data[:, 0], 2 * (z.data[:, 0] - y) / 6, rtol=1e-12)

    def per_sample_mse(y_true, y_pred):  # Keras' documented custom loss: one value per sample
        return ((y_pred - y_true) ** 2).mean(axis=-1)
    wrapped = losses.get(per_sample_mse)
    assert wrapped.name == "per_sample_mse"
    assert wrapped(y, z).item() == pytest.approx(((z.data[:, 0] - y) ** 2).mean(), rel=1e-12)


def test_get_instantiates_a_loss_class_like_keras():
    made = losses.get(nn.SparseCategoricalCrossentropy)
    assert isinstance(made, nn.SparseCategoricalCrossentropy) and made.from_logits is False

    class NeedsAnArgument(nn.Loss):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

    with pytest.raises(TypeError, match=r"loss NeedsAnArgument is a class that cannot be made without "
                                        r"arguments .*pass an instance, loss=NeedsAnArgument\(\.\.\.\)"):
        losses.get(NeedsAnArgument)


def _takes_outputs_then_targets(fn) -> bool:
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    return len(names) >= 2 and names[1] in ("labels", "targets", "target")


FUNCTIONAL_LOSSES = [getattr(F, name) for name in F.__all__
                     if _takes_outputs_then_targets(getattr(F, name)) and getattr(F, name) is not F.mse]


@pytest.mark.parametrize("fn", FUNCTIONAL_LOSSES, ids=lambda fn: fn.__name__)
def test_functional_losses_are_refused_with_the_nn_loss_to_use(fn):
    # (outputs, targets) order: compile would call them with the arguments swapped
    with pytest.raises(ValueError, match=rf"minigrad.functional.{fn.__name__}\(.*takes the outputs first.*"
                                         rf"Use nn\.\w+\(.*F.{fn.__name__}\(y_pred, y_true\)"):
        losses.get(fn)


def test_functional_refusals_name_the_matching_nn_loss():
    def message(fn):
        with pytest.raises(ValueError) as info:
            losses.get(fn)
        return str(info.value)
    assert {F.softmax_cross_entropy, F.cross_entropy, F.sigmoid_binary_cross_entropy} <= set(FUNCTIONAL_LOSSES)
    assert "Use nn.SparseCategoricalCrossentropy(from_logits=True)" in message(F.softmax_cross_entropy)
    assert "Use nn.BinaryCrossentropy(from_logits=True)" in message(F.sigmoid_binary_cross_entropy)
    with pytest.raises(ValueError, match=r"minigrad.functional.relu\(x\) is not a loss"):
        losses.get(F.relu)


def test_get_by_keras_name_and_repr():
    assert isinstance(losses.get("sparse_categorical_crossentropy"), nn.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("mse"), nn.MeanSquaredError)
    custom = nn.BinaryCrossentropy(from_logits=True)
    assert losses.get(custom) is custom
    with pytest.raises(ValueError, match="unknown loss 'hinge'; choose one of"):
        losses.get("hinge")
    assert repr(custom) == ("BinaryCrossentropy(from_logits=True, name='binary_crossentropy', "
                            "reduction='mean')")


def test_sparse_loss_given_one_hot_rows_points_to_categorical():
    loss = nn.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match="CategoricalCrossentropy for one-hot"):
        loss(np.eye(3)[[0, 1, 2, 0]], mg.randn(4, 3))


# ----- the per-batch path fit and evaluate use ----------------------------------------------

BATCH_CASES = [
    (lambda: nn.SparseCategoricalCrossentropy(from_logits=True), None, lambda r: r.integers(0, 4, 12)),
    (lambda: nn.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"), None,
     lambda r: r.integers(0, 4, (12, 1)).astype(np.float64)),  # (N, 1) float labels, Keras' other form
    (lambda: nn.SparseCategoricalCrossentropy(reduction="none"), "softmax", lambda r: r.integers(0, 4, 12)),
    (lambda: nn.SparseCategoricalCrossentropy(), "unnormalized", lambda r: r.integers(0, 4, 12).astype(np.int8)),
    (lambda: nn.CategoricalCrossentropy(from_logits=True), None, lambda r: np.eye(4, dtype=int)[r.integers(0, 4, 12)]),
    (lambda: nn.CategoricalCrossentropy(), "softmax", lambda r: np.eye(4)[r.integers(0, 4, 12)]),
    (lambda: nn.BinaryCrossentropy(from_logits=True), None, lambda r: (r.random((12, 4)) > 0.5)),
    (lambda: nn.BinaryCrossentropy(reduction="sum"), "sigmoid", lambda r: r.random((12, 4, 1))),
    (lambda: nn.MeanSquaredError(), None, lambda r: r.normal(size=(12, 4))),
    (lambda: nn.MeanSquaredError(reduction="none"), None, lambda r: r.normal(size=12 * 4).reshape(12, 4)),
]


@pytest.mark.parametrize("make_loss, activation, make_targets", BATCH_CASES)
def test_batch_loss_on_prepared_targets_matches_the_checked_call(make_loss, activation, make_targets):
    r = rng(21)
    y = make_targets(r)
    if activation == "unnormalized":  # positive outputs without a softmax: the clipped-probabilities path
        z = Tensor(r.random((12, 4)).astype(np.float32) + 0.1, requires_grad=True)
    else:
        z = Tensor(r.normal(size=(12, 4)).astype(np.float32), requires_grad=True)

    def outputs(zz):
        return {"softmax": F.softmax, "sigmoid": F.sigmoid}.get(activation, lambda t: t)(zz)

    checked_loss, batch_loss = make_loss(), make_loss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the recovery warning is tested above
        targets = batch_loss._prepare_targets(np.asarray(y), outputs(z[:5]))
        for lo, hi in ((0, 5), (5, 12)):
            zb = z[lo:hi].detach().requires_grad_()
            expected = checked_loss(y[lo:hi], outputs(zb))
            expected.sum().backward()
            zc = z[lo:hi].detach().requires_grad_()
            got = batch_loss._batch_loss(targets[lo:hi], outputs(zc))
            got.sum().backward()
            assert got.dtype == expected.dtype == np.float32
            np.testing.assert_allclose(got.data, expected.data, rtol=1e-6)
            np.testing.assert_allclose(zc.grad.data, zb.grad.data, rtol=1e-6, atol=1e-7)


def test_prepared_sparse_labels_are_checked_once_for_the_whole_set():
    loss = nn.SparseCategoricalCrossentropy(from_logits=True)
    y = np.zeros(100, np.int64)
    y[73] = 4
    with pytest.raises(ValueError, match="label 4 at position 73 is out of range for 4 classes"):
        loss._prepare_targets(y, mg.randn(8, 4))
    with pytest.raises(ValueError, match="label 2.5 at position 1 is not a class index"):
        loss._prepare_targets(np.array([1.0, 2.5]), mg.randn(2, 4))
    assert loss._prepare_targets(np.array([[1.0], [3.0]]), mg.randn(2, 4)).tolist() == [1, 3]


@pytest.mark.parametrize("classes", [1, 10, 32, 33, 300])
def test_fused_softmax_cross_entropy_on_narrow_and_wide_rows(classes: int) -> None:
    """The fused op's row max/sum shortcuts (narrow rows) and plain reductions (wide rows) agree with float64."""
    rng = np.random.default_rng(classes)
    z = rng.standard_normal((7, classes)).astype(np.float32) * 30
    labels = rng.integers(0, classes, 7)
    shifted = z.astype(np.float64) - z.max(axis=1, keepdims=True)
    expected = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(7), labels]
    loss = F.softmax_cross_entropy(mg.Tensor(z), labels, reduction="none")
    np.testing.assert_allclose(loss.data, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("classes", [1, 10, 256, 257, 300])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_softmax_cross_entropy_gradient_is_p_minus_one_hot_over_n(classes: int, dtype: str) -> None:
    """d/dz = (softmax(z) − onehot(y))/N, with the one-hot rows taken from a kept identity (C ≤ 256)
    or set in zeros (wider rows)."""
    rng = np.random.default_rng(classes)
    z = rng.standard_normal((9, classes)).astype(dtype) * 5
    labels = rng.integers(0, classes, 9)
    labels[:2] = classes - 1  # the last class and a repeated label
    zt = mg.Tensor(z, requires_grad=True)
    F.softmax_cross_entropy(zt, labels).backward()
    z64 = z.astype(np.float64)
    p = np.exp(z64 - z64.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(9), labels] -= 1
    assert zt.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(zt.grad.data, p / 9, rtol=1e-5, atol=1e-7)


def test_fused_softmax_cross_entropy_keeps_few_read_only_identities() -> None:
    from minigrad import fused

    for classes in range(2, 40):
        zt = mg.Tensor(np.zeros((3, classes), np.float32), requires_grad=True)
        F.softmax_cross_entropy(zt, np.array([0, 1, classes - 1])).backward()
        assert zt.grad.data.flags.writeable  # a fresh array, not a view of the kept identity
    assert 0 < len(fused._IDENTITIES) <= 8
    assert not any(m.flags.writeable for m in fused._IDENTITIES.values())


def test_functional_mse_is_taken_as_a_compile_loss_since_its_order_cannot_matter():
    # F.mse(pred, target) is symmetric: refusing it for "swapped arguments" would be untrue
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5])).astype(np.float32)  # (N,) targets for (N, 1) outputs
    histories = []
    for loss in (F.mse, "mse"):
        model = nn.Sequential([nn.Dense(1)])
        model(mg.Tensor(x[:1]))
        model.set_weights([np.full((3, 1), 0.1, np.float32), np.zeros(1, np.float32)])
        model.compile(optimizer="sgd", loss=loss)
        histories.append(model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-6)
