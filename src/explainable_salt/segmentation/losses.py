"""Segmentation losses, by name, for the training configuration (models output probabilities)."""

from __future__ import annotations

import keras
from keras import ops

_EPS = 1e-7


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


def focal_loss(y_true, y_pred, gamma: float = 2.0):
    """Binary focal loss (Lin et al. 2017), Keras' own implementation, averaged."""
    return ops.mean(keras.losses.binary_focal_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred, gamma=gamma))


def lovasz_hinge_loss(y_true, y_pred):
    """Lovász hinge (Berman et al. 2018), per image then averaged: a convex surrogate of 1 − IoU.

    Works on logits recovered from the probabilities; vectorised over the batch by sorting the
    hinge errors of each image with ``top_k``.
    """
    batch = ops.shape(y_pred)[0]
    labels = ops.reshape(ops.cast(y_true, y_pred.dtype), (batch, -1))
    p = ops.clip(ops.reshape(y_pred, (batch, -1)), _EPS, 1.0 - _EPS)
    logits = ops.log(p) - ops.log(1.0 - p)
    errors = 1.0 - logits * (2.0 * labels - 1.0)
    n_pixels = ops.shape(errors)[1]
    errors_sorted, order = ops.top_k(errors, k=n_pixels, sorted=True)
    labels_sorted = ops.take_along_axis(labels, order, axis=1)
    positives = ops.sum(labels_sorted, axis=1, keepdims=True)
    intersection = positives - ops.cumsum(labels_sorted, axis=1)
    union = positives + ops.cumsum(1.0 - labels_sorted, axis=1)
    jaccard = 1.0 - intersection / union
    gradient = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=1)
    return ops.mean(ops.sum(ops.relu(errors_sorted) * ops.stop_gradient(gradient), axis=1))


LOSSES = {
    "bce": bce_loss,
    "dice": dice_loss,
    "focal": focal_loss,
    "lovasz": lovasz_hinge_loss,
}


def combined_loss(weights: dict[str, float]):
    """A weighted sum of the named losses, e.g. ``{"bce": 1.0, "dice": 1.0}``."""
    unknown = set(weights) - set(LOSSES)
    if unknown:
        raise ValueError(f"Unknown loss(es) {sorted(unknown)}; known: {sorted(LOSSES)}")

    def loss(y_true, y_pred):
        return sum(w * LOSSES[name](y_true, y_pred) for name, w in weights.items())

    loss.__name__ = "+".join(weights)
    return loss
