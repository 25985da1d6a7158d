"""Why losses take logits: cross-entropy computed three ways at logit scales 1 … 10,000.

For one example with three classes, in float32 and float64, the table compares the naive softmax
(exp(z)/Σexp(z)) + log, the max-shifted softmax + log, and the fused `F.softmax_cross_entropy`,
each against an exact reference, and shows where each turns into inf/nan or loses digits, and that
the fused gradient is exactly p − y. The same table is `minigrad demo softmax`.

Run:  python examples/softmax_stability.py [--plain]
"""

from __future__ import annotations

import argparse

from viz import softmax_demo


def main(plain: bool = False) -> list[softmax_demo.StabilityRow]:
    """Print the stability table and return its rows."""
    rows = softmax_demo.stability_rows()
    softmax_demo.show(rows, plain=plain)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="plain text instead of a rich table")
    main(plain=parser.parse_args().plain)
