"""Batched salt-probability prediction (one model or a fold ensemble, optional flip test-time
augmentation) and masks for a whole image stack, chunk by chunk.

Sections larger than 101 × 101 are predicted tile by tile and blended back
(:mod:`explainable_salt.segmentation.tiling`); a 101 × 101 image is its own single tile, so the
competition's test images and any larger section go through the same code."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import numpy as np

from explainable_salt.compute.execution import as_model, concatenate_chunks, map_stack
from explainable_salt.segmentation.forward import execution_backend, forward_pass
from explainable_salt.segmentation.tiling import DEFAULT_OVERLAP, blend, cut, plan_tiles
from explainable_salt.stacks import IMAGE_SIZE, ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule

logger = logging.getLogger(__name__)


def predict_probabilities(
    model: keras.Model, inputs: np.ndarray, batch_size: int = 64, flip_tta: bool = False,
    backend: str = "tensorflow",
) -> np.ndarray:
    """Salt probabilities ``(N, 101, 101) float32`` for inputs ``(N, 101, 101, C)``, by the
    forward pass on ``backend`` (:func:`~explainable_salt.segmentation.forward.forward_pass`).

    With ``flip_tta``, averages the prediction of each image and of its left-right mirror.
    """
    predict = forward_pass(model, batch_size, backend)
    probabilities = predict(inputs)
    if flip_tta:
        probabilities = 0.5 * (probabilities + predict(inputs[:, :, ::-1])[:, :, ::-1])
    return probabilities.astype(np.float32)


def ensemble_probabilities(
    models: Sequence[keras.Model], inputs: np.ndarray, batch_size: int = 64, flip_tta: bool = False,
    backend: str = "tensorflow",
) -> np.ndarray:
    """The mean of :func:`predict_probabilities` over ``models`` ``(N, 101, 101) float32``."""
    return np.mean([predict_probabilities(m, inputs, batch_size, flip_tta, backend) for m in models], axis=0)


def section_probabilities(
    models: Sequence[keras.Model | bytes], sections: np.ndarray, params: dict
) -> np.ndarray:
    """Salt probabilities ``(n, H, W) float32`` of sections ``(n, H, W, C)`` of one size, any
    size from 101 × 101 up: the mean of ``models`` (``.keras`` bytes allowed) on overlapping
    101 × 101 tiles (``params["tile_overlap"]`` pixels, default
    :data:`~explainable_salt.segmentation.tiling.DEFAULT_OVERLAP`), blended back; forward passes
    on ``params["backend"]`` (TensorFlow when unset)."""
    tiling = plan_tiles(sections.shape[1:3], params.get("tile_overlap", DEFAULT_OVERLAP))
    tiles = ensemble_probabilities([as_model(m) for m in models], cut(sections, tiling), params["batch_size"],
                                   params["flip_tta"], params.get("backend", "tensorflow"))
    return blend(tiles, tiling).astype(np.float32)


def section_masks(probabilities: np.ndarray, rule: dict) -> np.ndarray:
    """Binary masks ``(n, H, W) uint8`` of stitched probabilities ``(n, H, W)`` by a decision
    ``rule`` tuned on 101 × 101 images.

    The threshold applies per pixel; the minimum salt area scales with the section's area
    (``min_area × H × W / 101²``, so the same density of salt is needed); the peak threshold
    applies to the whole section (a section none of whose pixels reaches it is predicted empty).
    On 101 × 101 images this is the rule itself.
    """
    height, width = probabilities.shape[1:3]
    scaled = dict(rule)
    if rule.get("min_area"):
        scaled["min_area"] = int(round(rule["min_area"] * height * width / IMAGE_SIZE**2))
    return apply_decision_rule(probabilities, scaled).astype(np.uint8)


def predict_masks_chunk(
    inputs: np.ndarray, models: Sequence[keras.Model | bytes], params: dict, rule: dict
) -> np.ndarray:
    """Binary masks ``(n, H, W) uint8`` of one chunk of inputs ``(n, H, W, C)`` from the mean
    probability of ``models`` and the decision ``rule``: a task that runs in process or on a
    Dask worker alike (a model may be the bytes of its ``.keras`` file)."""
    return section_masks(section_probabilities(models, inputs, params), rule)


def predict_masks(
    models: Sequence[keras.Model], channels: Sequence[str], inputs: ImageStack, rule: dict, params: dict,
    execution: dict | None = None,
) -> ImageStack:
    """Binary salt masks ``(N, 101, 101) uint8`` for every image of ``inputs`` from the mean
    probability of ``models`` (one model, or a fold ensemble) on ``channels``.

    Reads the (memory-mapped) inputs ``params["chunk_size"]`` images at a time, so memory stays
    bounded; the chunks run where ``execution`` says (:mod:`explainable_salt.compute.execution`),
    their forward passes on ``execution.backend``.
    """
    masks = concatenate_chunks(map_stack(
        predict_masks_chunk, inputs, execution, chunk_size=params["chunk_size"], channels=list(channels),
        shared={"models": list(models), "params": {**params, "backend": execution_backend(execution)}, "rule": rule},
        desc="test masks",
    ))
    logger.info("Predicted %d masks with %d model(s) (%.1f %% with salt)", len(masks), len(models),
                100 * masks.any(axis=(1, 2)).mean())
    return ImageStack(inputs.ids, masks)
