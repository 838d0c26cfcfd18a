"""Toy models of image stacks shared by the attribution tests: numpy functions ``(B, H, W, C)`` →
``(B, H, W)`` whose Shapley values are known or easily checked."""

import numpy as np


def interacting_model(x: np.ndarray) -> np.ndarray:
    """A non-linear model with channel interactions, ``(B, H, W, 3)`` → ``(B, H, W)``."""
    return np.tanh(x[..., 0] * x[..., 1] + 0.5 * x[..., 2] ** 2 - x[..., 1])
