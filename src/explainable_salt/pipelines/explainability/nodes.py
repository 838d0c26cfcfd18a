"""Nodes of the explainability pipeline: exact channel Shapley maps for internal-test images."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd

from explainable_salt.pipelines.modelling.nodes import split_ids
from explainable_salt.shapley import channel_shapley, keras_predictor
from explainable_salt.stacks import ImageStack

logger = logging.getLogger(__name__)


class AdditivityError(RuntimeError):
    """expected + Σ contributions differs from the prediction by more than the tolerance."""


def sample_background(
    model_inputs: ImageStack, salt_model_channels: list[str], manifest: pd.DataFrame, params: dict
) -> ImageStack:
    """``size`` train-split images drawn at random (seeded): the reference for absent channels."""
    train_ids = split_ids(manifest, "train")
    rng = np.random.default_rng(params["seed"])
    chosen = rng.choice(train_ids, size=min(params["size"], len(train_ids)), replace=False)
    return model_inputs.select(sorted(chosen)).select_channels(salt_model_channels)


def explain_channels(
    salt_model: keras.Model,
    salt_model_channels: list[str],
    model_inputs: ImageStack,
    manifest: pd.DataFrame,
    background: ImageStack,
    params: dict,
) -> tuple[ImageStack, ImageStack, ImageStack, dict]:
    """Exact Shapley contribution of each channel to each predicted pixel of internal-test images.

    Returns ``channel_contributions`` ``(N, 101, 101, C)`` named by channel, the
    ``expected_value_map`` (a one-image stack with id ``expected_value``), the explained
    ``salt_probabilities`` ``(N, 101, 101)`` and the additivity check. Raises
    :class:`AdditivityError` if ``expected + Σ φ`` misses a prediction by more than
    ``params["additivity_tolerance"]``.
    """
    ids = split_ids(manifest, "internal_test")
    if params.get("max_images"):
        ids = ids[: params["max_images"]]
    images = model_inputs.select(ids).select_channels(salt_model_channels)
    logger.info(
        "Explaining %d internal-test images: %d channels %s, %d background images",
        len(ids), len(images.channels), list(images.channels), len(background),
    )
    result = channel_shapley(
        keras_predictor(salt_model, params["batch_size"]),
        images.data,
        background.data,
        params["images_per_chunk"],
    )
    logger.info("Worst additivity error |E + Σφ − f(x)|: %.3g", result.max_additivity_error)
    if result.max_additivity_error > params["additivity_tolerance"]:
        raise AdditivityError(
            f"Shapley additivity violated: max error {result.max_additivity_error:.3g} > "
            f"{params['additivity_tolerance']}"
        )
    checks = {
        "shapley.max_additivity_error": result.max_additivity_error,
        "shapley.n_images": float(len(ids)),
    }
    return (
        ImageStack(ids, result.contributions, images.channels),
        ImageStack(["expected_value"], result.expected_value[None]),
        ImageStack(ids, result.predictions),
        checks,
    )
