"""Batched salt-probability prediction, with optional flip test-time augmentation."""

from __future__ import annotations

import keras
import numpy as np


def predict_probabilities(
    model: keras.Model, inputs: np.ndarray, batch_size: int = 64, flip_tta: bool = False
) -> np.ndarray:
    """Salt probabilities ``(N, 101, 101) float32`` for inputs ``(N, 101, 101, C)``.

    With ``flip_tta``, averages the prediction of each image and of its left-right mirror.
    """
    verbose = 0 if len(inputs) <= 4 * batch_size else 2
    probabilities = model.predict(inputs, batch_size=batch_size, verbose=verbose)[..., 0]
    if flip_tta:
        mirrored = model.predict(inputs[:, :, ::-1], batch_size=batch_size, verbose=verbose)
        probabilities = 0.5 * (probabilities + mirrored[:, :, ::-1, 0])
    return probabilities.astype(np.float32)
