"""Datasets: MNIST (shipped inside the package), Fashion-MNIST (found on disk or downloaded), IDX files."""

from minigrad.datasets.idx import load_idx
from minigrad.datasets.mnist import load_fashion_mnist, load_mnist

__all__ = ["load_fashion_mnist", "load_idx", "load_mnist"]
