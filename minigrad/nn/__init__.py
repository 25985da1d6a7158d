"""Keras-style neural networks: layers, models (compile/fit/evaluate/predict), losses and callbacks."""

from minigrad.nn.callbacks import Callback, History, LearningRateScheduler
from minigrad.nn.layers import Activation, Dense, Flatten, Layer
from minigrad.nn.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)
from minigrad.nn.model import Model, Sequential
from minigrad.nn.module import Module

__all__ = [
    "Activation",
    "BinaryCrossentropy",
    "Callback",
    "CategoricalCrossentropy",
    "Dense",
    "Flatten",
    "History",
    "Layer",
    "LearningRateScheduler",
    "Loss",
    "MeanSquaredError",
    "Model",
    "Module",
    "Sequential",
    "SparseCategoricalCrossentropy",
]
