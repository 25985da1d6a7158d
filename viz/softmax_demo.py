"""The numerical-stability table of the softmax story (`minigrad demo softmax`, examples/softmax_stability.py).

One example with three classes, its logits scaled by 1 … 10,000, in float32 and float64. The
cross-entropy loss and its gradient come from three paths, each compared with an exact reference
(Python's `decimal` with 50 digits, on the same rounded logits):

- naive:   p = exp(z) / Σ exp(z), then −log p_y        (overflows: inf / inf = nan)
- shifted: p = softmax(z − max z), then −log p_y       (p_y rounds to 0: −log 0 = inf)
- fused:   F.softmax_cross_entropy(z, y) = logsumexp(z) − z_y, gradient p − y (one node)

"digits lost" counts the decimal digits lost beyond the dtype's own rounding: 0 means the answer
is as good as the dtype can hold, "all" means nothing is right (inf or nan, or an error of 100 %).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

import minigrad.functional as F
from minigrad import Tensor

__all__ = ["DTYPES", "LOGIT_SCALES", "METHODS", "StabilityRow", "breaking_points", "main", "show", "stability_rows",
           "terminal_console"]

LOGIT_SCALES = (1, 10, 100, 1_000, 10_000)
DTYPES = ("float32", "float64")
BASE_LOGITS = (2.0, 1.0, 0.1)  # one example, three classes; the logits are scale × these
LABEL = 1  # the true class is not the largest logit, so its probability is the one that underflows
METHODS = {  # name -> how it computes the loss from the logits z and the label y
    "naive": "p = exp(z) / Σ exp(z), then −log p_y",
    "shifted": "p = softmax(z − max z), then −log p_y",
    "fused": "F.softmax_cross_entropy(z, y) = logsumexp(z) − z_y",
}


@dataclass(frozen=True)
class StabilityRow:
    """One path's loss and gradient at one logit scale and dtype, against the exact values."""

    dtype: str
    scale: float
    method: str  # "exact" or a key of METHODS
    loss: float
    grad: tuple[float, ...]
    loss_digits_lost: float | None  # None: not finite
    grad_digits_lost: float | None
    grad_is_p_minus_y: bool | None  # fused only: bitwise equal to softmax(z) − onehot(y)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss) and all(math.isfinite(g) for g in self.grad)


def _exact(z: np.ndarray, label: int) -> tuple[float, tuple[float, ...]]:
    """Loss logsumexp(z) − z_y and gradient softmax(z) − onehot(y) with 50 decimal digits."""
    with localcontext() as ctx:
        ctx.prec = 50
        values = [Decimal(float(v)) for v in z]  # exact: every float is a finite decimal
        top = max(values)
        exps = [(v - top).exp() for v in values]
        total = sum(exps)
        loss = top + total.ln() - values[label]
        grad = [e / total - (1 if i == label else 0) for i, e in enumerate(exps)]
        return float(loss), tuple(float(g) for g in grad)


def _digits_lost(value: Any, exact: Any, dtype: np.dtype) -> float | None:
    """log10 of the relative error in units of the dtype's epsilon (0 = as exact as it can be)."""
    value, exact = np.asarray(value, dtype=np.float64), np.asarray(exact, dtype=np.float64)
    if not np.isfinite(value).all():
        return None
    eps = float(np.finfo(dtype).eps)
    size = float(np.max(np.abs(exact)))
    error = float(np.max(np.abs(value - exact)))
    relative = error / size if size else (0.0 if error == 0 else math.inf)
    most = -math.log10(eps)  # all the digits the dtype has
    return min(most, math.log10(max(1.0, relative / eps)))


def _run(method: str, z: np.ndarray, label: int) -> tuple[float, np.ndarray, bool | None]:
    logits = Tensor(z.reshape(1, -1).copy(), requires_grad=True)
    labels = np.array([label])
    with np.errstate(all="ignore"):  # the overflows and log(0)s are what this table shows
        if method == "naive":
            loss = F.cross_entropy(F.naive_softmax(logits), labels)
        elif method == "shifted":
            loss = F.cross_entropy(F.softmax(logits), labels)
        else:
            loss = F.softmax_cross_entropy(logits, labels)
        loss.backward()
    grad = logits.grad.data[0]
    is_p_minus_y = None
    if method == "fused":
        p = F.softmax(Tensor(z.reshape(1, -1))).data[0]
        is_p_minus_y = bool(np.array_equal(grad, p - np.eye(len(z), dtype=z.dtype)[label]))
    return float(loss.data), grad, is_p_minus_y


def stability_rows(scales: tuple[float, ...] = LOGIT_SCALES, dtypes: tuple[str, ...] = DTYPES,
                   base: tuple[float, ...] = BASE_LOGITS, label: int = LABEL) -> list[StabilityRow]:
    """For each dtype and scale: the exact row, then naive, shifted and fused, with digits lost."""
    rows = []
    for dtype_name in dtypes:
        dtype = np.dtype(dtype_name)
        for scale in scales:
            z = (np.asarray(base, dtype=np.float64) * scale).astype(dtype)
            exact_loss, exact_grad = _exact(z, label)
            rows.append(StabilityRow(dtype_name, scale, "exact", exact_loss, exact_grad, 0.0, 0.0, None))
            for method in METHODS:
                loss, grad, is_p_minus_y = _run(method, z, label)
                rows.append(StabilityRow(
                    dtype_name, scale, method, loss, tuple(float(g) for g in grad),
                    _digits_lost(loss, exact_loss, dtype), _digits_lost(grad, exact_grad, dtype), is_p_minus_y))
    return rows


def breaking_points(rows: list[StabilityRow]) -> dict[tuple[str, str], float | None]:
    """(method, dtype) -> the smallest scale whose loss or gradient is inf/nan (None: never)."""
    points: dict[tuple[str, str], float | None] = {}
    for row in rows:
        if row.method == "exact":
            continue
        key = (row.method, row.dtype)
        points.setdefault(key, None)
        if not row.finite and points[key] is None:
            points[key] = row.scale
    return points


# ----- printing --------------------------------------------------------------------------------------

_HEADER = ("dtype", "scale", "method", "loss", "lost", "gradient", "lost", "= p − y")


def _number(v: float) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.8g}"


def _lost(d: float | None) -> str:
    if d is None:
        return "all"
    return "0" if d < 0.05 else f"{d:.1f}"


def _cells(row: StabilityRow) -> tuple[str, ...]:
    grad = "[" + ", ".join(_number(g) if not math.isfinite(g) else f"{g:.3g}" for g in row.grad) + "]"
    if row.method == "exact":  # the first row of a group names the dtype and the scale
        return (row.dtype, f"{row.scale:g}", "exact", f"{row.loss:.8g}", "", grad, "", "")
    check = "" if row.grad_is_p_minus_y is None else ("yes" if row.grad_is_p_minus_y else "no")
    return ("", "", row.method, _number(row.loss), _lost(row.loss_digits_lost), grad,
            _lost(row.grad_digits_lost), check)


def _legend() -> list[str]:
    width = max(len(m) for m in METHODS)
    return ([f"{'exact':{width}}  the same sums with 50 decimal digits (Python's decimal)"]
            + [f"{name:{width}}  {how}" for name, how in METHODS.items()])


def _summary(rows: list[StabilityRow]) -> list[str]:
    points = breaking_points(rows)
    lines = []
    for method in METHODS:
        where = []
        for dtype in sorted({r.dtype for r in rows}):
            scale = points.get((method, dtype))
            where.append(f"{dtype}: {'finite at every scale' if scale is None else f'inf/nan from scale {scale:g}'}")
        lines.append(f"{method:8} {'; '.join(where)}")
    fused = [r for r in rows if r.method == "fused"]
    if fused and all(r.grad_is_p_minus_y for r in fused):
        lines.append("The fused gradient is exactly p − y (softmax(z) minus the one-hot label) in every row.")
    return lines


def plain_table(rows: list[StabilityRow]) -> str:
    """The table as aligned plain text (no colour), for logs and terminals without rich."""
    table = [_HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(r[c]) for r in table) for c in range(len(_HEADER))]
    lines = []
    for i, r in enumerate(table):
        if i > 1 and r[2] == "exact":
            lines.append("")
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def rich_table(rows: list[StabilityRow]) -> Any:
    """The table as a rich Table: inf/nan in red, exact rows dim, lost digits in yellow."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Cross-entropy from logits: three ways against the exact answer",
                  caption="lost: decimal digits lost beyond the dtype's own rounding (all = nothing right)",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in _HEADER:
        table.add_column(name, justify="right" if name in ("scale", "lost") else "left", no_wrap=True)
    for i, row in enumerate(rows):
        if i and row.method == "exact":
            table.add_section()
        cells = []
        for column, cell in enumerate(_cells(row)):
            style = "dim" if row.method == "exact" else ""
            if cell == "all" or "nan" in cell or "inf" in cell:
                style = "bold red"
            elif column in (4, 6) and cell not in ("", "0"):
                style = "yellow"
            elif column == 7 and cell == "yes":
                style = "green"
            cells.append(Text(cell, style=style))  # Text: rich would read "[nan, ...]" as markup
        table.add_row(*cells)
    return table


def main(console: Any = None, plain: bool = False) -> None:
    """Print the stability table (rich on a terminal or a given console, plain text otherwise)."""
    show(stability_rows(), console, plain)


def terminal_console(console: Any = None, plain: bool = False) -> Any:
    """The rich Console to print to, or None for plain text (asked for, no rich, or not a terminal)."""
    if plain:
        return None
    if console is not None:
        return console
    if not sys.stdout.isatty() or os.environ.get("TERM", "") == "dumb":
        return None  # plain text into pipes and logs
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console()


def show(rows: list[StabilityRow], console: Any = None, plain: bool = False) -> None:
    """Print these rows with the legend and the summary (see `main`)."""
    console = terminal_console(console, plain)
    if console is None:
        print("\n".join(_legend()) + "\n")
        print(plain_table(rows))
        print("\n" + "\n".join(_summary(rows)))
        return
    from rich.text import Text

    for line in _legend():
        console.print(Text(line, style="dim"))
    console.print(rich_table(rows))
    for line in _summary(rows):
        console.print(Text(line))
