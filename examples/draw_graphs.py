"""One training step of the course network (784 → 25 relu → 15 relu → 10), drawn with viz.

    python examples/draw_graphs.py                 # pictures into out/graphs/
    python examples/draw_graphs.py --update-docs   # also refresh docs/softmax_graphs.png

What it draws:
- softmax_vs_fused.png: the same network twice, side by side — a softmax output layer with the
  composite F.cross_entropy (log of probabilities) versus linear outputs (logits) with the one
  fused F.softmax_cross_entropy node. The softmax scope shows its max-shift, exp, sum and div.
- softmax_vs_fused_grads.svg: the same after backward(), with value and gradient summaries.
- overflow.png: logits ×1000 through the naive softmax (exp overflows: the red nodes, brightest
  where it starts), the shifted softmax + log (probabilities of exactly 0, so log gives -inf), and
  the fused loss (finite).
- model.png: the architecture; backward_fused/: the fused graph's backward pass, one SVG per step.
"""

from __future__ import annotations

import argparse
import shutil
import warnings
from pathlib import Path

import numpy as np

import minigrad as mg
import minigrad.functional as F
import viz
from minigrad import nn

ROOT = Path(__file__).resolve().parents[1]


def course_network(output_activation: str) -> nn.Sequential:
    """784 → 25 relu → 15 relu → 10, the same weights for both output activations (same seed)."""
    mg.manual_seed(0)
    return nn.Sequential([
        nn.Dense(25, activation="relu"),
        nn.Dense(15, activation="relu"),
        nn.Dense(10, activation=output_activation),
    ])


def small_batch(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The first n MNIST test images as (n, 784) floats in [0, 1], and their labels."""
    try:
        _, (x, y) = mg.datasets.load_mnist()
        return (x[:n].reshape(n, -1) / 255.0).astype(np.float32), y[:n].astype(np.int64)
    except (OSError, ValueError) as exc:  # no MNIST at hand: random pixels show the same graph
        print(f"MNIST not available ({exc}); drawing with random inputs")
        rng = np.random.default_rng(0)
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "graphs", help="folder for the pictures")
    parser.add_argument("--update-docs", action="store_true", help="copy the side-by-side PNG to docs/")
    args = parser.parse_args()
    out: Path = args.out
    x_data, y = small_batch()
    x = mg.Tensor(x_data, name="x")

    # 1. One training step, twice: composite (softmax + cross_entropy) and fused (logits + one node).
    softmax_model = course_network("softmax")
    probs = softmax_model(x)
    composite_loss = F.cross_entropy(probs, y)
    composite_loss.backward(retain_graph=True)  # keep it drawable with its saved values

    linear_model = course_network("linear")
    logits = linear_model(x)
    fused_loss = F.softmax_cross_entropy(logits, y)
    fused_loss.backward(retain_graph=True)

    pair = {"softmax output + F.cross_entropy (composite)": composite_loss,
            "linear output + F.softmax_cross_entropy (fused)": fused_loss}
    title = f"one training step of 784 → 25 relu → 15 relu → 10, batch of {len(y)}"
    side_by_side = viz.render(pair, out / "softmax_vs_fused.png", title=title, dpi=72)
    viz.render(pair, out / "softmax_vs_fused.svg", title=title)
    viz.render(pair, out / "softmax_vs_fused_grads.svg", title=title + " (after backward)", values=True, grads=True)
    viz.render(linear_model, out / "model.png", dpi=72)
    print(f"composite loss {composite_loss.item():.4f}, fused loss {fused_loss.item():.4f} (same weights)")

    # 2. Large logits: where the naive softmax overflows, where log(0) bites, and the fused loss.
    def big() -> mg.Tensor:  # one leaf per loss: leaf gradients add up over backward() calls
        return mg.Tensor(logits.data * 1000, requires_grad=True, name="logits × 1000")

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow is the point of the picture
        naive = F.cross_entropy(F.naive_softmax(big()), y)
        naive.backward(retain_graph=True)
        stable = F.cross_entropy(F.softmax(big()), y)
        stable.backward(retain_graph=True)
        fused = F.softmax_cross_entropy(big(), y)
        fused.backward(retain_graph=True)
    overflow = {f"F.naive_softmax: loss {naive.item():.4g}": naive,
                f"F.softmax (shifted) + log: loss {stable.item():.4g}": stable,
                f"F.softmax_cross_entropy: loss {fused.item():.4g}": fused}
    viz.render(overflow, out / "overflow.png", values=True, grads=True, dpi=72,
               title="logits × 1000: red = NaN/Inf (bright red: where it starts)")
    viz.render(overflow, out / "overflow.svg", values=True, grads=True)

    # 3. The fused step's backward pass, one picture per node.
    frames_loss = F.softmax_cross_entropy(linear_model(x), y)
    frames = viz.render_backward(frames_loss, out / "backward_fused", depth=1)
    print(f"wrote {len(frames)} backward frames to {frames[0].parent}")

    for path in sorted(out.glob("*.*")):
        print(f"{path}  {path.stat().st_size / 1024:.0f} KB")
    if args.update_docs:
        target = ROOT / "docs" / "softmax_graphs.png"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(side_by_side, target)
        print(f"updated {target} ({target.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
