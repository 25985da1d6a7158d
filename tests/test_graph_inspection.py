"""Graph inspection for the REPL: scopes, trace (nodes, leaves, repr, rich), backward steps."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor


def small_net() -> tuple[Tensor, Tensor, Tensor]:
    x = Tensor(np.array([[1.0, -2.0]]), name="x")
    w = Tensor(np.array([[0.5, -1.0, 2.0], [0.25, 1.0, 0.0]]), requires_grad=True, name="w")
    with mg.scope("dense"):
        with mg.scope("matmul_part"):
            h = x @ w
        a = h.relu()
    loss = a.sum()
    return x, w, loss


# ----- scopes ---------------------------------------------------------------------------------

def test_scope_names_on_nodes_nest_with_slash() -> None:
    _, _, loss = small_net()
    scopes = {node.op: node.scope for node in mg.trace(loss).nodes}
    assert scopes == {"matmul": "dense/matmul_part", "relu": "dense", "sum": ""}


def test_scope_is_restored_after_an_exception() -> None:
    with pytest.raises(KeyError), mg.scope("outer"):
        raise KeyError
    y = Tensor(np.ones(2), requires_grad=True) * 2
    assert y.op.scope == ""


@pytest.mark.parametrize("bad", ["", "a/b", 3])
def test_scope_rejects_bad_names(bad: object) -> None:
    with pytest.raises(ValueError, match="scope"), mg.scope(bad):  # type: ignore[arg-type]
        pass


def test_composites_record_their_scope() -> None:
    z = Tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    p = z.softmax()
    assert {node.scope for node in mg.trace(p).nodes} == {"softmax"}


# ----- trace ----------------------------------------------------------------------------------

def test_trace_nodes_are_topologically_ordered() -> None:
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x.exp()
    z = (y * x + y.tanh()).sum()  # y is used twice: a diamond
    g = mg.trace(z)
    position = {id(node): i for i, node in enumerate(g.nodes)}
    assert len(position) == len(g.nodes) == len(g) == 5  # no node twice
    for i, node in enumerate(g.nodes):
        for t in node.inputs:
            if t.op is not None:
                assert position[id(t.op)] < i, f"{node.op} comes before its input {t.op.op}"
    assert g.nodes[-1] is z.op and g.output is z


def test_trace_leaves_and_node_fields() -> None:
    x, w, loss = small_net()
    g = mg.trace(loss)
    assert [leaf.name for leaf in g.leaves] == ["x", "w"]
    assert all(leaf.op is None for leaf in g.leaves)
    matmul = g.nodes[0]
    assert matmul.op == "matmul"
    assert matmul.inputs[0] is x and matmul.inputs[1] is w  # argument order kept
    assert matmul.output.shape == (1, 3)
    summed = g.nodes[-1]
    assert summed.attrs["keepdims"] is False
    assert summed.inputs[0].op is g.nodes[1]


def test_trace_of_a_leaf_has_no_nodes() -> None:
    t = Tensor(np.ones(3), requires_grad=True)
    g = mg.trace(t)
    assert len(g) == 0 and g.leaves == [t]


def test_trace_rejects_non_tensors() -> None:
    with pytest.raises(TypeError, match="Tensor"):
        mg.trace(np.ones(3))  # type: ignore[arg-type]


def test_graph_repr_shows_ops_shapes_and_values() -> None:
    _, _, loss = small_net()
    text = repr(mg.trace(loss))
    for expected in ("matmul", "relu", "sum", "(1, 3)", "(2, 3)", "()", "float64", "dense/matmul_part"):
        assert expected in text
    assert "[1, -2]" in text  # x's value summary
    assert "[0, -3, 2]" in text  # h = x @ w
    loss.backward()
    graph = mg.trace(loss)
    relu_row = next(row for row in graph.rows() if row[1] == "relu")
    assert relu_row[-1] == "[1, 1, 1]"  # the grad column fills in after backward
    assert "[1, 1, 1]" in repr(graph)


def test_node_repr_is_readable() -> None:
    _, _, loss = small_net()
    text = repr(mg.trace(loss).nodes[0])
    assert "matmul" in text and "(1, 2)" in text and "(2, 3)" in text and "(1, 3)" in text
    assert "dense/matmul_part" in text


def test_rich_rendering_keeps_bracketed_values() -> None:
    """rich reads '[nan, 1]' in a plain string as a markup tag and prints nothing; the table must not."""
    rich_console = pytest.importorskip("rich.console")
    t = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="t")
    with np.errstate(invalid="ignore"):
        y = (t * Tensor(np.array([np.nan, 1.0]))).sum()
    console = rich_console.Console(record=True, width=160, color_system=None)
    console.print(mg.trace(y))
    out = console.export_text()
    assert "[1, 2]" in out
    assert "[nan, 1]" in out  # starts with a letter, so plain-string markup would eat it
    assert "mul" in out and "sum" in out and "(2,)" in out


def test_minigrad_does_not_import_rich_or_viz() -> None:
    code = "import sys, minigrad; x = minigrad.Tensor([1.0], requires_grad=True); repr(minigrad.trace(x * 2)); " \
           "print(sorted(m for m in ('rich', 'viz', 'graphviz') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ----- backward steps -------------------------------------------------------------------------

def test_backward_steps_show_node_gradient_and_rule() -> None:
    _, w, loss = small_net()
    steps = list(mg.backward_steps(loss))
    assert [s.node.op for s in steps] == ["sum", "relu", "matmul"]
    assert [s.index for s in steps] == [0, 1, 2]
    relu = steps[1]
    np.testing.assert_array_equal(relu.grad_output.data, [[1.0, 1.0, 1.0]])
    # h = x @ w = [0, -3, 2]: relu passes the gradient only where h > 0.
    np.testing.assert_array_equal(relu.grad_inputs[0].data, [[0.0, 0.0, 1.0]])
    text = repr(relu)
    assert "relu" in text and relu.rule in text and "dense" in text
    matmul = steps[2]
    assert matmul.grad_inputs[0] is None  # x does not require grad
    np.testing.assert_array_equal(matmul.grad_inputs[1].data, w.grad.data)


def test_graph_backward_steps_matches_module_function() -> None:
    _, w1, loss1 = small_net()
    _, w2, loss2 = small_net()
    a = [s.node.op for s in mg.trace(loss1).backward_steps()]
    b = [s.node.op for s in mg.backward_steps(loss2)]
    assert a == b
    np.testing.assert_array_equal(w1.grad.data, w2.grad.data)


def test_node_grad_is_set_after_backward() -> None:
    _, _, loss = small_net()
    loss.backward()
    relu = mg.trace(loss).nodes[1]
    np.testing.assert_array_equal(relu.grad.data, [[1.0, 1.0, 1.0]])


def test_rich_renders_tensor_and_node_as_tables():
    from rich.console import Console

    x = mg.tensor([[1.0, -2.0]], requires_grad=True, name="x")
    y = (x * 3).relu().sum()
    y.backward()
    console = Console(record=True, width=100)
    console.print(x)
    console.print(y.op)
    text = console.export_text()
    assert "Tensor x" in text and "[1, -2]" in text and "[3, 0]" in text  # values survive rich markup
    assert "node sum" in text and "relu (1, 2)" in text and "d/dx = g broadcast back" in text


def test_a_graph_too_large_to_draw_falls_back_to_the_text_table_in_jupyter() -> None:
    pytest.importorskip("viz")
    x = mg.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(2100):  # past the drawing's 2,000-box cap
        y = y * 1.0001
    assert mg.trace(y.sum())._repr_svg_() is None


def test_rich_shows_a_tensor_name_with_brackets_as_written() -> None:
    console_module = pytest.importorskip("rich.console")
    for name in ("h[t]", "w[bold]x", "a[/b]"):  # markup to rich: dropped, applied, or a MarkupError
        console = console_module.Console(width=80, record=True, file=io.StringIO())
        console.print(mg.tensor([1.0], name=name))
        assert f"Tensor {name}" in console.export_text()


def test_summary_of_huge_float32_values_takes_the_mean_without_overflow() -> None:
    from minigrad.graph import summarize

    with np.errstate(over="raise"):
        assert summarize(np.full(10, 3e38, np.float32)) == "min 3e+38 mean 3e+38 max 3e+38"
