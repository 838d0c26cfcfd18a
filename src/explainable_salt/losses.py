"""Segmentation losses, by name, for the training configuration."""

from __future__ import annotations

import keras
from keras import ops


def dice_loss(y_true, y_pred, smooth: float = 1.0):
    """Soft Dice loss per image, averaged over the batch."""
    y_true = ops.cast(y_true, y_pred.dtype)
    axes = (1, 2, 3)
    intersection = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return 1.0 - ops.mean((2.0 * intersection + smooth) / (total + smooth))


def bce_loss(y_true, y_pred):
    """Binary cross-entropy averaged over pixels and images."""
    return ops.mean(keras.losses.binary_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred))


LOSSES = {"bce": bce_loss, "dice": dice_loss}


def combined_loss(weights: dict[str, float]):
    """A weighted sum of the named losses, e.g. ``{"bce": 1.0, "dice": 1.0}``."""
    unknown = set(weights) - set(LOSSES)
    if unknown:
        raise ValueError(f"Unknown loss(es) {sorted(unknown)}; known: {sorted(LOSSES)}")

    def loss(y_true, y_pred):
        return sum(w * LOSSES[name](y_true, y_pred) for name, w in weights.items())

    loss.__name__ = "+".join(weights)
    return loss
