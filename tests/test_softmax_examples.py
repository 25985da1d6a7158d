"""The softmax story's demonstrations: the stability table's data, and every example, run small."""

from __future__ import annotations

import importlib.util
import io
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from viz import softmax_demo

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> list[softmax_demo.StabilityRow]:
    return softmax_demo.stability_rows()


def pick(rows, method, dtype, scale):
    (row,) = [r for r in rows if (r.method, r.dtype, r.scale) == (method, dtype, scale)]
    return row


# ----- the stability table ------------------------------------------------------------------

def test_every_dtype_and_scale_has_the_exact_row_and_three_paths(rows):
    assert len(rows) == len(softmax_demo.DTYPES) * len(softmax_demo.LOGIT_SCALES) * 4
    for dtype in softmax_demo.DTYPES:
        for scale in softmax_demo.LOGIT_SCALES:
            assert {r.method for r in rows if (r.dtype, r.scale) == (dtype, scale)} == {
                "exact", "naive", "shifted", "fused"}


def test_the_exact_reference_agrees_with_an_independent_float64_computation(rows):
    for scale in softmax_demo.LOGIT_SCALES:
        z = [v * scale for v in softmax_demo.BASE_LOGITS]
        top = max(z)
        lse = top + math.log(math.fsum(math.exp(v - top) for v in z))
        exact = pick(rows, "exact", "float64", scale)
        assert exact.loss == pytest.approx(lse - z[softmax_demo.LABEL], rel=1e-14)
        p = [math.exp(v - lse) for v in z]
        expected = [pi - (i == softmax_demo.LABEL) for i, pi in enumerate(p)]
        np.testing.assert_allclose(exact.grad, expected, rtol=1e-12, atol=1e-300)


def test_fused_is_finite_exact_and_p_minus_y_everywhere(rows):
    for row in rows:
        if row.method == "fused":
            assert row.finite
            assert row.loss_digits_lost < 1 and row.grad_digits_lost < 1, row
            assert row.grad_is_p_minus_y is True
    assert pick(rows, "fused", "float32", 10_000).loss == 10_000.0


def test_the_composite_paths_break_where_the_story_says(rows):
    # float32: exp(200) overflows, so the naive softmax is inf/inf = nan from scale 100.
    assert not pick(rows, "naive", "float32", 100).finite
    assert math.isnan(pick(rows, "naive", "float32", 100).loss)
    # float32, scale 100: the shifted softmax's p_y = e^-100 is a subnormal float32; the loss keeps
    # only a few digits and the gradient through log(p) is already inf/nan.
    shifted = pick(rows, "shifted", "float32", 100)
    assert math.isfinite(shifted.loss) and shifted.loss_digits_lost >= 1
    assert shifted.grad_digits_lost is None
    # scale 1000: p_y rounds to 0 in both dtypes, −log 0 = inf.
    for dtype in ("float32", "float64"):
        assert pick(rows, "shifted", dtype, 1000).loss == math.inf
        assert math.isnan(pick(rows, "naive", dtype, 1000).loss)
    # Small logits: every path is as exact as the dtype.
    for method in ("naive", "shifted"):
        for scale in (1, 10):
            row = pick(rows, method, "float32", scale)
            assert row.finite and row.loss_digits_lost < 1
    points = softmax_demo.breaking_points(rows)
    assert points[("naive", "float32")] == 100 and points[("naive", "float64")] == 1000
    assert points[("fused", "float32")] is None and points[("fused", "float64")] is None


def test_main_prints_plain_text_into_pipes_and_rich_on_a_console(capsys):
    softmax_demo.main()  # pytest's stdout is not a terminal: plain text
    out = capsys.readouterr().out
    assert "dtype" in out and "fused" in out and "[nan, nan, nan]" in out
    assert "The fused gradient is exactly p − y" in out
    assert "╇" not in out and "━" not in out
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100, record=True)
    softmax_demo.main(console=console)
    text = console.export_text()
    assert "[nan, nan, nan]" in text  # escaped, not swallowed as markup
    assert "softmax_cross_entropy" in text and "inf/nan from scale 100" in text


# ----- the examples --------------------------------------------------------------------------

def test_softmax_stability_example(capsys):
    rows = load_example("softmax_stability").main(plain=True)
    assert len(rows) == 40
    assert "exact" in capsys.readouterr().out


def test_roundoff_example(capsys):
    rows = load_example("roundoff").main(plain=True)
    out = capsys.readouterr().out
    digits = {(r["dtype"], r["expression"]): r["correct_digits"] for r in rows}
    for dtype, most in (("float64", 15), ("float32", 7)):
        direct = digits[(dtype, "2/10_000")]
        cancelled = digits[(dtype, "(1+1/10_000)-(1-1/10_000)")]
        assert direct >= most and cancelled <= direct - 2.5  # the subtraction loses digits
    for r in rows:
        assert f"{r['value']:.20f}" in out


def test_softmax_jacobian_example(capsys):
    result = load_example("softmax_jacobian").main(plain=True)
    out = capsys.readouterr().out
    p = result["p"]
    np.testing.assert_allclose(result["jacobian"], np.diag(p) - np.outer(p, p), atol=1e-15)
    off_diagonal = result["jacobian"][~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal) > 1e-3)  # not element-wise
    assert result["ten_sum"] == pytest.approx(1.0, abs=1e-12)
    assert result["ten_most_likely"] == int(np.argmax(result["ten_a"])) == 1
    assert "most likely" in out and "diag(p) - p pᵀ" in out


def test_multilabel_example_learns(capsys):
    result = load_example("multilabel").main(steps=150, n_train=400, plain=True)
    out = capsys.readouterr().out
    assert np.all(result["after"] >= 0.9), result["after"]
    assert np.all(result["after"] > result["before"] + 0.3)
    assert result["exact_match"] >= 0.8
    assert result["losses"][-1] < 0.25 * result["losses"][0]
    assert "pedestrian" in out and "test accuracy" in out


@pytest.mark.parametrize("script", [["softmax_stability.py", "--plain"], ["roundoff.py"],
                                    ["softmax_jacobian.py"], ["multilabel.py", "--steps", "30"]])
def test_examples_run_as_scripts(script):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXAMPLES / script[0]), *script[1:]], capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and not done.stderr.strip()


def test_multilabel_refuses_zero_steps_in_one_sentence():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXAMPLES / "multilabel.py"), "--plain", "--steps", "0"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "--steps must be at least 1, got 0" in done.stderr and "Traceback" not in done.stderr
