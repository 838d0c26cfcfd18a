"""Batched salt-probability prediction (one model or a fold ensemble, optional flip test-time
augmentation) and masks for a whole image stack, chunk by chunk."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from explainable_salt.runtime.execution import as_model, concatenate_chunks, map_stack
from explainable_salt.runtime.hardware import without_autotuning
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule

logger = logging.getLogger(__name__)


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


def ensemble_probabilities(
    models: Sequence[keras.Model], inputs: np.ndarray, batch_size: int = 64, flip_tta: bool = False
) -> np.ndarray:
    """The mean of :func:`predict_probabilities` over ``models`` ``(N, 101, 101) float32``."""
    return np.mean([predict_probabilities(m, inputs, batch_size, flip_tta) for m in models], axis=0)


def predict_masks_chunk(
    inputs: np.ndarray, models: Sequence[keras.Model | bytes], params: dict, rule: dict
) -> np.ndarray:
    """Binary masks ``(n, 101, 101) uint8`` of one chunk of inputs from the mean probability of
    ``models`` and the decision ``rule``: a task that runs in process or on a Dask worker alike
    (a model may be the bytes of its ``.keras`` file)."""
    probabilities = ensemble_probabilities([as_model(m) for m in models], inputs, params["batch_size"],
                                           params["flip_tta"])
    return apply_decision_rule(probabilities, rule).astype(np.uint8)


def predict_masks(
    models: Sequence[keras.Model], channels: Sequence[str], inputs: ImageStack, rule: dict, params: dict,
    execution: dict | None = None,
) -> ImageStack:
    """Binary salt masks ``(N, 101, 101) uint8`` for every image of ``inputs`` from the mean
    probability of ``models`` (one model, or a fold ensemble) on ``channels``.

    Reads the (memory-mapped) inputs ``params["chunk_size"]`` images at a time, so memory stays
    bounded; the chunks run where ``execution`` says (:mod:`explainable_salt.runtime.execution`).
    """
    masks = concatenate_chunks(map_stack(
        predict_masks_chunk, inputs, execution, chunk_size=params["chunk_size"], channels=list(channels),
        shared={"models": list(models), "params": params, "rule": rule}, desc="test masks",
    ))
    logger.info("Predicted %d masks with %d model(s) (%.1f %% with salt)", len(masks), len(models),
                100 * masks.any(axis=(1, 2)).mean())
    return ImageStack(inputs.ids, masks)
