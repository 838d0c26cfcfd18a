"""Batched salt-probability prediction, with optional flip test-time augmentation."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from explainable_salt.runtime.hardware import without_autotuning


def _batches(inputs: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """The images in order, in batches, one batch prefetched, without autotuning."""
    data = tf.data.Dataset.from_tensor_slices(np.ascontiguousarray(inputs, dtype=np.float32))
    return without_autotuning(data.batch(batch_size).prefetch(1))


def predict_probabilities(
    model: keras.Model, inputs: np.ndarray, batch_size: int = 64, flip_tta: bool = False
) -> np.ndarray:
    """Salt probabilities ``(N, 101, 101) float32`` for inputs ``(N, 101, 101, C)``.

    With ``flip_tta``, averages the prediction of each image and of its left-right mirror. The
    images go through a ``tf.data`` pipeline without autotuning, in their order.
    """
    verbose = 0 if len(inputs) <= 4 * batch_size else 2
    probabilities = model.predict(_batches(inputs, batch_size), verbose=verbose)[..., 0]
    if flip_tta:
        mirrored = model.predict(_batches(inputs[:, :, ::-1], batch_size), verbose=verbose)
        probabilities = 0.5 * (probabilities + mirrored[:, :, ::-1, 0])
    return probabilities.astype(np.float32)
