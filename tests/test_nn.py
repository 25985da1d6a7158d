"""Layers, Module and Sequential: shapes, initializers, lazy build, names, summary, weights files."""

import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.nn import layers


def course_net(output=None):
    return nn.Sequential([nn.Dense(25, activation="relu"), nn.Dense(15, activation="relu"),
                          nn.Dense(10, activation=output)])


# ----- Dense -------------------------------------------------------------------------------

def test_dense_builds_lazily_with_keras_kernel_shape():
    mg.manual_seed(0)
    layer = nn.Dense(4)
    assert not layer.built and layer.kernel is None
    out = layer(np.ones((3, 7)))
    assert layer.built and out.shape == (3, 4)
    assert layer.kernel.shape == (7, 4) and layer.bias.shape == (4,)
    assert layer.kernel.dtype == np.float32 and layer.kernel.requires_grad
    np.testing.assert_array_equal(layer.bias.data, 0)
    np.testing.assert_allclose(out.data, np.ones((3, 7), np.float32) @ layer.kernel.data, rtol=1e-6)
    assert layer.count_params() == 7 * 4 + 4


def test_dense_without_bias_and_float64():
    layer = nn.Dense(2, use_bias=False, dtype="float64")
    out = layer(np.ones((1, 3)))
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]
    assert out.dtype == np.float64


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear", None])
def test_dense_activations(name):
    mg.manual_seed(1)
    layer = nn.Dense(5, activation=name)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    out = layer(x).data
    z = x @ layer.kernel.data + layer.bias.data
    expected = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z),
                "softmax": np.exp(z) / np.exp(z).sum(-1, keepdims=True), "linear": z, None: z}[name]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_softmax_output_is_the_composite_and_marks_logits():
    layer = nn.Dense(3, activation="softmax", name="out")
    p = layer(mg.Tensor(np.ones((2, 4), np.float32)))
    assert p._logits is not None and p._logits[0] == "softmax"
    scopes = {node.scope for node in mg.trace(p).nodes}
    assert "out" in scopes and "out/softmax" in scopes  # the composite's steps sit inside the layer


def test_unknown_activation_and_initializer():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.Dense(3, activation="gelu")
    with pytest.raises(ValueError, match="unknown initializer 'orthogonal'"):
        nn.Dense(3, kernel_initializer="orthogonal")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        nn.Dense(0)


@pytest.mark.parametrize("name,expected_std", [
    ("glorot_uniform", np.sqrt(2 / (400 + 300))),
    ("glorot_normal", np.sqrt(2 / (400 + 300))),
    ("he_uniform", np.sqrt(2 / 400)),
    ("he_normal", np.sqrt(2 / 400)),
])
def test_initializer_statistics(name, expected_std):
    mg.manual_seed(0)
    w = layers.get_initializer(name)((400, 300), np.float32)
    assert w.shape == (400, 300) and w.dtype == np.float32
    assert abs(w.mean()) < 0.01 * expected_std * 10
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    if name.endswith("uniform"):
        limit = np.sqrt(3) * expected_std
        assert w.max() <= limit and w.min() >= -limit and w.max() > 0.99 * limit
    else:  # Keras' truncated normal: nothing beyond 2 stddev of the underlying normal
        assert np.abs(w).max() <= 2 * expected_std / 0.87962566103423978 + 1e-6


def test_initializers_follow_the_seed():
    mg.manual_seed(3)
    a = nn.Dense(4)
    a(np.ones((1, 5)))
    mg.manual_seed(3)
    b = nn.Dense(4)
    b(np.ones((1, 5)))
    np.testing.assert_array_equal(a.kernel.data, b.kernel.data)
    assert layers.zeros((2,)).sum() == 0 and layers.ones((2,)).sum() == 2


def test_wrong_feature_size_is_a_clear_error():
    model = course_net()
    model(np.zeros((2, 784)))
    with pytest.raises(ValueError, match=r"Dense 'dense': built for inputs with 784 features.*got 100 \(input shape \(5, 100\)\)"):
        model(np.zeros((5, 100)))


def test_flatten_makes_rows():
    model = nn.Sequential([nn.Flatten(), nn.Dense(3)])
    out = model(np.zeros((4, 28, 28), np.uint8))
    assert out.shape == (4, 3) and model.layers[1].kernel.shape == (784, 3)
    assert model.layers[0].name == "flatten" and out.dtype == np.float32


# ----- names and scopes --------------------------------------------------------------------

def test_auto_names_are_unique_per_model_and_name_parameters():
    model = course_net()
    model(np.zeros((1, 8)))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]
    assert [n for n, _ in model.named_parameters()] == [
        "dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias"]
    assert [p.name for p in model.parameters()] == [n for n, _ in model.named_parameters()]
    other = course_net()  # a second model starts again at "dense"
    assert other.layers[0].name == "dense"


def test_explicit_names_are_kept_and_skipped_by_auto_names():
    model = nn.Sequential([nn.Dense(3), nn.Dense(3, name="dense"), nn.Dense(2, name="head")])
    assert [layer.name for layer in model.layers] == ["dense_1", "dense", "head"]


def test_two_layers_with_one_name_are_refused_naming_it():
    with pytest.raises(ValueError, match=r"two layers are named 'a' \(layers.0 and layers.1\).*unique"):
        nn.Sequential([nn.Dense(3, name="a"), nn.Dense(2, name="a")])
    model = nn.Sequential([nn.Dense(3, name="a")])
    with pytest.raises(ValueError, match="two layers are named 'a'"):
        model.add(nn.Dense(2, name="a"))
    assert len(model.layers) == 1  # the refused layer is not kept
    model.add(nn.Dense(2))
    assert [layer.name for layer in model.layers] == ["a", "dense"]


def test_a_custom_module_with_two_layers_of_one_name_is_refused_on_first_call():
    class Twins(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.Dense(3, name="same"), nn.Dense(2, name="same")]

        def forward(self, x):
            return self.blocks[1](self.blocks[0](x))

    with pytest.raises(ValueError, match=r"two layers are named 'same' \(blocks.0 and blocks.1\)"):
        Twins()(np.ones((1, 4)))


def test_a_layer_reused_in_a_second_model_keeps_its_name():
    shared = nn.Dense(3)
    first = nn.Sequential([shared])
    first(np.zeros((1, 4)))
    second = nn.Sequential([nn.Dense(4), shared])
    assert shared.name == "dense" and shared.kernel.name == "dense.kernel"
    assert [n for n, _ in first.named_parameters()] == ["dense.kernel", "dense.bias"]
    assert [layer.name for layer in second.layers] == ["dense_1", "dense"]  # the newcomer steps aside
    named = nn.Sequential([nn.Dense(2, name="head")])
    nn.Sequential([named.layers[0], nn.Dense(2)])
    assert named.layers[0].name == "head"


def test_layers_named_outside_a_model_are_renamed_uniquely_inside_it():
    a, b = nn.Dense(2), nn.Dense(2)
    a(np.zeros((1, 3)))
    b(np.zeros((1, 3)))  # both called on their own: both "dense" for now
    model = nn.Sequential([a, b])
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert b.kernel.name == "dense_1.kernel"


def test_each_layer_runs_in_its_scope():
    model = course_net("softmax")
    out = model(mg.Tensor(np.ones((2, 6), np.float32)))
    graph = mg.trace(out)
    scopes = [node.scope for node in graph.nodes]
    assert {"dense", "dense_1", "dense_2", "dense_2/softmax"} <= set(scopes)
    # A Dense layer's x·W + b is one `linear` node (PyTorch's addmm), its activation the next.
    assert [(node.scope, node.op) for node in graph.nodes if node.scope in ("dense", "dense_1")] == [
        ("dense", "linear"), ("dense", "relu"), ("dense_1", "linear"), ("dense_1", "relu")]
    linear = graph.nodes[0]
    assert [t.name for t in linear.inputs[1:]] == ["dense.kernel", "dense.bias"]


def test_dense_without_bias_is_a_matmul():
    layer = nn.Dense(2, use_bias=False)
    out = layer(mg.Tensor(np.ones((3, 4), np.float32)))
    assert [node.op for node in mg.trace(out).nodes] == ["matmul"]


def test_dense_gradients_match_the_composite():
    """The fused linear node and x @ W + b written out give the same gradients (float64)."""
    rng = np.random.default_rng(0)
    layer = nn.Dense(3, activation="tanh", dtype="float64")
    x = mg.Tensor(rng.standard_normal((5, 4)), requires_grad=True)
    (layer(x) ** 2).sum().backward()
    w = mg.Tensor(layer.kernel.data, requires_grad=True)
    b = mg.Tensor(layer.bias.data, requires_grad=True)
    x2 = mg.Tensor(x.data, requires_grad=True)
    ((x2 @ w + b).tanh() ** 2).sum().backward()
    for fused, composite in ((x, x2), (layer.kernel, w), (layer.bias, b)):
        np.testing.assert_allclose(fused.grad.data, composite.grad.data, rtol=1e-13, atol=1e-15)


def test_a_renamed_layer_runs_in_its_new_scope():
    layer = nn.Dense(2, activation="tanh")
    x = mg.Tensor(np.ones((1, 3), np.float32))
    assert {node.scope for node in mg.trace(layer(x)).nodes} == {"dense"}
    layer.name = "encoder"
    assert {node.scope for node in mg.trace(layer(x)).nodes} == {"encoder"}
    assert layer.kernel.name == "encoder.kernel"


@pytest.mark.parametrize("bad", ["a/b", "", 3])
def test_the_name_setter_refuses_what_the_constructor_refuses(bad):
    with pytest.raises(ValueError, match="name must be a non-empty string without '/'"):
        nn.Dense(2, name=bad)
    layer = nn.Dense(2, name="encoder")
    with pytest.raises(ValueError, match="name must be a non-empty string without '/'"):
        layer.name = bad
    assert layer.name == "encoder"  # a refused name changes nothing


# ----- Module ------------------------------------------------------------------------------

class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = mg.Tensor(np.ones(1, np.float32), requires_grad=True)
        self.blocks = [nn.Dense(4, activation="tanh"), nn.Dense(2)]
        self.constant = mg.Tensor(np.ones(1, np.float32))  # no grad: not a parameter
        self.shared = self.scale  # the same tensor twice: listed once

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x * self.scale


def test_custom_module_parameters_are_found():
    model = TwoLayer()
    out = model(np.ones((3, 5)))
    assert out.shape == (3, 2)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["scale", "blocks.0.kernel", "blocks.0.bias", "blocks.1.kernel", "blocks.1.bias"]
    assert [layer.name for layer in model.blocks] == ["dense", "dense_1"]
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_parameters_and_children_in_nested_containers():
    class Nested(nn.Module):
        def __init__(self):
            super().__init__()
            self.shape = (None, 3)  # a tuple of plain values: nothing to find
            self.heads = {"a": nn.Dense(2), "pair": (nn.Dense(1), mg.Tensor([1.0], requires_grad=True))}
            self.extra = [[mg.Tensor([2.0], requires_grad=True), mg.Tensor([3.0])], {"w": mg.Tensor([4.0], requires_grad=True)}]

        def forward(self, x):
            return x

    model = Nested()
    assert [n for n, _ in model.named_children()] == ["heads.a", "heads.pair.0"]
    assert [n for n, _ in model._own_parameters()] == ["heads.pair.1", "extra.0.0", "extra.1.w"]
    derived = model.extra[0][0] * 2  # not a leaf: never a parameter
    model.derived = derived
    assert "derived" not in [n for n, _ in model.named_parameters()]


def test_train_eval_flags():
    model = TwoLayer()
    assert model.training and model.blocks[0].training
    model.eval()
    assert not model.training and not model.blocks[1].training
    model.train()
    assert model.blocks[1].training


def test_module_without_forward():
    with pytest.raises(NotImplementedError, match="must define forward"):
        nn.Module()(1)


# ----- summary -----------------------------------------------------------------------------

def test_summary_lists_layers_shapes_and_counts():
    model = nn.Sequential([nn.Flatten(), nn.Dense(25, activation="relu"), nn.Dense(10)])
    model(np.zeros((1, 28, 28)))
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "flatten (Flatten)" in text and "(None, 784)" in text
    assert "dense (Dense)" in text and "(None, 25)" in text and "19,625" in text
    assert "dense_1 (Dense)" in text and "260" in text
    assert "Total params: 19,885" in text


def test_summary_prints_a_table(capsys):
    pytest.importorskip("rich")
    model = course_net()
    model(np.zeros((1, 784)))
    model.summary()
    printed = capsys.readouterr().out
    assert "dense_2 (Dense)" in printed and "Total params: 20,175" in printed


def test_summary_of_an_unbuilt_model_says_so():
    lines = []
    course_net().summary(print_fn=lines.append)
    assert "not built yet" in lines[0] and "?" in lines[0]


def test_summary_of_an_unbuilt_custom_model_shows_the_names_its_layers_will_have():
    class TwoLayers(nn.Model):
        def __init__(self):
            super().__init__()
            self.first, self.second = nn.Dense(4), nn.Dense(2)

        def forward(self, x):
            return self.second(self.first(x).relu())

    model = TwoLayers()
    before = []
    model.summary(print_fn=before.append)
    assert "dense (Dense)" in before[0] and "dense_1 (Dense)" in before[0]
    model(np.zeros((1, 3), np.float32))
    assert [layer.name for layer in (model.first, model.second)] == ["dense", "dense_1"]  # the same names


# ----- weights files -----------------------------------------------------------------------

def test_weights_round_trip_into_a_fresh_unbuilt_model(tmp_path):
    mg.manual_seed(0)
    model = course_net()
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    expected = model(x).data
    path = tmp_path / "weights.npz"
    model.save_weights(path)
    with np.load(path) as f:
        assert list(f.files) == ["layer0.kernel", "layer0.bias", "layer1.kernel", "layer1.bias",
                                 "layer2.kernel", "layer2.bias"]
    fresh = course_net()
    state = mg.creation.generator().bit_generator.state
    fresh.load_weights(path)
    assert mg.creation.generator().bit_generator.state == state  # building from a file draws nothing
    assert fresh.built
    np.testing.assert_array_equal(fresh(x).data, expected)
    assert fresh.parameters()[0].name == "dense.kernel"


def test_save_weights_writes_exactly_the_path_and_atomically(tmp_path):
    model = course_net()
    model(np.zeros((1, 4)))
    path = tmp_path / "ckpt"  # no suffix: np.savez alone would write ckpt.npz
    model.save_weights(path)
    assert os.listdir(tmp_path) == ["ckpt"]
    model.save_weights(path)  # overwriting leaves no temporary file behind
    assert os.listdir(tmp_path) == ["ckpt"]


def test_load_weights_keeps_optimizer_views(tmp_path):
    model = course_net()
    model.compile(optimizer="sgd", loss="mse")
    model(np.zeros((1, 4)))
    opt = model.optimizer
    opt.bind(model.parameters())
    base = model.parameters()[0].data.base
    other = course_net()
    other(np.ones((1, 4)))
    other.save_weights(tmp_path / "w.npz")
    model.load_weights(tmp_path / "w.npz")
    assert model.parameters()[0].data.base is base
    np.testing.assert_array_equal(model.parameters()[0].data, other.parameters()[0].data)


def test_set_weights_takes_keras_list_of_arrays():
    model = nn.Sequential([nn.Dense(3, activation="relu"), nn.Dense(2)])
    model(np.zeros((1, 4)))
    weights = model.get_weights()
    assert isinstance(weights, list)
    assert [w.shape for w in weights] == [(4, 3), (3,), (3, 2), (2,)]  # kernel, bias per layer, as Keras
    for array, parameter in zip(weights, model.parameters(), strict=True):
        np.testing.assert_array_equal(array, parameter.data)
        assert not np.shares_memory(array, parameter.data)  # copies: editing them changes nothing

    other = nn.Sequential([nn.Dense(3, activation="relu"), nn.Dense(2)])
    other(np.zeros((1, 4)))
    other.set_weights(weights)
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    other.set_weights([w * 2 for w in weights])  # any list of that shape, Keras' usual round trip
    np.testing.assert_array_equal(other.parameters()[2].data, weights[2] * 2)
    assert set(model.weights_by_key()) == {"layer0.kernel", "layer0.bias", "layer1.kernel", "layer1.bias"}


def test_set_weights_refuses_a_wrong_list_and_changes_nothing():
    model = nn.Sequential([nn.Dense(3), nn.Dense(2)])
    model(np.zeros((1, 4)))
    before = list(model.weights_by_key().values())
    with pytest.raises(ValueError, match=r"got 3 arrays but the model has 4 weights \(layer0.kernel \(4, 3\)"):
        model.set_weights(before[:3])
    wrong = [before[0], before[1], np.zeros((2, 3)), before[3]]
    with pytest.raises(ValueError, match=r"array 2 has shape \(2, 3\) but weight 2 \(layer1.kernel, .*\(3, 2\)"):
        model.set_weights(wrong)
    with pytest.raises(TypeError, match="list of arrays"):
        model.set_weights(before[0])
    for value, kept in zip(model.weights_by_key().values(), before, strict=True):
        np.testing.assert_array_equal(value, kept)
    with pytest.raises(ValueError, match="not built yet"):
        nn.Sequential([nn.Dense(3)]).set_weights(before[:2])


def test_mismatched_weights_are_refused_naming_the_mismatch(tmp_path):
    small = course_net()
    small(np.zeros((1, 784)))
    small.save_weights(tmp_path / "small.npz")
    wide = nn.Sequential([nn.Dense(30, activation="relu"), nn.Dense(15), nn.Dense(10)])
    wide(np.zeros((1, 784)))
    before = wide.get_weights()
    with pytest.raises(ValueError, match=r"'layer0.kernel' has shape \(784, 25\) in the file but \(784, 30\)"):
        wide.load_weights(tmp_path / "small.npz")
    for value, kept in zip(wide.get_weights(), before, strict=True):
        np.testing.assert_array_equal(value, kept)  # nothing was changed

    deeper = nn.Sequential([nn.Dense(25), nn.Dense(15), nn.Dense(10), nn.Dense(3)])
    deeper(np.zeros((1, 784)))
    with pytest.raises(ValueError, match=r"6 arrays, the model has 8 weights.*no 'layer3.kernel'"):
        deeper.load_weights(tmp_path / "small.npz")

    shallow = nn.Sequential([nn.Dense(25), nn.Dense(15)])
    shallow(np.zeros((1, 784)))
    with pytest.raises(ValueError, match="'layer2.kernel' in the file has no place"):
        shallow.load_weights(tmp_path / "small.npz")


def test_unbuilt_model_refusing_a_file_stays_unbuilt(tmp_path):
    model = course_net()
    model(np.zeros((1, 784)))
    model.save_weights(tmp_path / "w.npz")
    other = nn.Sequential([nn.Dense(25), nn.Dense(16), nn.Dense(10)])
    with pytest.raises(ValueError, match="layer1.kernel"):
        other.load_weights(tmp_path / "w.npz")
    assert not other.built and other.layers[0].kernel is None


def nested_net():
    return nn.Sequential([nn.Sequential([nn.Dense(3, activation="relu")]),
                          nn.Sequential([nn.Sequential([nn.Dense(4, activation="tanh")]), nn.Dense(5)]),
                          nn.Dense(2)])


def test_a_fresh_model_with_nested_sequentials_builds_from_a_weights_file(tmp_path):
    x = np.random.default_rng(5).normal(size=(6, 7)).astype(np.float32)
    trained = nested_net()
    trained(x)
    trained.save_weights(tmp_path / "nested.npz")
    fresh = nested_net()
    fresh.load_weights(tmp_path / "nested.npz")
    assert fresh.built
    np.testing.assert_array_equal(fresh.predict(x), trained.predict(x))
    lines = []
    fresh.summary(print_fn=lines.append)
    rows = [line for line in lines[0].splitlines() if "(Sequential)" in line]
    assert len(rows) == 2 and "(None, 3)" in rows[0] and "(None, 5)" in rows[1]


def test_a_nested_model_refusing_a_file_stays_unbuilt(tmp_path):
    x = np.zeros((1, 7), np.float32)
    trained = nested_net()
    trained(x)
    trained.save_weights(tmp_path / "nested.npz")
    wider = nn.Sequential([nn.Sequential([nn.Dense(3, activation="relu")]),
                           nn.Sequential([nn.Sequential([nn.Dense(4)]), nn.Dense(6)]), nn.Dense(2)])
    with pytest.raises(ValueError, match=r"'layer1.dense_1.kernel' has shape \(4, 5\) in the file but \(4, 6\)"):
        wider.load_weights(tmp_path / "nested.npz")
    assert not wider.built and all(layer.kernel is None for layer in wider.modules() if isinstance(layer, nn.Dense))


def test_a_nested_layer_with_no_weights_under_its_name_says_where_the_files_weights_are(tmp_path):
    x = np.zeros((1, 3), np.float32)
    saved = nn.Sequential([nn.Dense(5), nn.Sequential([nn.Dense(6)])])
    saved(x)
    saved.save_weights(tmp_path / "a.npz")
    renamed = nn.Sequential([nn.Dense(5), nn.Sequential([nn.Dense(6, name="enc")])])
    with pytest.raises(ValueError, match=r"no weights under 'layer1\.enc\.' for layer 1\.0 \('enc'\); beside it the "
                                        r"file holds 'layer1\.dense\.bias', 'layer1\.dense\.kernel'\. Inside a nested "
                                        r"model the weights are keyed by its layers' names"):
        renamed.load_weights(tmp_path / "a.npz")
    assert not renamed.built


def test_load_weights_of_a_corrupt_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .npz"):
        course_net().load_weights(bad)
    with pytest.raises(FileNotFoundError):
        course_net().load_weights(tmp_path / "missing.npz")


def test_load_weights_of_a_single_npy_array_or_garbage_says_what_it_is(tmp_path):
    single = tmp_path / "s.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match=r"'.*s\.npy' is not a readable .npz .*single array saved with np.save"):
        course_net().load_weights(single)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"garbage: neither a zip archive nor a numpy array")
    with pytest.raises(ValueError) as info:
        course_net().load_weights(garbage)
    assert str(garbage) in str(info.value) and "not an .npz archive" in str(info.value)
    assert "pickle" not in str(info.value)  # numpy's hint points at the wrong problem


def test_save_weights_into_a_missing_folder_names_the_users_path(tmp_path):
    model = course_net()
    model(np.zeros((1, 4)))
    path = tmp_path / "nodir" / "x.npz"
    with pytest.raises(FileNotFoundError) as info:
        model.save_weights(path)
    message = str(info.value)
    assert f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist" in message
    assert ".tmp" not in message  # the temporary file is an implementation detail
    assert os.listdir(tmp_path) == []


def test_save_weights_of_an_unbuilt_model():
    with pytest.raises(ValueError, match="not built yet"):
        course_net().save_weights("never-written.npz")


def test_model_call_casts_float64_inputs():
    model = course_net()
    out = model(np.ones((2, 3), np.float64))
    assert out.dtype == np.float32 and model.dtype == np.float32


def test_softmax_model_outputs_probabilities_of_its_logits():
    model = course_net("softmax")
    x = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    probs = model(x).data
    h = x
    for layer in model.layers[:2]:
        h = np.maximum(h @ layer.kernel.data + layer.bias.data, 0)
    logits = h @ model.layers[2].kernel.data + model.layers[2].bias.data
    np.testing.assert_allclose(probs, F.softmax(logits, axis=-1).data, rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)


def test_a_file_whose_layers_disagree_is_refused(tmp_path):
    arrays = {"layer0.kernel": np.zeros((784, 25), np.float32), "layer0.bias": np.zeros(25, np.float32),
              "layer1.kernel": np.zeros((30, 10), np.float32), "layer1.bias": np.zeros(10, np.float32)}
    np.savez(tmp_path / "odd.npz", **arrays)
    model = nn.Sequential([nn.Dense(25), nn.Dense(10)])
    with pytest.raises(ValueError, match=r"layer 1 \('dense_1'\) takes 30 features but layer 0 gives 25"):
        model.load_weights(tmp_path / "odd.npz")
    assert not model.built


def test_sequential_add_names_and_builds():
    model = nn.Sequential()
    model.add(nn.Dense(4))
    model.add(nn.Dense(2, activation="softmax"))
    assert [layer.name for layer in model.layers] == ["dense", "dense_1"]
    assert model(np.ones((3, 5))).shape == (3, 2)
    with pytest.raises(TypeError, match="layers must be nn layers"):
        model.add("relu")


def test_load_weights_with_a_different_number_of_layers_says_so(tmp_path):
    three = nn.Sequential([nn.Dense(5), nn.Dense(4), nn.Dense(3)])
    three(np.zeros((1, 6)))
    three.save_weights(tmp_path / "w.npz")
    two = nn.Sequential([nn.Dense(5), nn.Dense(3)])
    two(np.zeros((1, 6)))
    with pytest.raises(ValueError, match=r"holds 6 arrays, the model has 4 weights.*'layer2.kernel'"):
        two.load_weights(tmp_path / "w.npz")


def test_a_model_of_sub_models_renames_their_colliding_automatic_names():
    """Two sub-models each call their first layer 'dense'; the model holding both makes them unique,
    as it did before names became sticky (Keras' program-wide names never collide)."""
    first, second = nn.Sequential([nn.Dense(4)]), nn.Sequential([nn.Dense(2)])
    first(np.zeros((1, 5), np.float32))
    second(np.zeros((1, 4), np.float32))  # both now hold a layer named 'dense'
    outer = nn.Sequential([first, second])
    outer(np.zeros((3, 5), np.float32))
    assert [first.layers[0].name, second.layers[0].name] == ["dense", "dense_1"]
    assert [p.name for p in outer.parameters()] == ["dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias"]

    class Autoencoder(nn.Model):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = nn.Sequential([nn.Dense(4)]), nn.Sequential([nn.Dense(5)])

        def forward(self, x):
            return self.decoder(self.encoder(x))

    assert Autoencoder()(np.zeros((2, 5), np.float32)).shape == (2, 5)
