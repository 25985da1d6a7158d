"""The benchmark scripts compute the right thing: the numpy floor, the trainers' agreement, the CLI.

Correctness only: nothing here asserts how fast anything is (a shared CI machine says nothing about it).
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load("numpy_reference")
bench_mlp = _load("bench_mlp")


def _batch(n: int = 64, features: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, features), dtype=np.float32), rng.integers(0, 10, n)


def _params(sizes: list[int], seed: int = 1) -> list[np.ndarray]:
    return reference.glorot_uniform_params(sizes, np.random.default_rng(seed))


# ----- the numpy reference ----------------------------------------------------------------------

class _CountingArray(np.ndarray):
    """An ndarray that records every ufunc call and every fancy get/set made on it."""

    calls: ClassVar[list[str]] = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _CountingArray.calls.append(f"{ufunc.__name__}.{method}")
        inputs = tuple(x.view(np.ndarray) if isinstance(x, _CountingArray) else x for x in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _CountingArray) else o for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return result.view(_CountingArray) if isinstance(result, np.ndarray) else result

    def __getitem__(self, index):
        if not isinstance(index, slice):  # a basic slice is a view, not a numpy call that computes
            _CountingArray.calls.append("getitem")
        return super().__getitem__(index)

    def __setitem__(self, index, value):
        _CountingArray.calls.append("setitem")
        super().__setitem__(index, value)


@pytest.mark.parametrize("hidden", [(25, 15), (7,)])
def test_numpy_reference_makes_the_numpy_calls_it_documents(hidden):
    sizes = [20, *hidden, 10]
    model = reference.NumpyMLP(_params(sizes))
    for name in ("params", "m", "v", "scratch"):
        setattr(model, name, [a.view(_CountingArray) for a in getattr(model, name)])
    model._rows = np.arange(32).view(_CountingArray)
    x, y = _batch(32)
    _CountingArray.calls = []
    model.train_epoch(x.view(_CountingArray), y.view(_CountingArray), 32, np.arange(32))
    n_layers = len(hidden) + 1
    assert len(_CountingArray.calls) == reference.numpy_calls_per_step(n_layers)
    assert _CountingArray.calls.count("sqrt.__call__") == 2 * n_layers  # one per parameter, in Adam


def test_numpy_reference_gradients_match_minigrad_autodiff():
    sizes = [20, 12, 8, 10]
    params = _params(sizes)
    x, y = _batch()
    loss, grads = reference.NumpyMLP(params).gradients(x.copy(), y)

    tensors = [mg.Tensor(p.copy(), requires_grad=True) for p in params]
    h = mg.Tensor(x)
    for i in range(3):
        h = h @ tensors[2 * i] + tensors[2 * i + 1]
        if i < 2:
            h = h.relu()
    expected = F.softmax_cross_entropy(h, y)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    for g, t in zip(grads, tensors):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, t.grad.data, rtol=1e-4, atol=1e-6)


def test_numpy_reference_adam_is_keras_update():
    params = _params([20, 10])
    model = reference.NumpyMLP(params, learning_rate=0.01)
    x, y = _batch()
    _, grads = model.gradients(x.copy(), y)
    grads = [g.astype(np.float64) for g in grads]
    model.train_step(x.copy(), y)
    for p0, g, p1 in zip(params, grads, model.parameters()):
        m, v = 0.1 * g, 0.001 * g * g
        alpha = 0.01 * np.sqrt(1 - 0.999) / (1 - 0.9)
        np.testing.assert_allclose(p1, p0 - alpha * m / (np.sqrt(v) + 1e-7), rtol=1e-5, atol=1e-6)
        assert p1.dtype == np.float32


def test_numpy_reference_learns():
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((10, 20)).astype(np.float32) * 3
    y = rng.integers(0, 10, 512)
    x = centers[y] + rng.standard_normal((512, 20)).astype(np.float32)
    model = reference.NumpyMLP(_params([20, 16, 10]), learning_rate=0.01)
    first = model.train_epoch(x, y, 64, rng.permutation(512))
    for _ in range(10):
        last = model.train_epoch(x, y, 64, rng.permutation(512))
    assert last < first / 4
    assert model.accuracy(x, y) > 0.9


# ----- the implementations agree ----------------------------------------------------------------

@pytest.mark.parametrize("impl", ["minigrad-loop", "minigrad-fit", "torch"])
def test_implementations_match_the_numpy_reference_step_by_step(impl):
    if impl == "torch":
        pytest.importorskip("torch")
    sizes = [20, 16, 12, 10]
    params = _params(sizes)
    x, y = _batch()
    numpy_model = bench_mlp.make_trainer("numpy", params)
    other = bench_mlp.make_trainer(impl, params)
    order = np.arange(len(x))
    # Whole-batch steps, so fit's own shuffling cannot change the batch and the losses must agree.
    for step in range(1, 4):
        if impl == "torch":
            # torch adds Adam's epsilon to sqrt(v_hat), Keras to sqrt(v); this epsilon makes torch's step
            # Keras' exactly, so the comparison can be tight (the benchmark keeps torch's own Adam).
            for group in other.optimizer.param_groups:
                group["eps"] = 1e-7 / math.sqrt(1 - 0.999 ** step)
        expected = numpy_model.train_epoch(x, y, len(x), order)
        got = other.train_epoch(x, y, len(x), order)
        assert got == pytest.approx(expected, rel=1e-5), f"{impl}: loss differs at step {step}"
    for i, (p, q) in enumerate(zip(numpy_model.parameters(), other.parameters())):
        assert q.dtype == np.float32
        np.testing.assert_allclose(q, p, rtol=1e-4, atol=1e-5, err_msg=f"{impl}: parameter {i}")
    assert other.accuracy(x, y) == pytest.approx(numpy_model.accuracy(x, y), abs=1 / len(x))


# ----- the command-line scripts -----------------------------------------------------------------

def _run(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.parametrize("script", ["bench_mlp.py", "bench_ops.py"])
def test_scripts_have_help(script):
    proc = _run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


def test_bench_mlp_rotates_the_order_so_every_implementation_runs_in_every_position():
    impls = ["numpy", "minigrad-loop", "minigrad-fit"]
    rounds = [bench_mlp.interleaved(impls, rep) for rep in range(6)]
    assert rounds[:3] == [impls, impls[1:] + impls[:1], impls[2:] + impls[:2]]
    assert rounds[3:] == rounds[:3]
    for position in range(3):
        assert sorted(r[position] for r in rounds) == sorted(impls * 2)


def test_bench_mlp_rejects_bad_sizes():
    proc = _run("bench_mlp.py", "--sizes", "0,5")
    assert proc.returncode == 2
    assert "0,5" in proc.stderr


def test_bench_mlp_tiny_run_reports_every_implementation(tmp_path):
    try:
        bench_mlp.load_mnist_float(limit=8)
    except (FileNotFoundError, ImportError, OSError) as exc:
        pytest.skip(f"MNIST is not available here: {exc}")
    out = tmp_path / "results.json"
    impls = "numpy,minigrad-loop,minigrad-fit"
    proc = _run("bench_mlp.py", "--sizes", "16", "--limit", "2048", "--repeats", "2", "--memory-steps", "2",
                "--impls", impls, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["impl"] for r in rows] == impls.split(",")
    by_impl = {r["impl"]: r for r in rows}
    assert by_impl["numpy"]["ratio_to_numpy"] == 1.0
    for r in rows:
        assert len(r["times"]) == 2 and all(t > 0 for t in r["times"])
        assert r["epochs_trained"] == 3
        assert r["peak_rss_delta_mib"] is None or r["peak_rss_delta_mib"] >= 0
        assert r["test_accuracy"] > 0.5, r  # 48 Adam steps on MNIST reach ~0.75, far past chance (0.1)
        assert f"| 16 | {r['impl']} |" in proc.stdout
    # Same initial weights and the same sample order: the hand loop follows the numpy floor.
    assert by_impl["minigrad-loop"]["last_epoch_loss"] == pytest.approx(by_impl["numpy"]["last_epoch_loss"],
                                                                         rel=1e-3)
    assert by_impl["minigrad-loop"]["test_accuracy"] == pytest.approx(by_impl["numpy"]["test_accuracy"], abs=0.01)


def test_bench_ops_prints_a_time_for_every_op():
    proc = _run("bench_ops.py", "--repeat", "1", "--seconds", "0.001", "--no-torch")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("| numpy", "| minigrad"))]
    assert len(rows) >= 10
    for row in rows:
        low, median = (float(cell) for cell in row.strip("|").split("|")[1:3])
        assert 0 < low <= median, row


@pytest.mark.parametrize("name", ["numpy", "minigrad-loop", "minigrad-fit"])
def test_count_instructions_runs_the_steps_it_counts(name: str) -> None:
    """The child runs of count_instructions.py train for real (a finite loss that falls), valgrind or not."""
    counter = _load("count_instructions")
    first = counter.run_steps(name, [8], features=6, batch=16, steps=1)
    later = counter.run_steps(name, [8], features=6, batch=16, steps=60)
    assert math.isfinite(first) and math.isfinite(later)
    assert later < first
    assert math.isnan(counter.run_steps(name, [8], features=6, batch=16, steps=0))


@pytest.mark.parametrize("args", [["--hidden", "a,b"], ["--hidden", "0"], ["--steps", "0"], ["--batch", "-2"]])
def test_count_instructions_refuses_bad_arguments_in_one_sentence(args: list[str]) -> None:
    result = subprocess.run([sys.executable, str(BENCHMARKS / "count_instructions.py"), *args],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "must be" in result.stderr


# ----- where_time_goes.py -----------------------------------------------------------------------

@pytest.mark.parametrize("hidden,batch", [([25, 15], 128), ([7], 33), ([12, 9, 6], 1)])
def test_the_transcribed_step_takes_minigrads_steps_bit_for_bit(hidden: list[int], batch: int) -> None:
    """where_time_goes.py times minigrad's numpy calls without minigrad: they must stay the same calls."""
    where = _load("where_time_goes")
    rng = np.random.default_rng(4)
    params = reference.glorot_uniform_params([784, *hidden, 10], rng)
    loop, bare = bench_mlp.MinigradLoop(params, 1e-3), where.TranscribedStep(params)
    for _ in range(4):
        x = rng.random((batch, 784), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        assert loop.train_step(x, y) == bare.train_step(x, y)
        for mine, theirs in zip(loop.parameters(), bare.parameters()):
            np.testing.assert_array_equal(mine, theirs)


def test_where_time_goes_counts_minigrads_bookkeeping_and_prints_its_table() -> None:
    where = _load("where_time_goes")
    params = _params([20, 8, 10])
    x, y = _batch(16, 20)
    loop, bare = bench_mlp.MinigradLoop(params, 1e-3), where.TranscribedStep(params)
    # the same numpy calls, but minigrad runs Python around them: many times the bytecodes; fit's
    # replayed step runs the calls from its traced program, with the optimizer's Python around them
    eager, replayed = (where.bytecodes_per_step(step, x, y) for step in (loop.train_step,
                                                                           where.FitStep(params, x, y).train_step))
    assert eager > 3 * where.bytecodes_per_step(bare.train_step, x, y)
    assert replayed < eager / 3
    proc = _run("where_time_goes.py", "--repeats", "1", "--number", "2", "--batch", "8")
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "µs" not in line]
    assert [row.split("|")[1].strip() for row in rows] == ["numpy", "minigrad", "minigrad's numpy", "fit, replayed"]
    assert "bookkeeping" in proc.stdout


@pytest.mark.parametrize("args", [["--hidden", "a,b"], ["--hidden", "0"], ["--batch", "0"], ["--repeats", "-1"],
                                  ["--threads", "0"]])
def test_where_time_goes_refuses_bad_arguments_in_one_sentence(args: list[str]) -> None:
    proc = _run("where_time_goes.py", *args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "must be" in proc.stderr
