"""Watching a network learn: the rich live dashboard and the plain-line logger, both fit callbacks.

`TrainingDashboard` draws, a few times a second (not once per batch), one test digit in half-block
characters with the network's softmax output as ten bars, the loss and accuracy curves (train and
validation) as block charts, per-layer gradient norms and the run's progress. `PlainLog` writes one
line per epoch (and every `every` batches) with no escape codes, for pipes, files and CI.

The callbacks only copy numbers into arrays; drawing happens in rich's refresh thread, so a batch
costs the same whether 10 or 10,000 of them go by between frames.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
from rich.color import Color
from rich.console import Console, Group
from rich.live import Live
from rich.measure import Measurement
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from minigrad.nn.callbacks import Callback

__all__ = [
    "PlainLog",
    "RunInfo",
    "RunSummary",
    "TrainingDashboard",
    "block_chart",
    "confusion_matrix",
    "confusion_table",
    "digit_text",
    "format_duration",
    "gradient_bars",
    "hardest_classes",
    "merge_partial",
    "most_confused",
    "probability_bars",
    "summary_lines",
    "summary_renderable",
]

VERTICAL_BLOCKS = " ▁▂▃▄▅▆▇█"  # 0/8 .. 8/8 of a cell, filled from the bottom
HORIZONTAL_BLOCKS = " ▏▎▍▌▋▊▉█"  # 0/8 .. 8/8 of a cell, filled from the left

LOSS_STYLE, VAL_LOSS_STYLE = "cyan", "bold magenta"
ACCURACY_STYLE, VAL_ACCURACY_STYLE = "green", "bold yellow"


@dataclass
class RunInfo:
    """What the dashboard and the log know about a run before it starts."""

    epochs: int  # total, as fit's `epochs`
    steps_per_epoch: int
    batch_size: int
    initial_epoch: int = 0
    initial_batch: int = 0  # batches of `initial_epoch` already done (a run resumed mid-epoch)
    # the train means of those batches and their sample count ({"loss", "accuracy", "samples"}), so the
    # resumed epoch reports whole-epoch figures; without "samples" it says its figures cover part of it
    initial_partial: dict[str, float] = field(default_factory=dict)
    title: str = ""
    class_names: Sequence[str] = tuple(str(i) for i in range(10))
    # test digits to show (uint8, (k, 28, 28)) with their labels, and a function giving the network's
    # class probabilities for a float batch of them (called at most every ~0.5 s, under no_grad)
    digits: np.ndarray | None = None
    digit_labels: np.ndarray | None = None
    probe: Callable[[np.ndarray], np.ndarray] | None = None
    # (layer name, "784→25", parameter whose .grad to measure) for the gradient-norm bars
    layers: Sequence[tuple[str, str, Any]] = ()


@dataclass
class RunSummary:
    """The end of a run: what the summary shows."""

    test_accuracy: float
    y_true: np.ndarray
    y_pred: np.ndarray
    class_names: Sequence[str]
    wall_time: float
    train_time: float
    epochs_done: int
    checkpoint: str | None = None
    metrics: str | None = None
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


def format_duration(seconds: float) -> str:
    """0:07, 1:05, 1:02:03."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def merge_partial(partial: dict[str, float], means: dict[str, float], samples: int) -> dict[str, float]:
    """Train loss/accuracy over an epoch's batches before a resume (`partial`, with its "samples") and after.

    `means` are the running means over the `samples` samples trained since the resume.
    """
    before = partial.get("samples", 0)
    merged = {}
    for key in ("loss", "accuracy"):
        parts = [(partial[key], before)] if before and key in partial else []
        if samples and key in means:
            parts.append((means[key], samples))
        if parts:
            merged[key] = sum(v * n for v, n in parts) / sum(n for _, n in parts)
    return merged


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class _Progress:
    """The numbers both views share: where the run is, per-batch metrics, epoch history, timing."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.epoch = info.initial_epoch  # 0-based, as fit's callbacks count
        self.batch_offset = info.initial_batch
        self.batches_done = info.initial_batch  # in the current epoch
        # batches of the current epoch trained before a resume: their means, and how many samples
        self.partial = dict(info.initial_partial) if info.initial_batch else {}
        self.fit_logs: dict[str, float] = {}  # fit's running means: this session's batches of the epoch
        self.logs: dict[str, float] = {}  # what is shown: the same over all the epoch's batches so far
        self.partial_epochs: dict[int, int] = {}  # epoch -> batches before the resume its figures lack
        self.epoch_logs: list[tuple[int, dict[str, float]]] = []
        total_steps = max(1, info.epochs * info.steps_per_epoch)
        # per-batch train loss/accuracy recovered from fit's running means, indexed by absolute step
        self.step_loss = np.full(total_steps, np.nan)
        self.step_accuracy = np.full(total_steps, np.nan)
        self._previous_means: tuple[float, float] = (math.nan, math.nan)
        self.samples = 0
        self.epoch_samples = 0  # samples fit has run in the current epoch (this fit call)
        self.start = time.perf_counter()
        self.epoch_start = self.start
        self.steps_run = 0  # batches run in this session (for the rate and the ETA)

    def set_batch_offset(self, batches: int) -> None:
        """Batch numbers from fit start at 0; a run resumed mid-epoch shows them after `batches`."""
        self.batch_offset = batches

    def begin_epoch(self, epoch: int) -> None:
        self.epoch_samples = 0
        self.epoch_start = time.perf_counter()
        if self.steps_run == 0:  # the clock of the rate and the ETA starts with training, not before
            self.start = self.epoch_start
        self.epoch = epoch
        self.batches_done = self.batch_offset
        self._previous_means = (math.nan, math.nan)

    def end_batch(self, batch: int, logs: dict[str, Any] | None) -> None:
        logs = logs or {}
        index = batch + self.batch_offset
        self.batches_done = index + 1
        self.fit_logs = {k: _float(v) for k, v in logs.items() if k not in ("batch", "size")}
        size = logs.get("size")
        size = int(size) if isinstance(size, (int, np.integer)) else self.info.batch_size
        seen_before = self.epoch_samples
        self.samples += size
        self.epoch_samples += size
        self.steps_run += 1
        step = self.epoch * self.info.steps_per_epoch + index
        # fit reports sample-weighted running means over the epoch (m_k = sum of batch values * sizes / seen_k),
        # so the k-th batch's own value is (seen_k*m_k - seen_(k-1)*m_(k-1)) / size_k: exact when a batch
        # (the last one) is smaller than the others
        for name, series, i in (("loss", self.step_loss, 0), ("accuracy", self.step_accuracy, 1)):
            mean = self.fit_logs.get(name, math.nan)
            previous = self._previous_means[i]
            if seen_before == 0 or math.isnan(previous) or size <= 0:
                value = mean
            else:
                value = (self.epoch_samples * mean - seen_before * previous) / size
            if 0 <= step < series.size:
                series[step] = value
        self._previous_means = (self.fit_logs.get("loss", math.nan), self.fit_logs.get("accuracy", math.nan))
        self.logs = {**self.fit_logs, **self._whole_epoch(self.fit_logs)}

    def _whole_epoch(self, means: dict[str, float]) -> dict[str, float]:
        """Train means over all the epoch's batches, those before a resume included (when known)."""
        return merge_partial(self.partial, means, self.epoch_samples) if self.partial.get("samples") else {}

    def end_epoch(self, epoch: int, logs: dict[str, Any] | None) -> None:
        values = {k: _float(v) for k, v in (logs or {}).items()}
        whole = self._whole_epoch(values)
        values = {**whole, **{k: v for k, v in values.items() if k not in whole}}
        values["epoch_time"] = time.perf_counter() - self.epoch_start
        if self.batch_offset and not self.partial.get("samples"):  # a resume whose checkpoint lacks them
            self.partial_epochs[epoch] = self.batch_offset
        self.epoch_logs.append((epoch, values))
        self.batch_offset = 0
        self.partial = {}

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rate(self) -> float:
        elapsed = self.elapsed
        return self.samples / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        info = self.info
        remaining = (info.epochs - self.epoch) * info.steps_per_epoch - self.batches_done
        if self.steps_run == 0:
            return None
        return max(0.0, remaining) * self.elapsed / self.steps_run

    def run_fraction(self) -> float:
        info = self.info
        total = info.epochs * info.steps_per_epoch
        done = self.epoch * info.steps_per_epoch + self.batches_done
        return min(1.0, done / total) if total else 1.0


class PlainLog(Callback):
    """One plain line per epoch and every `every` batches, flushed, no escape codes."""

    def __init__(self, info: RunInfo, stream: TextIO | None = None, every: int = 100) -> None:
        super().__init__()
        self.progress = _Progress(info)
        self.stream = stream if stream is not None else sys.stdout
        self.every = max(1, int(every))

    def write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def set_batch_offset(self, batches: int) -> None:
        self.progress.set_batch_offset(batches)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.begin_epoch(epoch)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        p = self.progress
        p.end_batch(batch, logs)
        if p.batches_done % self.every == 0:
            metrics = "  ".join(f"{k} {v:.4f}" for k, v in p.logs.items())
            self.write(f"epoch {p.epoch + 1}/{p.info.epochs}  batch {p.batches_done}/{p.info.steps_per_epoch}"
                       f"  {metrics}  {p.rate():,.0f} samples/s")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        p = self.progress
        p.end_epoch(epoch, logs)
        logs = p.epoch_logs[-1][1]
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "epoch_time")
        missing = p.partial_epochs.get(epoch)
        if missing:
            metrics += f"  (train figures of batches {missing + 1}-{p.info.steps_per_epoch} only)"
        self.write(f"epoch {epoch + 1}/{p.info.epochs}  {metrics}  time {logs['epoch_time']:.1f}s  "
                   f"elapsed {format_duration(p.elapsed)}")


# --- widgets ------------------------------------------------------------------------------------------

def _grey(value: float) -> Any:
    v = int(max(0, min(255, value)))
    return Color.from_rgb(v, v, v)


def digit_text(image: np.ndarray, compact: bool = False) -> Any:
    """A greyscale image as rich Text: each '▀' cell is two pixels (foreground top, background bottom).

    `compact` halves the resolution first (28×28 → 14×14, 7 lines) for short terminals.
    """
    pixels = np.asarray(image, dtype=np.float64)
    if pixels.ndim != 2:
        raise ValueError(f"digit_text: expected a 2-d image, got shape {pixels.shape}")
    if pixels.max(initial=0) <= 1.0:
        pixels = pixels * 255.0
    if compact:
        h, w = pixels.shape[0] // 2 * 2, pixels.shape[1] // 2 * 2
        pixels = pixels[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    if pixels.shape[0] % 2:
        pixels = np.vstack([pixels, np.zeros((1, pixels.shape[1]))])
    styles: dict[tuple[int, int], Style] = {}
    text = Text(no_wrap=True, overflow="crop")
    for r in range(0, pixels.shape[0], 2):
        for top, bottom in zip(pixels[r].astype(int), pixels[r + 1].astype(int)):
            key = (int(top), int(bottom))
            style = styles.get(key)
            if style is None:
                style = styles[key] = Style(color=_grey(top), bgcolor=_grey(bottom))
            text.append("▀", style)
        if r + 2 < pixels.shape[0]:
            text.append("\n")
    return text


def _hbar(fraction: float, width: int) -> str:
    """A left-aligned bar of `width` cells filled to `fraction`, in eighths of a cell."""
    if not math.isfinite(fraction):
        fraction = 0.0
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (HORIZONTAL_BLOCKS[part] if part and full < width else "")
    return bar.ljust(width)


def probability_bars(probs: np.ndarray | None, label: int | None, class_names: Sequence[str],
                     bar_width: int = 20) -> Any:
    """Ten horizontal bars, one per class: the network's softmax output for one input (label in bold)."""
    names = [str(n) for n in class_names]
    name_width = max(len(n) for n in names)
    predicted = int(np.argmax(probs)) if probs is not None else None
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, name in enumerate(names):
        p = float(probs[i]) if probs is not None else math.nan
        right, wrong = i == predicted and i == label, i == predicted and i != label
        style = "bold green" if right else "bold red" if wrong else "blue"
        text.append(f"{name:>{name_width}} ", "bold underline" if i == label else "dim")
        text.append(_hbar(p, bar_width), style)
        text.append("     —" if math.isnan(p) else f" {p:5.1%}".rjust(7), style if i == predicted else "dim")
        if i < len(names) - 1:
            text.append("\n")
    return text


def _columns(series: np.ndarray, first: int, width: int) -> np.ndarray:
    """Mean of series[first:] over `width` equal spans (NaN where a span holds no value yet)."""
    values = series[first:]
    n = values.size
    out = np.full(width, np.nan)
    if n == 0 or width <= 0:
        return out
    for c in range(width):
        lo = c * n // width
        hi = max((c + 1) * n // width, lo + 1)
        span = values[lo:hi]
        span = span[~np.isnan(span)]
        if span.size:
            out[c] = span.mean()
    return out


def block_chart(columns: np.ndarray, width: int, height: int, lo: float, hi: float, style: str,
                markers: Sequence[tuple[int, float]] = (), marker_style: str = "bold magenta",
                axis: Sequence[tuple[int, str]] = (), label_format: str = "{:.2f}") -> Any:
    """A filled block chart of `columns` (one value per cell column, NaN = nothing yet) scaled to [lo, hi].

    `markers` are (column, value) points drawn as '●' over it; `axis` puts labels on the baseline.
    """
    height = max(1, height)
    span = hi - lo if hi > lo else 1.0
    levels = np.where(np.isnan(columns), -1, np.clip((columns - lo) / span, 0, 1) * height * 8)
    cells = [[" "] * width for _ in range(height)]
    for c in range(min(width, columns.size)):
        level = levels[c]
        if level < 0:
            continue
        eighths = max(1, round(level))  # a present value always shows at least a sliver
        for row in range(height):
            filled = eighths - row * 8
            if filled <= 0:
                break
            cells[height - 1 - row][c] = VERTICAL_BLOCKS[min(8, filled)]
    marked: dict[tuple[int, int], bool] = {}
    for column, value in markers:
        if 0 <= column < width and math.isfinite(value):
            row = min(height - 1, int((max(0.0, min(1.0, (value - lo) / span))) * height * 0.999999))
            line = height - 1 - row
            marked[(line, column)] = cells[line][column] == "█"
    label_width = max(len(label_format.format(hi)), len(label_format.format(lo)))
    text = Text(no_wrap=True, overflow="crop")
    for line in range(height):
        label = label_format.format(hi) if line == 0 else label_format.format(lo) if line == height - 1 else ""
        text.append(f"{label:>{label_width}} ┤" if label else " " * label_width + " │", "dim")
        run = []
        for c in range(width):
            if (line, c) in marked:
                if run:
                    text.append("".join(run), style)
                    run = []
                text.append("●", f"{marker_style} on {style}" if marked[(line, c)] else marker_style)
            else:
                run.append(cells[line][c])
        if run:
            text.append("".join(run), style)
        text.append("\n")
    baseline = ["─"] * width
    for column, label in axis:
        for i, ch in enumerate(label):
            if 0 <= column + i < width:
                baseline[column + i] = ch
    text.append(" " * label_width + " └" + "".join(baseline), "dim")
    return text


def gradient_bars(rows: Sequence[tuple[str, str, float]], bar_width: int = 16,
                  lo: float = 1e-4, hi: float = 1e1) -> Any:
    """Per-layer gradient norms as bars on a log scale from `lo` to `hi` (vanishing ← → exploding)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if not rows:
        text.append("(no gradients yet)", "dim")
        return text
    name_width = max(len(r[0]) for r in rows)
    shape_width = max(len(r[1]) for r in rows)
    decades = math.log10(hi / lo)
    for i, (name, shape, norm) in enumerate(rows):
        if math.isfinite(norm) and norm > 0:
            fraction = (math.log10(norm) - math.log10(lo)) / decades
            style = "red" if norm < lo * 10 or norm > hi / 10 else "cyan"
            value = f"{norm:8.1e}"
        else:
            fraction, style = 0.0, "red"
            value = f"{norm:>8}" if not math.isfinite(norm) else "       0"
        text.append(f"{name:<{name_width}} ", "bold")
        text.append(f"{shape:>{shape_width}} ", "dim")
        text.append(_hbar(fraction, bar_width), style)
        text.append(f" {value}")
        if i < len(rows) - 1:
            text.append("\n")
    return text


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[t, p] = how many samples of class t were predicted as p."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def _class_accuracy(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1)
    return np.divide(np.diag(matrix), totals, out=np.full(len(matrix), np.nan), where=totals > 0)


def hardest_classes(matrix: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The k classes with the lowest accuracy: [(class, accuracy), ...], worst first."""
    accuracy = _class_accuracy(matrix)
    order = [int(i) for i in np.argsort(np.where(np.isnan(accuracy), np.inf, accuracy), kind="stable")]
    return [(i, float(accuracy[i])) for i in order[:k] if not np.isnan(accuracy[i])]


def most_confused(matrix: np.ndarray, k: int = 3) -> list[tuple[int, int, int]]:
    """The k largest off-diagonal counts: [(true class, predicted class, count), ...]."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(off, axis=None, kind="stable")[::-1][:k]
    pairs = [(int(i // len(matrix)), int(i % len(matrix)), int(off.flat[i])) for i in flat]
    return [p for p in pairs if p[2] > 0]


def confusion_table(matrix: np.ndarray, class_names: Sequence[str]) -> Any:
    """The confusion matrix as a rich Table, shaded by each row's share (green diagonal, red errors)."""
    n = len(matrix)
    totals = matrix.sum(axis=1)
    accuracy = _class_accuracy(matrix)
    table = Table(box=None, padding=(0, 0), show_edge=False, pad_edge=False, collapse_padding=True)
    names = [str(c) for c in class_names]
    table.add_column("", justify="left", no_wrap=True, style="bold")
    for j in range(n):
        table.add_column(f"{j:>5}", justify="right", no_wrap=True, header_style="bold")
    table.add_column("  accuracy", justify="right", no_wrap=True)
    for i in range(n):
        cells = []
        for j in range(n):
            share = matrix[i, j] / totals[i] if totals[i] else 0.0
            if i == j:
                # diagonal: brighter green the more of the class is right
                bg = Color.from_rgb(0, int(60 + 140 * share), 0)
            else:
                # errors: red grows quickly so that even 2-3% stands out
                bg = Color.from_rgb(int(min(1.0, share * 12) * 200), 0, 0) if matrix[i, j] else None
            style = Style(bgcolor=bg, color="white" if bg is not None else "grey50")
            cells.append((f"{matrix[i, j]:>5}", style))

        acc = accuracy[i]
        acc_style = "green" if acc >= 0.95 else "yellow" if acc >= 0.9 else "red"
        label = names[i] if len(names[i]) <= 12 else names[i][:11] + "…"
        table.add_row(Text(f"{i} {label} " if names[i] != str(i) else f"{i} "),
                      *(Text(s, style) for s, style in cells),
                      Text(f"{acc:9.1%}", acc_style) if not np.isnan(acc) else Text("       —"))
    return table


def summary_lines(summary: RunSummary) -> list[str]:
    """The end-of-run report as plain lines (no escape codes), ending with `test accuracy: 0.xxxx`."""
    matrix = confusion_matrix(summary.y_true, summary.y_pred, len(summary.class_names))
    lines = ["confusion matrix (rows: true class, columns: predicted):",
             "      " + "".join(f"{j:>6}" for j in range(len(matrix))) + "  accuracy"]
    accuracy = _class_accuracy(matrix)
    for i, row in enumerate(matrix):
        lines.append(f"{i:>6}" + "".join(f"{v:>6}" for v in row) + f"  {accuracy[i]:8.1%}")
    names = summary.class_names
    hardest = ", ".join(f"{names[c]} ({a:.1%})" for c, a in hardest_classes(matrix))
    confused = ", ".join(f"{names[t]} as {names[p]} ({n})" for t, p, n in most_confused(matrix))
    lines.append(f"hardest classes: {hardest}")
    if confused:
        lines.append(f"most confused: {confused}")
    lines.append(f"wall time: {summary.wall_time:.1f} s (training {summary.train_time:.1f} s, "
                 f"{_epochs(summary.epochs_done)})")
    lines.extend(summary.notes)
    if summary.checkpoint:
        lines.append(f"checkpoint: {summary.checkpoint}")
    if summary.metrics:
        lines.append(f"metrics: {summary.metrics}")
    lines.append(f"test accuracy: {summary.test_accuracy:.4f}")
    return lines


def summary_renderable(summary: RunSummary) -> Any:
    """The end-of-run report for a terminal: shaded confusion matrix, hardest classes, times, paths."""
    matrix = confusion_matrix(summary.y_true, summary.y_pred, len(summary.class_names))
    names = summary.class_names
    facts = Text()
    facts.append("test accuracy ", "bold")
    facts.append(f"{summary.test_accuracy:.2%}", "bold green")
    facts.append(f"  ({int(np.sum(summary.y_true == summary.y_pred)):,} of {len(summary.y_true):,})\n")
    facts.append("hardest classes ", "bold")
    facts.append(", ".join(f"{names[c]} {a:.1%}" for c, a in hardest_classes(matrix)), "yellow")
    confused = most_confused(matrix)
    if confused:
        facts.append("\nmost confused   ", "bold")
        facts.append(", ".join(f"{names[t]} as {names[p]} ({n})" for t, p, n in confused))
    facts.append("\nwall time       ", "bold")
    facts.append(f"{summary.wall_time:.1f} s (training {summary.train_time:.1f} s, {_epochs(summary.epochs_done)})")
    for note in summary.notes:
        facts.append(f"\n{note}", "yellow")
    if summary.checkpoint:
        facts.append("\ncheckpoint      ", "bold")
        facts.append(summary.checkpoint)
    if summary.metrics:
        facts.append("\nmetrics         ", "bold")
        facts.append(summary.metrics)
    title = "interrupted — evaluated on the test set" if summary.interrupted else "test set"
    heading = Text("confusion matrix", "bold")
    heading.append(" (rows: true class, columns: predicted)", "dim")
    return Panel(Group(heading, confusion_table(matrix, names), Text(""), facts), title=title, title_align="left",
                 expand=False, border_style="green")


# --- the live dashboard ---------------------------------------------------------------------------------

class _Lines:
    """Lines of segments rendered once (e.g. a digit): drawn again without measuring or wrapping."""

    def __init__(self, lines: list[list[Segment]], width: int) -> None:
        self.lines, self.width = lines, width

    @classmethod
    def render(cls, console: Console, renderable: Any, width: int) -> _Lines:
        lines = console.render_lines(renderable, console.options.update(width=width, height=None), pad=True)
        return cls(lines, width)

    def __rich_console__(self, console: Console, options: Any) -> Any:
        for line in self.lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: Any) -> Measurement:
        return Measurement(self.width, self.width)


class _Row:
    """Renderables side by side at fixed widths, each rendered once (a Table would measure them twice)."""

    def __init__(self, *cells: tuple[Any, int]) -> None:
        self.cells = cells

    def __rich_console__(self, console: Console, options: Any) -> Any:
        columns = [console.render_lines(r, options.update(width=w, height=None), pad=True) for r, w in self.cells]
        for i in range(max(len(c) for c in columns)):
            for (_, width), lines in zip(self.cells, columns):
                if i < len(lines):
                    yield from lines[i]
                else:
                    yield Segment(" " * width)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: Any) -> Measurement:
        total = sum(w for _, w in self.cells)
        return Measurement(total, total)


@dataclass
class _Layout:
    """One arrangement of the panels above the charts, as functions of the epochs table's row count."""

    rows: Callable[[int], int]  # terminal rows it takes
    draw: Callable[[int], Any]  # the renderable


CHART_ROWS = (5, 8, 12)  # a chart's rows: the least worth drawing, enough to read, the most it gets
EPOCH_ROWS = (3, 5)  # epochs table rows: the least a layout must show (if there were as many), then before 12-row charts


def _plan(layout: _Layout, budget: int, wanted: int, last: bool) -> tuple[int, int] | None:
    """(epochs table rows, chart rows) for `layout` in `budget` rows, or None when it needs a shorter layout.

    The epochs table gets its first rows before the charts get 8, and more only once they have 12;
    the last layout (nothing shorter to fall back on) gives up epochs rows, then chart rows.
    """
    least_chart, readable_chart, most_chart = CHART_ROWS

    def chart(k: int) -> int:
        return budget - layout.rows(k) - 3  # a chart panel is its rows, the axis line and the border

    least = min(wanted, EPOCH_ROWS[0])
    if last:
        while least > 1 and chart(least) < least_chart:
            least -= 1
    elif chart(least) < least_chart:
        return None
    k = least
    while k < min(wanted, EPOCH_ROWS[1]) and chart(k + 1) >= min(readable_chart, chart(least)):
        k += 1
    while k < wanted and chart(k + 1) >= most_chart:
        k += 1
    return k, min(most_chart, chart(k))


class TrainingDashboard(Callback):
    """A live rich dashboard of a training run (a fit callback); use as a context manager around fit.

    It adapts to the terminal: panels side by side from 110 columns, stacked below that. The progress,
    gradient norms, last epochs and the loss/accuracy charts always show; the test digit is drawn at half
    size when the full one does not fit, and left out on short terminals (80×24: everything but the digit).
    """

    refresh_per_second = 4
    probe_interval = 0.5  # seconds between forward passes on the displayed digit
    gradient_interval = 0.25  # seconds between gradient-norm readings

    def __init__(self, info: RunInfo, console: Any = None) -> None:
        super().__init__()
        self.info = info
        self.progress = _Progress(info)
        self.console = console if console is not None else Console()
        self.live: Any = None
        self.digit_index = 0
        self.probs: np.ndarray | None = None
        self.gradient_norms: list[tuple[str, str, float]] = []
        self._last_probe = -math.inf
        self._last_gradients = -math.inf
        self._digit_cache: dict[tuple[int, bool], Any] = {}
        self.status = "training"
        self._started_by_fit = False

    # context manager: the Live display is on between __enter__ and __exit__
    def __enter__(self) -> TrainingDashboard:  # noqa: PYI034 (Self needs Python 3.11)
        self._probe(force=True)
        self.live = Live(console=self.console, get_renderable=self.render, auto_refresh=True,
                         refresh_per_second=self.refresh_per_second, transient=False,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            try:
                self._probe(force=True)
                self.live.refresh()
            finally:
                self.live.stop()  # leaves the last frame on screen and the cursor below it
                self.live = None

    # fit callbacks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Used as a plain callback (`fit(callbacks=[dashboard])`), the display lives as long as fit."""
        if not self.info.layers and self.model is not None:  # gradient bars for the model's Dense layers
            kernels = [(layer, getattr(layer, "kernel", None)) for layer in getattr(self.model, "layers", ())]
            self.info.layers = [(getattr(layer, "name", f"layer{i}"), f"{k.shape[0]}→{k.shape[1]}", k)
                                for i, (layer, k) in enumerate(kernels) if k is not None and k.ndim == 2]
        if self.live is None:
            self.__enter__()
            self._started_by_fit = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._started_by_fit:
            self._started_by_fit = False
            self.__exit__(None, None, None)

    def set_batch_offset(self, batches: int) -> None:
        self.progress.set_batch_offset(batches)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.begin_epoch(epoch)
        if self.info.digits is not None and len(self.info.digits):
            # a different test digit each epoch, so the bars show more than one example learning
            self.digit_index = (epoch - self.info.initial_epoch) % len(self.info.digits)
            self._probe(force=True)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.end_batch(batch, logs)
        now = time.perf_counter()
        if now - self._last_gradients >= self.gradient_interval:
            self._last_gradients = now
            self._read_gradients()
        if now - self._last_probe >= self.probe_interval:
            self._probe()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.end_epoch(epoch, logs)

    # sampling the model (main thread only; drawing only reads the results)
    def _probe(self, force: bool = False) -> None:
        info = self.info
        if info.probe is None or info.digits is None or not len(info.digits):
            return
        from minigrad import no_grad

        self._last_probe = time.perf_counter()
        image = info.digits[self.digit_index][None].astype(np.float32) / 255.0
        with no_grad():
            probs = info.probe(image)
        self.probs = np.asarray(getattr(probs, "data", probs), dtype=np.float64)[0]

    def _read_gradients(self) -> None:
        norms = []
        for name, shape, param in self.info.layers:
            grad = getattr(param, "grad", None)
            if grad is None:
                continue
            g = np.asarray(getattr(grad, "data", grad), dtype=np.float64)
            norms.append((name, shape, float(np.sqrt(np.sum(g * g)))))
        if norms:
            self.gradient_norms = norms

    # drawing (rich's refresh thread)
    def _digit(self, compact: bool) -> _Lines:
        key = (self.digit_index, compact)
        if key not in self._digit_cache:
            text = digit_text(self.info.digits[self.digit_index], compact=compact)
            self._digit_cache[key] = _Lines.render(self.console, text, 14 if compact else 28)
        return self._digit_cache[key]

    def _bars_width(self, compact: bool) -> tuple[int, int]:
        """The probability bars' width and the width of the whole text beside the digit."""
        bar_width = 16 if compact else 20
        return bar_width, max(len(str(n)) for n in self.info.class_names) + 1 + bar_width + 7

    def _digit_panel_size(self, compact: bool) -> tuple[int, int]:
        """The digit panel's (width, rows): a 28- or 14-cell digit beside ten bars, in a border."""
        digit_cells = 14 if compact else 28
        return digit_cells + 2 + self._bars_width(compact)[1] + 4, max(digit_cells // 2, 10) + 2

    def _digit_panel(self, compact: bool) -> tuple[Any, int]:
        """The digit beside its ten probability bars, and the panel's width."""
        info = self.info
        label = int(info.digit_labels[self.digit_index]) if info.digit_labels is not None else None
        probs = self.probs
        bar_width, bars_width = self._bars_width(compact)
        bars = probability_bars(probs, label, info.class_names, bar_width=bar_width)
        digit = self._digit(compact) if info.digits is not None and len(info.digits) else _Lines([], 0)
        width = digit.width + 2 + bars_width + 4
        subtitle = Text()
        if label is not None:
            subtitle.append(f"label {info.class_names[label]}", "bold")
        if probs is not None:
            predicted = int(np.argmax(probs))
            subtitle.append(" · predicted ")
            subtitle.append(f"{info.class_names[predicted]} ({probs[predicted]:.0%})",
                            "bold green" if predicted == label else "bold red")
        body = _Row((digit, digit.width), (Text(""), 2), (bars, bars_width))
        return Panel(body, title=Text("test digit → softmax output", "bold"), title_align="left",
                     subtitle=subtitle, subtitle_align="left", border_style="blue", width=width), width

    def _progress_panel(self, width: int) -> Any:
        p, info = self.progress, self.info
        steps = info.steps_per_epoch
        label_width = len(f"epoch {info.epochs}/{info.epochs}")
        count_width = max(len(f"{steps}/{steps}"), len("100%"))
        # the bar takes what the borders, the label, the count and the two gaps leave
        bar_width = max(6, width - 4 - label_width - count_width - 2)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, width=label_width)
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        epoch_shown = min(p.epoch + 1, info.epochs)
        grid.add_row(Text(f"epoch {epoch_shown}/{info.epochs}", "bold"),
                     ProgressBar(total=steps, completed=p.batches_done, width=bar_width),
                     Text(f"{p.batches_done}/{steps}"))
        fraction = p.run_fraction()
        grid.add_row(Text("run", "bold"),
                     ProgressBar(total=1.0, completed=fraction, width=bar_width, complete_style="green"),
                     Text(f"{fraction:.0%}"))
        eta = p.eta()
        lines = Text(no_wrap=True, overflow="ellipsis")
        lines.append(f"{p.rate():,.0f}", "bold")
        lines.append(" samples/s")
        lines.append(" · " if width - 4 >= 46 else "\n")
        lines.append("elapsed ")
        lines.append(format_duration(p.elapsed), "bold")
        lines.append(" · ETA ")
        lines.append("—" if eta is None else format_duration(eta), "bold")
        last = p.epoch_logs[-1][1] if p.epoch_logs else {}
        for names in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
            shown = [(n, v) for n, v in ((n, p.logs.get(n) if n in p.logs else last.get(n)) for n in names)
                     if v is not None]
            if shown:
                lines.append("\n")
            for i, (name, value) in enumerate(shown):
                style = {"loss": LOSS_STYLE, "accuracy": ACCURACY_STYLE, "val_loss": VAL_LOSS_STYLE,
                         "val_accuracy": VAL_ACCURACY_STYLE}[name]
                lines.append(("" if i == 0 else " · ") + f"{name.replace('accuracy', 'acc')} ")
                lines.append(f"{value:.4f}", style)
        title = Text("progress", "bold")
        if self.status != "training":
            title.append(f" · {self.status}", "bold yellow")
        return Panel(Group(grid, lines), title=title, title_align="left", border_style="blue", width=width)

    def _gradient_panel(self, width: int) -> Any:
        rows = self.gradient_norms
        name_w = max((len(r[0]) for r in rows), default=0)
        shape_w = max((len(r[1]) for r in rows), default=0)
        bar_width = max(6, width - 4 - name_w - shape_w - 11)
        return Panel(gradient_bars(rows, bar_width=bar_width), title=Text("gradient norms", "bold"),
                     subtitle=Text("log scale 1e-4 … 1e1", "dim"), subtitle_align="right",
                     title_align="left", border_style="blue", width=width)

    def _chart_panel(self, kind: str, width: int, height: int) -> Any:
        p, info = self.progress, self.info
        label_format = "{:.2f}"
        inner = max(10, width - 4 - (len(label_format.format(0.0)) + 2))  # borders, padding, y labels
        first = info.initial_epoch * info.steps_per_epoch
        series = p.step_loss if kind == "loss" else p.step_accuracy
        columns = _columns(series, first, inner)
        val_name = f"val_{kind}"
        span_steps = max(1, series.size - first)
        markers = [(min(inner - 1, ((epoch + 1) * info.steps_per_epoch - 1 - first) * inner // span_steps),
                    logs[val_name]) for epoch, logs in p.epoch_logs if val_name in logs]
        values = np.concatenate([columns[~np.isnan(columns)], np.array([v for _, v in markers])])
        values = values[np.isfinite(values)]
        # Scaled to the bulk of the values: the first batches (loss 2.3, accuracy 0.1) would otherwise
        # squeeze the part worth watching into one row; columns beyond the range are drawn clipped.
        if kind == "loss":
            hi = max(float(np.percentile(values, 90)) * 1.25, max((v for _, v in markers), default=0) * 1.1) \
                if values.size else 2.5
            lo, hi = 0.0, max(hi, 1e-3)
            style, marker_style = LOSS_STYLE, VAL_LOSS_STYLE
        else:
            lo = float(np.floor(np.percentile(values, 10) * 20) / 20) if values.size else 0.0
            lo, hi = max(0.0, min(lo, 0.9)), 1.0
            style, marker_style = ACCURACY_STYLE, VAL_ACCURACY_STYLE
        epochs = info.epochs - info.initial_epoch
        per_epoch = inner / max(1, epochs)  # columns per epoch
        # label every k-th epoch, k a round number leaving a gap between labels
        needed = (len(str(info.epochs)) + 2) / per_epoch
        every = next(k for k in (m * 10**p for p in range(7) for m in (1, 2, 5)) if k >= needed)
        axis = []
        for e in range(epochs):
            number = info.initial_epoch + e + 1
            label = str(number)
            column = e * info.steps_per_epoch * inner // span_steps + max(0, (int(per_epoch) - len(label)) // 2)
            if (number % every == 0 or every == 1) and column + len(label) <= inner:
                axis.append((column, label))
        chart = block_chart(columns, inner, height, lo, hi, style, markers, marker_style, axis=axis,
                            label_format=label_format)
        title = Text(kind, "bold")
        title.append(" ▆ train", style)
        current = p.logs.get(kind)
        if current is not None and math.isfinite(current):
            title.append(f" {current:.3f}", style)
        last = [logs[val_name] for _, logs in p.epoch_logs if val_name in logs]
        if last:
            title.append(f" ● val {last[-1]:.3f}", marker_style)
        return Panel(chart, title=title, title_align="left", border_style="blue", width=width,
                     subtitle=Text("epoch", "dim"), subtitle_align="right")

    def _epochs_panel(self, width: int, rows: int) -> Any:
        """The last `rows` epochs' metrics as a small table, padded to `rows` so the layout keeps still."""
        table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False, header_style="bold")
        for name in ("epoch", "loss", "accuracy", "val_loss", "val_acc", "time"):
            table.add_column(name, justify="right", no_wrap=True)
        def cell(logs: dict[str, float], key: str, style: str) -> Text:
            value = logs.get(key)
            return Text("—" if value is None else f"{value:.4f}", style)

        partial = False
        for epoch, logs in self.progress.epoch_logs[-rows:]:
            elapsed = logs.get("epoch_time")
            mark = "*" if epoch in self.progress.partial_epochs else ""
            partial = partial or bool(mark)
            table.add_row(f"{epoch + 1}{mark}", cell(logs, "loss", LOSS_STYLE), cell(logs, "accuracy", ACCURACY_STYLE),
                          cell(logs, "val_loss", VAL_LOSS_STYLE), cell(logs, "val_accuracy", VAL_ACCURACY_STYLE),
                          "" if elapsed is None else f"{elapsed:.1f}s")
        if not self.progress.epoch_logs:
            table.add_row(*(Text("…", "dim") for _ in range(6)))
        for _ in range(rows - max(1, len(self.progress.epoch_logs[-rows:]))):
            table.add_row()
        note = Text("* train figures of the batches after the resume only", "dim") if partial else None
        return Panel(table, title=Text("epochs", "bold"), title_align="left", border_style="blue", width=width,
                     subtitle=note, subtitle_align="right")

    def render(self) -> Any:
        """The whole dashboard for the console's current size: the richest layout whose height fits."""
        width, height = self.console.width, self.console.height
        header = Text(self.info.title, "bold", no_wrap=True, overflow="ellipsis") if self.info.title else None
        budget = height - (1 if header else 0) - 1  # Live keeps the last line for the cursor
        wanted = max(1, self.info.epochs - self.info.initial_epoch)
        layouts = self._layouts(width)
        for i, layout in enumerate(layouts):
            plan = _plan(layout, budget, wanted, last=i == len(layouts) - 1)
            if plan is not None:
                break
        epoch_rows, chart_height = plan
        parts = [layout.draw(epoch_rows)]
        if chart_height >= 2:
            half = width // 2
            parts.append(_Row((self._chart_panel("loss", half, chart_height), half),
                              (self._chart_panel("accuracy", width - half, chart_height), width - half)))
        return Group(*([header] if header else []), *parts)

    def _layouts(self, width: int) -> list[_Layout]:
        """The part above the charts, richest first: with the full-size digit, the half-size one, none.

        From 110 columns the digit sits left of the other panels; below that everything stacks. Every
        layout has the progress, the gradient norms and the epochs table: on a short terminal the digit
        gives way first.
        """
        info = self.info
        gradient_rows = max(1, len(info.layers)) + 2
        half = width // 2
        pair_rows = max(self._progress_rows(half), gradient_rows)

        def pair() -> Any:  # progress and gradient norms share a row: both are short
            return _Row((self._progress_panel(half), half), (self._gradient_panel(width - half), width - half))

        layouts = []
        for compact in (False, True) if info.digits is not None and len(info.digits) else ():
            digit_width, digit_rows = self._digit_panel_size(compact)
            if width >= 110:
                layouts.append(self._digit_beside(width, compact, gradient_rows))
            elif digit_width <= width:
                layouts.append(_Layout(
                    rows=lambda k, digit_rows=digit_rows: digit_rows + pair_rows + 3 + k,
                    draw=lambda k, compact=compact: Group(self._digit_panel(compact)[0], pair(),
                                                          self._epochs_panel(width, k))))
        layouts.append(_Layout(rows=lambda k: pair_rows + 3 + k,
                               draw=lambda k: Group(pair(), self._epochs_panel(width, k))))
        return layouts

    def _digit_beside(self, width: int, compact: bool, gradient_rows: int) -> _Layout:
        """Wide terminals: the digit on the left; progress, gradient norms and the epochs table on the right."""
        digit_width, digit_rows = self._digit_panel_size(compact)
        right = width - digit_width
        side_rows = self._progress_rows(right) + gradient_rows

        def draw(k: int) -> Any:
            side = Group(self._progress_panel(right), self._gradient_panel(right), self._epochs_panel(right, k))
            return _Row((self._digit_panel(compact)[0], digit_width), (side, right))

        return _Layout(rows=lambda k: max(digit_rows, side_rows + 3 + k), draw=draw)

    @staticmethod
    def _progress_rows(width: int) -> int:
        return 7 if width - 4 >= 46 else 8  # two bars, timing (two lines when narrow), two metric lines


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"
