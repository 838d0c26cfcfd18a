"""Nodes of the modelling pipeline: train, tune the decision rule, evaluate, predict, submit."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd

from explainable_salt.attribution.importance import bootstrap_mean
from explainable_salt.runtime.execution import as_model, chunk_slices, map_chunks
from explainable_salt.segmentation import training
from explainable_salt.segmentation.inference import predict_probabilities
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs import metrics
from explainable_salt.tgs.rle import rle_encode_stack

logger = logging.getLogger(__name__)


def split_ids(manifest: pd.DataFrame, split: str) -> np.ndarray:
    """Ids of one split (``train``, ``validation`` or ``internal_test``) in manifest order."""
    return manifest.loc[manifest["split"] == split, "id"].to_numpy()


def _split_arrays(model_inputs: ImageStack, train_masks: ImageStack, manifest, split, channels):
    ids = split_ids(manifest, split)
    inputs = model_inputs.select(ids).select_channels(channels)
    return ids, inputs.data, train_masks.select(ids).data


def train_model(
    model_inputs: ImageStack, train_masks: ImageStack, manifest: pd.DataFrame, params: dict
) -> tuple[keras.Model, pd.DataFrame, list[str]]:
    """Build the configured zoo model and train it on the train split, validating on validation.

    Returns the model (best weights), its per-epoch history table and the names of the input
    channels it was trained on, in order (``params["channels"]``, a subset of the built ones).
    """
    channels = list(params["channels"])
    _, x_train, y_train = _split_arrays(model_inputs, train_masks, manifest, "train", channels)
    _, x_val, y_val = _split_arrays(model_inputs, train_masks, manifest, "validation", channels)
    model = build_model(params["architecture"], len(channels), **params["model"])
    history = training.fit(model, x_train, y_train, x_val, y_val, params["training"])
    return model, history, channels


def tune_decision_rule(
    model: keras.Model,
    model_channels: list[str],
    model_inputs: ImageStack,
    train_masks: ImageStack,
    manifest: pd.DataFrame,
    params: dict,
) -> dict:
    """Choose the probability threshold, the minimum salt area (smaller predicted masks are
    emptied) and the peak threshold (images none of whose pixels reach it are predicted empty)
    maximising the competition metric on the validation split only."""
    _, x_val, y_val = _split_arrays(model_inputs, train_masks, manifest, "validation", model_channels)
    probabilities = predict_probabilities(model, x_val, params["batch_size"], params["flip_tta"])
    grid = np.round(np.arange(*params["threshold_grid"]), 4)
    rule, score = metrics.best_decision_rule(
        y_val, probabilities, grid, params.get("min_area_grid", [0]), params.get("peak_threshold_grid", [0.0])
    )
    logger.info("Decision rule %s (validation competition metric %.4f)", rule, score)
    return {**rule, "validation_competition_metric": score}


def evaluate_model(
    model: keras.Model,
    model_channels: list[str],
    model_inputs: ImageStack,
    train_masks: ImageStack,
    manifest: pd.DataFrame,
    decision_rule: dict,
    params: dict,
) -> tuple[dict, pd.DataFrame]:
    """Scores on the internal test split and a per-image metrics table for error analysis.

    The competition metric comes with a 95 % bootstrap interval over images
    (``internal_test.competition_metric_low`` / ``_high``): how much it could move on another
    sample of images like these. It says nothing of the training's own variance.
    """
    ids, x_test, y_test = _split_arrays(
        model_inputs, train_masks, manifest, "internal_test", model_channels
    )
    probabilities = predict_probabilities(model, x_test, params["batch_size"], params["flip_tta"])
    predicted = metrics.apply_decision_rule(probabilities, decision_rule)
    summary = metrics.segmentation_summary(y_test, predicted)
    per_image_score = metrics.competition_score_per_image(y_test, predicted)
    _, low, high, _ = bootstrap_mean(per_image_score[:, None], params["bootstrap_resamples"], seed=0)
    summary["competition_metric_low"], summary["competition_metric_high"] = float(low[0]), float(high[0])
    scores = {f"internal_test.{k}": v for k, v in summary.items()}
    scores["validation.competition_metric"] = decision_rule["validation_competition_metric"]
    scores["threshold"] = decision_rule["threshold"]
    scores["min_area"] = float(decision_rule.get("min_area", 0))
    scores["peak_threshold"] = float(decision_rule.get("peak_threshold", 0.0))
    logger.info("Internal test (%d images): %s", len(ids), summary)
    per_image = manifest.set_index("id").loc[ids, ["depth", "coverage", "coverage_class"]]
    per_image = per_image.reset_index().assign(
        predicted_coverage=predicted.reshape(len(ids), -1).mean(axis=1),
        iou=metrics.iou_per_image(y_test, predicted),
        score=per_image_score,
    )
    return scores, per_image


def predict_masks(x: np.ndarray, model: keras.Model | bytes, params: dict, rule: dict) -> np.ndarray:
    """Binary masks ``(n, 101, 101) uint8`` of one chunk of inputs: a task that runs in process or
    on a Dask worker alike (``model`` may be the bytes of its ``.keras`` file)."""
    probabilities = predict_probabilities(as_model(model), x, params["batch_size"], params["flip_tta"])
    return metrics.apply_decision_rule(probabilities, rule).astype(np.uint8)


def predict_test_masks(
    model: keras.Model,
    model_channels: list[str],
    model_inputs_test: ImageStack,
    decision_rule: dict,
    params: dict,
    execution: dict | None = None,
) -> ImageStack:
    """Binary salt masks ``(N, 101, 101) uint8`` for every competition test image.

    Reads the (memory-mapped) inputs ``chunk_size`` images at a time, so memory stays bounded;
    the chunks run where ``execution`` says (:mod:`explainable_salt.runtime.execution`).
    """
    n = len(model_inputs_test)
    index = [model_inputs_test.channels.index(c) for c in model_channels]
    slices = chunk_slices(n, params["chunk_size"])
    chunks = ((np.asarray(model_inputs_test.data[s][..., index]),) for s in slices)
    results = map_chunks(
        predict_masks, chunks, execution,
        shared={"model": model, "params": params, "rule": decision_rule},
        labels=(f"test images {model_inputs_test.ids[s.start]} … {model_inputs_test.ids[s.stop - 1]}" for s in slices),
        total=len(slices), desc="test masks",
    )
    masks = np.empty((n, *model_inputs_test.data.shape[1:3]), dtype=np.uint8)
    for s, chunk_masks in zip(slices, results):
        masks[s] = chunk_masks
    logger.info("Predicted %d test masks (%.1f %% with salt)", len(masks), 100 * masks.any(axis=(1, 2)).mean())
    return ImageStack(model_inputs_test.ids, masks)


def make_submission(test_masks_predicted: ImageStack) -> pd.DataFrame:
    """The competition submission: ``id,rle_mask`` for every test id, column-major RLE."""
    return pd.DataFrame(
        {"id": test_masks_predicted.ids, "rle_mask": rle_encode_stack(test_masks_predicted.data)}
    )
