"""The trainer's pieces in-process: widgets, the dashboard's layout, the plain log, checkpoints."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from rich.console import Console

from viz.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    metrics_path,
    save_checkpoint,
    write_metrics,
)
from viz.trainer import (
    PlainLog,
    RunInfo,
    RunSummary,
    TrainingDashboard,
    block_chart,
    confusion_matrix,
    digit_text,
    format_duration,
    gradient_bars,
    hardest_classes,
    most_confused,
    probability_bars,
    summary_lines,
    summary_renderable,
)

ESCAPE = re.compile(r"\x1b")


def plain_text(renderable, width=100) -> str:
    console = Console(width=width, height=40, color_system=None, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


# ----- widgets ------------------------------------------------------------------------------------------

def test_digit_is_half_blocks_with_top_pixel_as_foreground_and_bottom_as_background():
    image = np.zeros((28, 28), np.uint8)
    image[0, 0], image[1, 0] = 255, 64  # one cell: white over dark grey
    text = digit_text(image)
    lines = text.plain.split("\n")
    assert len(lines) == 14 and all(line == "▀" * 28 for line in lines)
    first = text.get_style_at_offset(Console(), 0)
    assert first.color.triplet == (255, 255, 255) and first.bgcolor.triplet == (64, 64, 64)
    assert len(digit_text(image, compact=True).plain.split("\n")) == 7


def test_digit_rejects_a_flat_array():
    with pytest.raises(ValueError, match="2-d image"):
        digit_text(np.zeros(784))


def test_probability_bars_are_proportional_and_show_percentages():
    probs = np.array([0.0, 0.5, 0.25, 0.25, 0, 0, 0, 0, 0, 0])
    lines = probability_bars(probs, label=1, class_names=[str(i) for i in range(10)], bar_width=16).plain.split("\n")
    assert len(lines) == 10
    assert lines[1].count("█") == 8 and lines[2].count("█") == 4 and lines[0].count("█") == 0
    assert lines[1].rstrip().endswith("50.0%") and lines[2].rstrip().endswith("25.0%")


def test_block_chart_fills_columns_from_the_bottom_and_marks_validation_points():
    columns = np.array([0.0, 0.5, 1.0, np.nan])
    text = block_chart(columns, width=4, height=2, lo=0.0, hi=1.0, style="cyan", markers=[(3, 1.0)],
                       axis=[(0, "1")])
    rows = [line.split("┤")[-1].split("│")[-1] for line in text.plain.split("\n")[:2]]
    assert rows[0] == "  █●"  # top row: only the full column, and the marker at value 1.0
    assert rows[1] == "▁██ "  # bottom row: a value always shows at least a sliver; NaN shows nothing
    assert text.plain.split("\n")[-1].endswith("└1───")


def test_gradient_bars_use_a_log_scale_and_flag_non_finite_norms():
    text = gradient_bars([("a", "2→3", 1e-3), ("b", "3→4", 1.0), ("c", "4→5", float("nan"))], bar_width=10,
                         lo=1e-4, hi=1e1).plain.split("\n")
    assert text[0].count("█") == 2 and text[1].count("█") == 8  # 1 and 4 decades of 5
    assert "nan" in text[2]


def test_confusion_matrix_and_the_hardest_classes():
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 1, 2, 0, 0, 2])
    matrix = confusion_matrix(y_true, y_pred, 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 3, 0], [2, 0, 2]]
    assert hardest_classes(matrix, 2) == [(0, 0.5), (2, 0.5)]
    assert most_confused(matrix, 5) == [(2, 0, 2), (0, 1, 1)]
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(y_true, y_pred[:3])


def test_summary_ends_with_the_test_accuracy_line_and_has_no_escape_codes():
    y = np.arange(100) % 10
    pred = y.copy()
    pred[:7] = (pred[:7] + 1) % 10
    summary = RunSummary(test_accuracy=0.93, y_true=y, y_pred=pred, class_names=[str(i) for i in range(10)],
                         wall_time=3.2, train_time=2.5, epochs_done=2, checkpoint="c.npz", metrics="m.jsonl")
    lines = summary_lines(summary)
    assert lines[-1] == "test accuracy: 0.9300"
    assert "checkpoint: c.npz" in lines and "metrics: m.jsonl" in lines
    assert not any(ESCAPE.search(line) for line in lines)
    shown = plain_text(summary_renderable(summary), width=80)
    assert "confusion matrix" in shown and "93.00%" in shown and "hardest classes" in shown


def test_format_duration():
    assert [format_duration(s) for s in (0, 7.4, 65, 3723)] == ["0:00", "0:07", "1:05", "1:02:03"]


# ----- the callbacks ------------------------------------------------------------------------------------

def feed(callback, epochs=2, steps=10, batch_losses=None):
    """Drive a callback as fit would, with running means of known per-batch values."""
    for epoch in range(epochs):
        callback.on_epoch_begin(epoch, {})
        total = 0.0
        for batch in range(steps):
            value = batch_losses[epoch * steps + batch] if batch_losses is not None else 1.0 / (batch + 1)
            total += value
            callback.on_train_batch_end(batch, {"loss": total / (batch + 1), "accuracy": 0.5, "size": 4})
        callback.on_epoch_end(epoch, {"loss": total / steps, "accuracy": 0.5, "val_loss": 0.3,
                                      "val_accuracy": 0.9})


def test_progress_recovers_each_batch_value_from_the_running_means():
    info = RunInfo(epochs=2, steps_per_epoch=5, batch_size=4)
    log = PlainLog(info, stream=io.StringIO(), every=100)
    values = np.linspace(2.0, 0.1, 10)
    feed(log, epochs=2, steps=5, batch_losses=values)
    np.testing.assert_allclose(log.progress.step_loss, values, rtol=1e-9)
    assert log.progress.samples == 40


def test_progress_recovers_batch_values_when_the_last_batch_is_short():
    # fit's running means are sample-weighted (loss_sum / seen), so a short last batch weighs less
    info = RunInfo(epochs=1, steps_per_epoch=3, batch_size=4)
    log = PlainLog(info, stream=io.StringIO(), every=100)
    log.on_epoch_begin(0, {})
    loss_sum = correct = seen = 0
    for batch, (size, loss, right) in enumerate(zip([4, 4, 1], [1.0, 1.0, 4.0], [2, 4, 0])):
        loss_sum += loss * size
        correct += right
        seen += size
        log.on_train_batch_end(batch, {"loss": loss_sum / seen, "accuracy": correct / seen, "size": size})
    np.testing.assert_allclose(log.progress.step_loss, [1.0, 1.0, 4.0], rtol=1e-9)
    np.testing.assert_allclose(log.progress.step_accuracy, [0.5, 1.0, 0.0], atol=1e-12)
    assert log.progress.samples == 9


def test_plain_log_writes_a_line_every_n_batches_and_per_epoch_without_escape_codes():
    stream = io.StringIO()
    log = PlainLog(RunInfo(epochs=2, steps_per_epoch=10, batch_size=4), stream=stream, every=4)
    feed(log, epochs=2, steps=10)
    lines = stream.getvalue().splitlines()
    assert [line.split("  ")[1] for line in lines[:3]] == ["batch 4/10", "batch 8/10", "loss 0.2929"]
    assert lines[2].startswith("epoch 1/2") and "val_accuracy 0.9000" in lines[2]
    assert len(lines) == 6 and not ESCAPE.search(stream.getvalue())


def resumed_epoch_lines(partial: dict[str, float]) -> list[str]:
    """Plain lines of epoch 2 of 2 resumed after 3 of its 5 batches (loss 1.0 each), then 2 of loss 2.0."""
    stream = io.StringIO()
    known = {"initial_partial": partial} if partial else {}
    log = PlainLog(RunInfo(epochs=2, steps_per_epoch=5, batch_size=4, initial_epoch=1, initial_batch=3, **known),
                   stream=stream, every=1)
    log.set_batch_offset(3)
    log.on_epoch_begin(1, {})
    log.on_train_batch_end(0, {"loss": 2.0, "accuracy": 0.5, "size": 4})
    log.on_train_batch_end(1, {"loss": 2.0, "accuracy": 0.5, "size": 4})
    log.on_epoch_end(1, {"loss": 2.0, "accuracy": 0.5, "val_loss": 0.3, "val_accuracy": 0.9})
    return stream.getvalue().splitlines()


def test_a_resumed_epoch_reports_means_over_all_its_batches():
    lines = resumed_epoch_lines({"loss": 1.0, "accuracy": 1.0, "samples": 12})
    assert lines[0].startswith("epoch 2/2  batch 4/5  loss 1.2500  accuracy 0.8750")  # (3·4·1 + 4·2) / 16
    assert lines[2].startswith("epoch 2/2  loss 1.4000  accuracy 0.8000  val_loss 0.3000")  # (12 + 16) / 20
    assert "only" not in lines[2]


def test_a_resumed_epoch_without_the_earlier_batches_figures_says_so():
    lines = resumed_epoch_lines({})
    assert lines[2].startswith("epoch 2/2  loss 2.0000  accuracy 0.5000  val_loss 0.3000  val_accuracy 0.9000  "
                               "(train figures of batches 4-5 only)")


class FakeParam:
    def __init__(self, grad):
        self.grad = grad


@pytest.mark.parametrize("width", [80, 120])
def test_dashboard_fits_the_terminal_width_and_shows_every_piece(width):
    digits = np.zeros((2, 28, 28), np.uint8)
    digits[:, 10:18, 12:16] = 255
    calls = []

    def probe(batch):
        calls.append(batch.shape)
        return np.full((len(batch), 10), 0.1)

    info = RunInfo(epochs=3, steps_per_epoch=10, batch_size=4, title="a title", digits=digits,
                   digit_labels=np.array([3, 4]), probe=probe,
                   layers=[("dense", "784→25", FakeParam(np.ones((784, 25)) * 1e-3))])
    console = Console(width=width, height=40, color_system=None, file=io.StringIO(), record=True)
    dashboard = TrainingDashboard(info, console=console)
    feed(dashboard, epochs=2, steps=10)
    dashboard._read_gradients()
    dashboard._probe(force=True)
    console.print(dashboard.render())
    lines = console.export_text().splitlines()
    assert all(len(line) <= width for line in lines)
    text = "\n".join(lines)
    for piece in ("a title", "▀" * 28, "10.0%", "label 4", "loss", "accuracy", "gradient norms", "dense",
                  "samples/s", "ETA", "epoch 2/3"):
        assert piece in text, piece
    assert calls and calls[-1] == (1, 28, 28)
    digit_row = next(i for i, line in enumerate(lines) if "▀" * 28 in line)
    assert ("progress" in lines[digit_row - 1]) == (width >= 110)  # side by side only when wide


def dashboard_text(width: int, height: int, epochs: int = 5, done: int = 2, digits: bool = True,
                   steps: int = 10) -> str:
    """The dashboard of a run `done` epochs into `epochs` (3 layers, a title), as a user's terminal shows it."""
    images = np.zeros((2, 28, 28), np.uint8)
    images[:, 10:18, 12:16] = 255
    layers = [(name, shape, FakeParam(np.ones(size) * 1e-2)) for name, shape, size in
              (("dense", "784→25", (784, 25)), ("dense_1", "25→15", (25, 15)), ("dense_2", "15→10", (15, 10)))]
    info = RunInfo(epochs=epochs, steps_per_epoch=steps, batch_size=4, title="minigrad · mnist · a title",
                   digits=images if digits else None, digit_labels=np.array([3, 4]),
                   probe=lambda batch: np.full((len(batch), 10), 0.1), layers=layers)
    console = Console(width=width, height=height, color_system=None, file=io.StringIO(), record=True)
    dashboard = TrainingDashboard(info, console=console)
    feed(dashboard, epochs=done, steps=steps)
    dashboard.on_epoch_begin(done, {})
    for batch in range(steps - 1):  # the current epoch's batches but the last
        dashboard.on_train_batch_end(batch, {"loss": 0.5, "accuracy": 0.75, "size": 4})
    dashboard._read_gradients()
    console.print(dashboard.render())
    return console.export_text()


def epochs_rows(text: str) -> list[str]:
    """The epoch numbers the epochs table shows."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "─ epochs" in line)
    column = lines[start].index("╭─ epochs")  # the panel may sit beside the digit
    rows = []
    for line in lines[start + 2:]:
        cells = line[column:].strip("│ ").split()
        if not cells or not cells[0].isdigit():
            break
        rows.append(cells[0])
    return rows


@pytest.mark.parametrize("width, height", [(80, 24), (100, 24), (100, 30), (100, 45), (120, 24), (120, 40)])
def test_dashboard_always_shows_progress_gradient_norms_and_the_last_epochs(width, height):
    # what the README promises: every size shows these, the digit giving way first on short terminals
    text = dashboard_text(width, height, epochs=5, done=4)
    lines = text.splitlines()
    assert len(lines) <= height - 1 and all(len(line) <= width for line in lines)
    for piece in ("─ progress", "gradient norms", "dense_2", "─ epochs", "─ loss", "─ accuracy"):
        assert piece in text, (piece, text)
    assert epochs_rows(text) == ["2", "3", "4"] or epochs_rows(text) == ["1", "2", "3", "4"]


@pytest.mark.parametrize("width", [80, 100, 109])
def test_dashboard_stacks_its_panels_below_110_columns(width):
    text = dashboard_text(width, 50)
    lines = text.splitlines()
    digit = [line for line in lines if "▀" * 28 in line]
    assert len(digit) == 14  # the full-size digit on a tall terminal
    assert not any("progress" in line or "gradient" in line or "epochs" in line for line in digit)
    assert epochs_rows(text) == ["1", "2"]


def test_dashboard_uses_a_half_size_digit_then_none_as_the_terminal_gets_shorter():
    tall, medium, short = (dashboard_text(80, height) for height in (40, 36, 24))
    assert "▀" * 28 in tall
    assert "▀" * 14 in medium and "▀" * 15 not in medium
    assert "▀" not in short and "softmax output" not in short
    assert "gradient norms" in short and "─ epochs" in short


@pytest.mark.parametrize("width", [80, 100, 120])
def test_dashboard_progress_shows_the_whole_batch_count_with_two_digit_epochs(width):
    # 'epoch 12/40' is wider than 'epoch 3/5': the bar, not the batch count, gives way
    text = dashboard_text(width, 40, epochs=40, done=11, steps=430)
    assert "epoch 12/40" in text and "429/430" in text and "429/4…" not in text


def test_dashboard_without_digits_shows_the_other_panels():
    text = dashboard_text(120, 40, digits=False)
    for piece in ("─ progress", "gradient norms", "─ epochs", "─ loss"):
        assert piece in text, piece
    assert "▀" not in text


# ----- checkpoints --------------------------------------------------------------------------------------

def make_checkpoint() -> Checkpoint:
    return Checkpoint(weights={"layer0.kernel": np.arange(6, dtype=np.float32).reshape(2, 3)},
                      optimizer_state={"optimizer": "Adam", "iterations": 7, "learning_rate": 0.001,
                                       "m.0": np.ones((2, 3), np.float32), "nested": [1, (2.5, None)]},
                      epoch=2, batch=3, partial={"loss": 0.5, "accuracy": 0.75, "samples": 12},
                      history={"loss": [1.0, float("nan")]}, args={"hidden": [25, 15]})


@pytest.mark.parametrize("name", ["run.ckpt", "run", "checkpoint.npz"])
def test_checkpoint_round_trips_at_exactly_the_given_path(tmp_path, name):
    path = tmp_path / "sub" / name
    assert save_checkpoint(path, make_checkpoint()) == path
    assert sorted(p.name for p in path.parent.iterdir()) == [name]  # no .npz added, no temp file left
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded.weights["layer0.kernel"], np.arange(6).reshape(2, 3))
    assert loaded.optimizer_state["iterations"] == 7 and loaded.optimizer_state["nested"] == [1, (2.5, None)]
    np.testing.assert_array_equal(loaded.optimizer_state["m.0"], np.ones((2, 3)))
    assert (loaded.epoch, loaded.batch, loaded.args) == (2, 3, {"hidden": [25, 15]})
    assert loaded.partial == {"loss": 0.5, "accuracy": 0.75, "samples": 12}
    assert loaded.history["loss"][0] == 1.0 and np.isnan(loaded.history["loss"][1])


def test_bad_checkpoints_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(garbage)
    truncated = tmp_path / "truncated.npz"
    save_checkpoint(truncated, make_checkpoint())
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(CheckpointError):
        load_checkpoint(truncated)
    weights_only = tmp_path / "weights.npz"
    np.savez(weights_only, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        load_checkpoint(weights_only)
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_metrics_are_json_lines_beside_the_checkpoint(tmp_path):
    assert metrics_path(tmp_path / "checkpoint.npz") == tmp_path / "metrics.jsonl"
    assert metrics_path(tmp_path / "run-a.ckpt") == tmp_path / "run-a.metrics.jsonl"
    path = write_metrics(tmp_path / "m.jsonl", {"loss": [0.5, 0.25], "val_loss": [0.4, float("inf")]},
                         extra={"test_accuracy": 0.9})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"epoch": 1, "loss": 0.5, "val_loss": 0.4}, {"epoch": 2, "loss": 0.25, "val_loss": None},
                    {"test_accuracy": 0.9}]
