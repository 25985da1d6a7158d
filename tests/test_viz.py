"""viz: the DOT structure (no binary needed), real SVG/PNG rendering, engine lookup, NaN marking."""

from __future__ import annotations

import html
import importlib
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
import viz
from viz.dot import build_drawing
from viz.render import RenderError, find_engine

render_module = importlib.import_module("viz.render")  # the attribute viz.render is the function

posix_only = pytest.mark.skipif(os.name == "nt", reason="fake engines are shell scripts")


def _engine_available() -> bool:
    try:
        find_engine()
    except RenderError:
        return False
    return True


needs_engine = pytest.mark.skipif(not _engine_available(), reason="no Graphviz engine (dot or graphviz-pure)")


def dense(name: str, h: mg.Tensor, n_in: int, n_out: int, activation, seed: int = 0) -> mg.Tensor:
    """A Dense layer from plain Tensors, named and scoped as nn.Dense does."""
    rng = np.random.default_rng(seed)
    kernel = mg.Tensor(rng.normal(0, 0.1, (n_in, n_out)).astype(np.float32), requires_grad=True,
                       name=f"{name}.kernel")
    bias = mg.Tensor(np.zeros(n_out, np.float32), requires_grad=True, name=f"{name}.bias")
    with mg.scope(name):
        z = h @ kernel + bias
        return activation(z) if activation else z


def course_loss(batch: int = 4, fused: bool = False) -> mg.Tensor:
    """784 → 25 relu → 15 relu → 10 (softmax + cross_entropy, or logits + the fused loss)."""
    x = mg.Tensor(np.random.default_rng(1).random((batch, 784), dtype=np.float32), name="x")
    h = dense("dense", x, 784, 25, F.relu)
    h = dense("dense_1", h, 25, 15, F.relu)
    labels = np.arange(batch) % 10
    if fused:
        return F.softmax_cross_entropy(dense("dense_2", h, 15, 10, None), labels)
    return F.cross_entropy(dense("dense_2", h, 15, 10, F.softmax), labels)


def node_lines(dot: str) -> list[str]:
    return [line.strip() for line in dot.splitlines() if re.match(r"\s*n\d+ \[", line)]


def edge_lines(dot: str) -> list[str]:
    return [line.strip() for line in dot.splitlines() if "->" in line]


def label_of(dot: str, node_id: str) -> str:
    match = re.search(rf'^\s*{node_id} \[label="((?:[^"\\]|\\.)*)"', dot, re.MULTILINE)
    assert match, f"no node {node_id}"
    return match.group(1).replace("\\n", "\n")


# ----- DOT structure, no binary --------------------------------------------------------------

def test_dot_has_every_op_and_leaf_with_shapes_and_parameter_names():
    loss = course_loss()
    graph = mg.trace(loss)
    dot = viz.to_dot(loss)
    assert dot.startswith("digraph minigrad {") and dot.rstrip().endswith("}")
    nodes = node_lines(dot)
    assert len(nodes) == len(graph.nodes) + len(graph.leaves)
    assert len(edge_lines(dot)) == sum(len(node.inputs) for node in graph.nodes)
    labels = [label_of(dot, line.split()[0]) for line in nodes]
    assert "dense_1.kernel\n(25, 15) float32\nrequires grad" in labels
    assert "dense.kernel\n(784, 25) float32\nrequires grad" in labels
    assert "x\n(4, 784) float32" in labels  # an input: no "requires grad"
    assert any(lab.startswith("matmul\n(4, 25) float32") for lab in labels)
    assert any(lab.startswith("sum axis=(1,) keepdims=True\n(4, 1) float32") for lab in labels)
    # edges carry the shape that flows along them, as a Python tuple
    assert any('[label="(4, 784)"]' in e for e in edge_lines(dot))
    assert any('[label="(784, 25)"]' in e for e in edge_lines(dot))


def test_scopes_become_nested_labelled_clusters():
    drawing = build_drawing(course_loss())
    top = {c.label: c for c in drawing.root.children}
    assert set(top) == {"dense", "dense_1", "dense_2", "cross_entropy"}
    assert [c.label for c in top["dense_2"].children] == ["softmax"]
    softmax_ops = [drawing.box(b).lines[0].split()[0] for b in top["dense_2"].children[0].boxes]
    assert softmax_ops == ["max", "sub", "exp", "sum", "div"]  # the detached max, then the four ops
    assert drawing.box(top["dense_2"].children[0].boxes[0]).lines[0] == "max (detached)"
    # parameters sit in their layer; the input stays outside, where the data comes in
    dense_1 = [drawing.box(b).lines[0] for b in top["dense_1"].boxes]
    assert "dense_1.kernel" in dense_1 and "dense_1.bias" in dense_1
    assert drawing.box(drawing.root.boxes[0]).lines[0] == "x"
    dot = viz.to_dot(course_loss())
    for label in ("dense", "dense_1", "dense_2", "softmax", "cross_entropy"):
        assert re.search(rf'subgraph cluster_\d+ {{\n\s*label="{label}";', dot)
    # the softmax cluster opens inside dense_2's
    d2 = dot.index('label="dense_2";')
    assert d2 < dot.index('label="softmax";') < dot.index('label="cross_entropy";')


def test_same_graph_gives_the_same_text_with_sequential_ids():
    first, second = viz.to_dot(course_loss()), viz.to_dot(course_loss())
    assert first == second  # two separately built graphs: nothing depends on id() or memory
    loss = course_loss()
    assert viz.to_dot(loss) == viz.to_dot(mg.trace(loss))
    ids = [line.split()[0] for line in node_lines(first)]
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"n{i}" for i in range(len(ids))]


def test_colours_say_what_a_box_is():
    drawing = build_drawing(course_loss(fused=True))
    kinds = {b.lines[0]: b for b in drawing.boxes}
    assert kinds["dense.kernel"].kind == "param"
    assert kinds["x"].kind == "input" and kinds["labels"].kind == "input"
    fused = next(b for b in drawing.boxes if b.lines[0].startswith("softmax_cross_entropy"))
    assert fused.kind == "fused" and fused.is_output and "fused (one stable op)" in fused.lines
    dot = viz.to_dot(course_loss(fused=True))
    assert 'fillcolor="#cfe3f7"' in dot  # parameters light blue
    assert 'fillcolor="#e2d4f5"' in dot and 'color="#2e7d32"' in dot  # fused, with the output's border
    composite = viz.to_dot(course_loss())
    assert 'fillcolor="#b9e6b0"' in composite  # a plain output is green


def test_values_grads_and_saved_tensors():
    x = mg.Tensor([[1.0, 2.0]], requires_grad=True, name="x")
    w = mg.Tensor([[3.0], [4.0]], requires_grad=True, name="w")
    out = (x @ w).tanh().sum()
    dot = viz.to_dot(out, values=True, grads=True)
    assert not any(line.startswith("grad ") for line in label_of(dot, "n0").split("\n"))  # no backward yet
    assert "value [1, 2]" in label_of(dot, "n0")  # tiny tensors show their values
    out.backward(retain_graph=True)
    dot = viz.to_dot(out, values=True, grads=True, saved=True)
    assert re.search(r"grad \[[-0-9.e]+, [-0-9.e]+\]", label_of(dot, "n0"))
    drawing = build_drawing(out, saved=True)
    saved = [b for b in drawing.boxes if b.kind == "saved"]
    # matmul keeps A and B (both need grad), tanh keeps its output
    assert sorted(b.lines[0] for b in saved) == ["saved A", "saved B", "saved out"]
    assert all(a.style == "saved" for a in drawing.arrows if drawing.box(a.tail).kind == "saved")
    out.backward()  # without retain_graph: the saved values are released
    freed = [b for b in build_drawing(out, saved=True).boxes if b.kind == "saved"]
    assert freed and all(b.freed and "freed by backward()" in b.lines for b in freed)


def test_fused_op_shows_its_saved_probabilities():
    loss = course_loss(fused=True)
    saved = [b for b in build_drawing(loss, saved=True).boxes if b.kind == "saved"]
    assert "saved p" in [b.lines[0] for b in saved]  # SoftmaxCrossEntropy.saved_names


def test_naive_softmax_overflow_is_red_and_points_at_exp():
    z = mg.Tensor([[1.0, 2.0, 3.0], [0.5, 0.1, -1.0]], requires_grad=True, name="logits")
    with np.errstate(all="ignore"):
        p = F.naive_softmax(z * 1000)
        loss = F.cross_entropy(p, [0, 2])
        loss.backward(retain_graph=True)
    drawing = build_drawing(loss)
    red = [b for b in drawing.boxes if b.nonfinite]
    assert len(red) >= 5
    origins = [b for b in drawing.boxes if b.origin]
    assert [b.lines[0] for b in origins] == ["exp"]
    assert "5 Inf in value" in origins[0].nonfinite and "NaN/Inf starts here" in origins[0].lines
    assert "NaN in grad" in drawing.box("n0").nonfinite  # the logits' gradient is NaN too
    dot = viz.to_dot(loss)
    exp_line = next(line for line in node_lines(dot) if 'label="exp' in line)
    assert 'fillcolor="#ff4040"' in exp_line and "Inf in value" in exp_line
    assert sum('fillcolor="#ffb0b0"' in line for line in node_lines(dot)) == len(red) - 1
    stable = F.cross_entropy(F.softmax(mg.Tensor([[1.0, 2.0, 3.0]], requires_grad=True) * 10), [2])
    assert not any(b.nonfinite for b in build_drawing(stable).boxes)


def test_depth_collapses_deeper_scopes_into_one_box():
    loss = course_loss()
    drawing = build_drawing(loss, depth=1)
    collapsed = [b for b in drawing.boxes if b.kind == "collapsed"]
    assert [b.lines[0] for b in collapsed] == ["softmax (4 ops)"]
    assert collapsed[0].lines[1] == "sub exp sum div"
    assert not any(c.label == "softmax" for c in drawing.clusters())
    assert collapsed[0].cluster.endswith("dense_2")  # drawn inside the layer it belongs to
    layers = build_drawing(loss, depth=0)
    names = [b.lines[0] for b in layers.boxes if b.kind == "collapsed"]
    assert names == ["dense (3 ops)", "dense_1 (3 ops)", "dense_2 (6 ops)", "cross_entropy (4 ops)"]
    assert "2 params: 19,625 values" in layers.boxes[1].lines
    assert not layers.clusters()
    assert len(edge_lines(viz.to_dot(loss, depth=0))) == 4  # x → dense → dense_1 → dense_2 → cross_entropy


def chain_of_blocks(blocks: int) -> mg.Tensor:
    rng = np.random.default_rng(0)
    h = mg.Tensor(rng.random((2, 4), dtype=np.float32), name="x")
    for i in range(blocks):
        w = mg.Tensor(rng.normal(size=(4, 4)).astype(np.float32), requires_grad=True, name=f"block_{i}.w")
        with mg.scope(f"block_{i}"):
            h = (h @ w).tanh()
    return h.sum()


def test_identical_consecutive_blocks_fold_into_one_cluster():
    loss = chain_of_blocks(40)
    folded = build_drawing(loss)
    assert len(folded.boxes) == 5  # x, one block's w/matmul/tanh, the sum
    (cluster,) = folded.clusters()
    assert cluster.kind == "fold" and cluster.label == "block_0 … block_39 ×40"
    assert len(folded.arrows) == 4  # the block's links to the next copy are not drawn
    everything = build_drawing(loss, fold=False)
    assert len(everything.boxes) == 2 + 40 * 3
    small = build_drawing(chain_of_blocks(5))  # small graphs are drawn in full
    assert len(small.boxes) == 2 + 5 * 3


def test_large_graph_guard_names_the_way_out():
    loss = chain_of_blocks(40)
    with pytest.raises(ValueError, match=r"max_nodes=100.*depth=1"):
        viz.to_dot(loss, fold=False, max_nodes=100)
    assert viz.to_dot(loss, fold=False, depth=0, max_nodes=100)  # collapsing makes it fit


def test_heat_colours_by_gradient_magnitude():
    loss = course_loss()
    with pytest.raises(ValueError, match="backward"):
        viz.to_dot(loss, heat=True)
    loss.backward()
    drawing = build_drawing(loss, heat=True)
    hot = [b.heat for b in drawing.boxes if b.heat is not None]
    assert min(hot) == 0.0 and max(hot) == 1.0
    assert drawing.box("n0").heat is None  # the input has no gradient


def test_side_by_side_panels_are_top_level_clusters():
    dot = viz.to_dot({"composite": course_loss(), "fused": course_loss(fused=True)}, title="two losses")
    drawing = build_drawing({"composite": course_loss(), "fused": course_loss(fused=True)})
    assert [c.label for c in drawing.root.children] == ["composite", "fused"]
    assert all(c.kind == "panel" for c in drawing.root.children)
    assert 'label="two losses"' in dot
    assert len({line.split()[0] for line in node_lines(dot)}) == len(node_lines(dot))


def test_model_diagram_draws_the_architecture():
    nn = pytest.importorskip("minigrad.nn")
    mg.manual_seed(0)
    model = nn.Sequential([nn.Dense(25, activation="relu"), nn.Dense(15, activation="relu"),
                           nn.Dense(10, activation="softmax")])
    assert "not built yet" in viz.to_dot(model)
    model(mg.zeros(2, 784))
    dot = viz.to_dot(model)
    assert 'label="784 → 25 relu → 15 relu → 10 softmax · 20,175 params"' in dot
    labels = [label_of(dot, line.split()[0]) for line in node_lines(dot)]
    assert labels[0] == "input\n(batch, 784)"
    assert labels[2] == "dense_1 · Dense\n15 units, relu\nkernel (25, 15) bias (15,)\n390 params"
    assert labels[-1] == "output\n(batch, 10)\nprobabilities"
    assert len(edge_lines(dot)) == 4


def test_unsupported_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.dot"):
        viz.render(course_loss(), "graph.jpg")
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.to_dot("not a graph")
    with pytest.raises(ValueError, match="depth"):
        viz.to_dot(course_loss(), depth=-1)
    leaf = mg.Tensor([1.0, 2.0], name="alone")
    assert "alone\n(2,) float32" in label_of(viz.to_dot(leaf), "n0")


def test_dot_file_needs_no_engine(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "find_engine", lambda: pytest.fail("a .dot file needs no engine"))
    path = viz.render(course_loss(), tmp_path / "graph.dot")
    assert path == tmp_path / "graph.dot" and path.read_text() == viz.to_dot(course_loss())
    assert os.listdir(tmp_path) == ["graph.dot"]  # written via a temp file, none left behind


@posix_only
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_umask_permissions_without_touching_the_umask(tmp_path, monkeypatch, umask, mode):
    previous = os.umask(umask)
    try:
        # os.umask is process-wide: reading it by setting it races with other threads, so render must not call it
        monkeypatch.setattr(render_module.os, "umask", lambda *a: pytest.fail("render changed the umask"))
        path = viz.render(course_loss(), tmp_path / "graph.dot")
        monkeypatch.undo()
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


def test_importing_viz_loads_neither_rich_nor_the_trainer():
    code = "import sys, viz; bad = [m for m in ('rich', 'viz.trainer', 'viz.cli') if m in sys.modules]; print(bad)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ----- engine lookup --------------------------------------------------------------------------

def fake_engine(folder: Path, name: str, script: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


@posix_only
def test_dot_on_path_comes_first(tmp_path, monkeypatch):
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><g class="node"/></svg>'
    # reads the DOT source with shell builtins (with only tmp_path on PATH there is no `cat`), fails without it
    fake = fake_engine(tmp_path, "dot", f"n=0\nwhile read -r _; do n=$((n + 1)); done\n[ $n -gt 0 ] || exit 3\n"
                                        f"echo '{svg}'\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_engine() == fake
    assert viz.to_svg(mg.Tensor([1.0])).strip() == svg


@posix_only
def test_graphviz_pure_next_to_python_when_not_on_path(tmp_path, monkeypatch):
    beside = Path(sys.executable).parent / "graphviz-pure"
    if not beside.is_file():
        pytest.skip(f"graphviz-pure is not installed next to {sys.executable}")
    monkeypatch.setenv("PATH", str(tmp_path))  # neither dot nor graphviz-pure on PATH
    assert find_engine() == beside
    assert "<svg" in viz.to_svg(mg.Tensor([1.0]))


def test_render_error_when_no_engine_anywhere(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(render_module, "_interpreter_dirs", lambda: [tmp_path])
    with pytest.raises(RenderError) as info:
        viz.render(course_loss(), tmp_path / "graph.svg")
    message = str(info.value)
    assert "'dot' on PATH" in message and str(tmp_path / "graphviz-pure") in message
    assert "pip install graphviz-pure" in message and "apt install graphviz" in message
    assert not (tmp_path / "graph.svg").exists()


@posix_only
def test_engine_failure_reports_its_stderr(tmp_path, monkeypatch):
    fake_engine(tmp_path, "dot", "echo 'syntax error in line 3' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match="exit code 1: syntax error in line 3"):
        viz.to_svg(mg.Tensor([1.0]))


# ----- real rendering (graphviz-pure is a dependency) -----------------------------------------

@needs_engine
def test_svg_has_one_node_element_per_box(tmp_path):
    loss = course_loss()
    path = viz.render(loss, tmp_path / "graph.svg")
    root = ET.parse(path).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    nodes = root.findall(".//svg:g[@class='node']", ns)
    graph = mg.trace(loss)
    assert len(nodes) == len(graph.nodes) + len(graph.leaves)
    assert len(root.findall(".//svg:g[@class='cluster']", ns)) == 5
    titles = {n.find("svg:title", ns).text for n in nodes}
    assert titles == {f"n{i}" for i in range(len(nodes))}
    assert "dense_1.kernel" in path.read_text()


@needs_engine
def test_png_is_a_png(tmp_path):
    path = viz.render(course_loss(fused=True), tmp_path / "graph.png", dpi=40)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_engine
def test_graph_shows_itself_in_jupyter():
    svg = mg.trace(course_loss(fused=True))._repr_svg_()
    assert ET.fromstring(svg).tag.endswith("svg")


@needs_engine
def test_render_backward_writes_one_frame_per_step(tmp_path):
    x = mg.Tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="x")
    loss = F.softmax_cross_entropy(x * 2, [1])
    steps = len(mg.trace(loss).nodes)
    frames = viz.render_backward(loss, tmp_path / "frames")
    assert [p.name for p in frames] == [f"step_{i:03d}.svg" for i in range(steps + 1)]
    assert all(ET.parse(p).getroot().tag.endswith("svg") for p in frames)
    reference = mg.Tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    F.softmax_cross_entropy(reference * 2, [1]).backward()
    np.testing.assert_allclose(x.grad.data, reference.grad.data)  # the same .grad as backward()


def test_render_backward_frames_highlight_the_current_node(tmp_path):
    x = mg.Tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="x")
    loss = (x.exp() * 3).sum()
    frames = viz.render_backward(loss, tmp_path, fmt="dot")
    assert len(frames) == 4
    texts = [p.read_text() for p in frames]
    assert [t.count('penwidth="4"') for t in texts] == [0, 1, 1, 1]
    assert "backward step 1/3: sum" in texts[1] and "backward step 3/3: exp" in texts[3]
    assert "grad [" not in label_of(texts[0], "n0") and "grad [" not in label_of(texts[2], "n0")
    assert "grad [" in label_of(texts[3], "n0")  # x's gradient arrives at the last step
    with pytest.raises(ValueError, match="svg, png, dot"):
        viz.render_backward(loss, tmp_path, fmt="gif")


def test_render_backward_removes_the_frames_of_an_earlier_longer_run(tmp_path):
    x = mg.Tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="x")
    viz.render_backward((x.exp() * 3 + 1).sum(), tmp_path, fmt="dot")  # 5 frames: step_000 .. step_004
    for keep in ("step_009.svg", "step_notes.dot", "other.dot"):  # another format, not a frame, not ours
        (tmp_path / keep).write_text("kept")
    y = mg.Tensor([1.0, 2.0], requires_grad=True)
    frames = viz.render_backward(y.sum(), tmp_path, fmt="dot")  # 2 frames
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in frames] + ["step_009.svg", "step_notes.dot", "other.dot"])
    assert [p.name for p in frames] == ["step_000.dot", "step_001.dot"]


@needs_engine
def test_names_with_entities_and_control_characters_are_drawn_as_written() -> None:
    """Graphviz reads &amp; in a label as '&' and a NUL byte breaks the file: both are escaped."""
    x = mg.Tensor([1.0, 2.0], requires_grad=True, name="a&amp;b <c> \x00z")
    dot = viz.to_dot(mg.trace((x * 2).sum()))
    assert "\x00" not in dot
    svg = viz.to_svg(mg.trace((x * 2).sum()))
    texts = [html.unescape(t) for t in re.findall(r">([^<]*)</text>", svg)]
    assert "a&amp;b <c> \\x00z" in texts


def test_a_fused_ops_own_saved_value_is_drawn_freed_after_backward() -> None:
    z = mg.randn(4, 3, requires_grad=True)
    loss = F.softmax_cross_entropy(z, [0, 1, 2, 0])
    assert "saved p" in viz.to_dot(loss, saved=True)
    loss.backward()
    after = viz.to_dot(loss, saved=True)
    assert "saved p" in after and "freed by backward()" in after


def test_heat_of_huge_float32_gradients_is_finite() -> None:
    from viz.walk import _mean_abs

    assert _mean_abs(mg.Tensor(np.full(10, 3e38, np.float32))) == pytest.approx(3e38, rel=1e-6)
