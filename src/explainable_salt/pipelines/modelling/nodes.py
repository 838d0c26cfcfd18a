"""Nodes of the modelling pipeline: train, tune the decision rule, evaluate, predict, submit."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from explainable_salt import metrics, training
from explainable_salt.inference import predict_probabilities
from explainable_salt.models import build_model
from explainable_salt.rle import rle_encode_stack
from explainable_salt.stacks import ImageStack

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
    """Choose the probability threshold maximising the competition metric on validation only."""
    _, x_val, y_val = _split_arrays(model_inputs, train_masks, manifest, "validation", model_channels)
    probabilities = predict_probabilities(model, x_val, params["batch_size"], params["flip_tta"])
    grid = np.round(np.arange(*params["threshold_grid"]), 4)
    threshold, score = metrics.best_threshold(y_val, probabilities, grid)
    logger.info("Decision threshold %.2f (validation competition metric %.4f)", threshold, score)
    return {"threshold": threshold, "validation_competition_metric": score}


def evaluate_model(
    model: keras.Model,
    model_channels: list[str],
    model_inputs: ImageStack,
    train_masks: ImageStack,
    manifest: pd.DataFrame,
    decision_rule: dict,
    params: dict,
) -> tuple[dict, pd.DataFrame]:
    """Scores on the internal test split and a per-image metrics table for error analysis."""
    ids, x_test, y_test = _split_arrays(
        model_inputs, train_masks, manifest, "internal_test", model_channels
    )
    probabilities = predict_probabilities(model, x_test, params["batch_size"], params["flip_tta"])
    predicted = probabilities > decision_rule["threshold"]
    summary = metrics.segmentation_summary(y_test, predicted)
    scores = {f"internal_test.{k}": v for k, v in summary.items()}
    scores["validation.competition_metric"] = decision_rule["validation_competition_metric"]
    scores["threshold"] = decision_rule["threshold"]
    logger.info("Internal test (%d images): %s", len(ids), summary)
    per_image = manifest.set_index("id").loc[ids, ["depth", "coverage", "coverage_class"]]
    per_image = per_image.reset_index().assign(
        predicted_coverage=predicted.reshape(len(ids), -1).mean(axis=1),
        iou=metrics.iou_per_image(y_test, predicted),
        score=metrics.competition_score_per_image(y_test, predicted),
    )
    return scores, per_image


def predict_test_masks(
    model: keras.Model,
    model_channels: list[str],
    model_inputs_test: ImageStack,
    decision_rule: dict,
    params: dict,
) -> ImageStack:
    """Binary salt masks ``(N, 101, 101) uint8`` for every competition test image.

    Reads the (memory-mapped) inputs ``chunk_size`` images at a time, so memory stays bounded.
    """
    n, size = len(model_inputs_test), params["chunk_size"]
    index = [model_inputs_test.channels.index(c) for c in model_channels]
    masks = np.empty((n, *model_inputs_test.data.shape[1:3]), dtype=np.uint8)
    for start in tqdm(range(0, n, size), desc="test masks", unit="chunk"):
        x = np.asarray(model_inputs_test.data[start : start + size][..., index])
        probabilities = predict_probabilities(model, x, params["batch_size"], params["flip_tta"])
        masks[start : start + size] = probabilities > decision_rule["threshold"]
    logger.info("Predicted %d test masks (%.1f %% with salt)", len(masks), 100 * masks.any(axis=(1, 2)).mean())
    return ImageStack(model_inputs_test.ids, masks)


def make_submission(test_masks_predicted: ImageStack) -> pd.DataFrame:
    """The competition submission: ``id,rle_mask`` for every test id, column-major RLE."""
    return pd.DataFrame(
        {"id": test_masks_predicted.ids, "rle_mask": rle_encode_stack(test_masks_predicted.data)}
    )
