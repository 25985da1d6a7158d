"""Two ways of computing 2/10,000 that give different answers: why the order of operations matters.

    x = 2 / 10_000
    x = (1 + 1/10_000) - (1 - 1/10_000)

Both are 0.0002 on paper. In floating point, 1 + 1/10,000 is rounded when it is stored (a float
keeps about 16 significant digits in float64, 7 in float32), and subtracting two nearly equal
numbers cancels the leading digits but not that rounding error, which is now a large part of
what is left. log(softmax(z)) does the same thing to a small probability; the fused
`softmax_cross_entropy` rearranges the sum so that it never happens. That rearranging is what
`from_logits=True` lets the framework do.

Run:  python examples/roundoff.py [--plain]
"""

from __future__ import annotations

import argparse
import math
import textwrap
from fractions import Fraction
from typing import Any

import minigrad as mg
from viz.softmax_demo import terminal_console

EXACT = Fraction(2, 10_000)


def roundoff_rows(dtypes: tuple[str, ...] = ("float64", "float32")) -> list[dict[str, Any]]:
    """For each dtype, both expressions computed with minigrad tensors, and their errors."""
    rows = []
    for dtype in dtypes:
        one = mg.tensor(1.0, dtype=dtype)
        n = mg.tensor(10_000.0, dtype=dtype)
        for expression, value in (("2/10_000", 2 / n), ("(1+1/10_000)-(1-1/10_000)",
                                                       (one + one / n) - (one - one / n))):
            v = value.item()
            relative = abs(Fraction(v) - EXACT) / EXACT  # Fraction(v) is the stored value, exactly
            digits = math.inf if relative == 0 else -math.log10(float(relative))
            rows.append({"dtype": dtype, "expression": expression, "value": v, "relative_error": float(relative),
                         "correct_digits": digits})
    return rows


def _format(row: dict[str, Any]) -> tuple[str, ...]:
    digits = "all" if math.isinf(row["correct_digits"]) else f"{row['correct_digits']:.1f}"
    return (row["dtype"], row["expression"], f"{row['value']:.20f}", f"{row['relative_error']:.2e}", digits)


def main(console: Any = None, plain: bool = False) -> list[dict[str, Any]]:
    """Print both computations in float64 and float32 with 20 decimals; return the rows."""
    rows = roundoff_rows()
    header = ("dtype", "expression", "stored value", "error", "digits")
    by = {(r["dtype"], r["expression"].startswith("2")): r["correct_digits"] for r in rows}
    lost = by[("float32", True)] - by[("float32", False)]
    explanation = (
        "The value shown is exactly what is stored (a float is a binary fraction); the exact answer is "
        "0.0002. Subtracting the nearly equal 1.0001 and 0.9999 cancels their leading digits but keeps "
        f"the error made when they were rounded: about {lost:.0f} of float32's 7 digits are lost here. "
        "log(softmax(z)) for a probability near 0 or 1 loses digits the same way; the fused "
        "softmax_cross_entropy computes logsumexp(z) - z_y and never forms them."
    )
    console = terminal_console(console, plain)
    if console is None:
        widths = [max(len(h), *(len(_format(r)[i]) for r in rows)) for i, h in enumerate(header)]
        for cells in (header, *(_format(r) for r in rows)):
            print("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        print("\n" + textwrap.fill(explanation, 100))
        return rows
    from rich import box
    from rich.table import Table

    table = Table(title="2/10,000 computed two ways (20 decimals)", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_edge=False)
    for h in header:  # every digit of the value matters, so it never wraps or shrinks
        table.add_column(h, justify="left" if h in ("dtype", "expression") else "right",
                         no_wrap=h != "expression", overflow="fold",
                         min_width=22 if h == "stored value" else None)
    for row in rows:
        table.add_row(*_format(row))
    console.print(table)
    console.print(explanation, markup=False, highlight=False)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="plain text instead of a rich table")
    main(plain=parser.parse_args().plain)
