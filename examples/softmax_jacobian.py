"""Softmax is not element-wise: every output depends on every input.

Part 1: the Jacobian of softmax for a small vector, from `mg.jacobian`, is not diagonal; it equals
diag(p) − p pᵀ. Part 2: a 10-class output vector (the activations a_1 … a_10 of a layer) turned into
probabilities that sum to 1, and the most likely class.

Run:  python examples/softmax_jacobian.py [--plain]
"""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

import numpy as np

import minigrad as mg
import minigrad.functional as F
from viz.softmax_demo import terminal_console

SMALL = (1.0, 2.0, 0.5)
TEN_CLASSES = (0.1, 0.3, 0.05, 0.02, 0.01, 0.1, 0.2, 0.05, 0.05, 0.12)


def softmax_jacobian(z: Any = SMALL) -> dict[str, np.ndarray]:
    """p, the Jacobian from autodiff, and the formula diag(p) − p pᵀ (float64)."""
    z = mg.tensor(np.asarray(z, dtype=np.float64))
    p = F.softmax(z).data
    jacobian = mg.jacobian(F.softmax, z).data
    return {"z": z.data, "p": p, "jacobian": jacobian, "formula": np.diag(p) - np.outer(p, p)}


def ten_class_probabilities(a: Any = TEN_CLASSES) -> dict[str, Any]:
    """softmax of a 10-class output vector, its sum and the most likely class."""
    p = F.softmax(mg.tensor(np.asarray(a, dtype=np.float64)))
    return {"a": np.asarray(a, dtype=np.float64), "p": p.data, "sum": float(p.sum().item()),
            "most_likely": int(p.argmax().item())}


def _matrix(m: np.ndarray) -> str:
    return np.array2string(m, precision=4, suppress_small=True, floatmode="fixed")


def main(console: Any = None, plain: bool = False) -> dict[str, Any]:
    """Print both parts (rich tables on a terminal, plain text otherwise) and return the numbers."""
    jac = softmax_jacobian()
    ten = ten_class_probabilities()
    off_diagonal = jac["jacobian"][~np.eye(len(jac["z"]), dtype=bool)]
    difference = float(np.max(np.abs(jac["jacobian"] - jac["formula"])))
    text = [
        f"z = {_matrix(jac['z'])},  p = softmax(z) = {_matrix(jac['p'])}",
        "",
        "Jacobian dp_i/dz_j from mg.jacobian (row i, column j):",
        _matrix(jac["jacobian"]),
        "",
        "diag(p) - p pᵀ:",
        _matrix(jac["formula"]),
    ]
    explanation = (
        f"Largest difference: {difference:.1e}. The off-diagonal entries are not zero (up to "
        f"{np.max(np.abs(off_diagonal)):.4f} in size): raising one logit lowers every other probability, "
        "so softmax is not element-wise like sigmoid or relu, whose Jacobians are diagonal.")
    rows = [(str(i), f"{a:.2f}", f"{p:.4f}", "<- most likely" if i == ten["most_likely"] else "")
            for i, (a, p) in enumerate(zip(ten["a"], ten["p"]))]
    top, bottom = ten["most_likely"], int(np.argmin(ten["p"]))
    closing = (
        f"The probabilities sum to {ten['sum']:.6f}; the most likely class is {top} (p = {ten['p'][top]:.4f}). "
        f"Softmax keeps the order and turns differences into ratios: p_{top} / p_{bottom} = "
        f"exp(a_{top} - a_{bottom}) = exp({ten['a'][top] - ten['a'][bottom]:.2f}) = "
        f"{ten['p'][top] / ten['p'][bottom]:.3f}.")
    console = terminal_console(console, plain)
    if console is None:
        print("\n".join(text))
        print("\n" + textwrap.fill(explanation, 100))
        print("\nA 10-class output vector through softmax:")
        for row in (("class", "a", "p", ""), *rows):
            print(f"{row[0]:>5}  {row[1]:>5}  {row[2]:>7}  {row[3]}".rstrip())
        print(textwrap.fill(closing, 100))
        return {**jac, **{f"ten_{k}": v for k, v in ten.items()}}
    from rich.table import Table

    for line in text:
        console.print(line, markup=False, highlight=False)
    console.print("\n" + explanation, markup=False, highlight=False)
    table = Table(title="A 10-class output vector through softmax")
    for name in ("class", "a", "p", ""):
        table.add_column(name, justify="right" if name != "" else "left")
    for row in rows:
        table.add_row(*row, style="bold" if row[3] else None)
    console.print(table)
    console.print(closing, markup=False, highlight=False)
    return {**jac, **{f"ten_{k}": v for k, v in ten.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain", action="store_true", help="plain text instead of rich tables")
    main(plain=parser.parse_args().plain)
