"""Where in each input channel the predicted salt comes from: shap's GradientExplainer (expected
gradients) on one number per image, the mean predicted salt probability inside the predicted mask.

Channel Shapley values say *which channel* drives each output pixel; these maps say *which input
locations* of each channel drive the salt the model found. They cost one gradient pass per
background sample, so they are computed for a handful of chosen images.
"""

from __future__ import annotations

import keras
import numpy as np
import shap
from keras import layers, ops

from explainable_salt.attribution.inputs import require_count, require_stack


def mean_salt_in_mask(model: keras.Model) -> keras.Model:
    """``[channels (B, H, W, C), mask (B, H, W)]`` → mean probability inside ``mask`` ``(B, 1)``
    (the whole image when the mask is empty)."""
    channels = keras.Input(model.input_shape[1:], name="channels")
    mask = keras.Input(model.input_shape[1:3], name="mask")
    probability = model(channels)[..., 0]

    def masked_mean(tensors):
        p, m = tensors
        m = ops.where(ops.sum(m, axis=(1, 2), keepdims=True) > 0, m, ops.ones_like(m))
        return ops.sum(p * m, axis=(1, 2))[:, None] / ops.sum(m, axis=(1, 2))[:, None]

    return keras.Model([channels, mask], layers.Lambda(masked_mean)([probability, mask]))


def salt_location_maps(
    model: keras.Model, images: np.ndarray, predicted_masks: np.ndarray, background: np.ndarray,
    n_samples: int = 32, seed: int = 0,
) -> np.ndarray:
    """Expected-gradient attributions ``(N, H, W, C)`` of each image's mean salt probability
    inside its predicted mask, with ``background`` ``(K, H, W, C)`` as the reference. No image
    gives ``(0, H, W, C)``; no background image or sample raises ``ValueError``."""
    require_stack(images, "images")
    require_count(len(background), 1, "background", "images", "explainability.background.size")
    require_count(n_samples, 1, "n_samples", "expected-gradient samples", "explainability.pixel_maps.n_samples")
    wrapper = mean_salt_in_mask(model)
    maps = np.empty(images.shape, dtype=np.float32)
    for i, (image, mask) in enumerate(zip(images, predicted_masks.astype(np.float32))):
        fixed_mask = np.repeat(mask[None], len(background), axis=0)  # the mask is not explained
        explainer = shap.GradientExplainer(wrapper, [background, fixed_mask])
        values = explainer.shap_values([image[None], mask[None]], nsamples=n_samples, rseed=seed)
        maps[i] = np.asarray(values[0])[0, ..., 0]
    return maps
