"""Nodes of the modelling pipeline: train, tune the decision rule, evaluate, predict the test set."""

from __future__ import annotations

import logging

import keras
import pandas as pd

from explainable_salt.segmentation import training
from explainable_salt.segmentation.checkpoints import checkpoint_for
from explainable_salt.segmentation.inference import predict_masks, predict_probabilities
from explainable_salt.segmentation.models import build_configured_model
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs import metrics
from explainable_salt.tgs.splits import split_arrays

logger = logging.getLogger(__name__)


def train_model(
    model_inputs: ImageStack, train_masks: ImageStack, manifest: pd.DataFrame, params: dict
) -> tuple[keras.Model, pd.DataFrame, list[str]]:
    """Build the configured zoo model and train it on the train split, validating on validation.

    Returns the model (best weights), its per-epoch history table and the names of the input
    channels it was trained on, in order (``params["channels"]``, a subset of the built ones).
    """
    channels = list(params["channels"])
    _, x_train, y_train = split_arrays(model_inputs, train_masks, manifest, "train", channels)
    _, x_val, y_val = split_arrays(model_inputs, train_masks, manifest, "validation", channels)
    model = build_configured_model(params, len(channels), seed=params["training"]["seed"])
    checkpoint = checkpoint_for(params["training"], "salt_model", model, x_train, y_train, x_val, y_val)
    history = training.fit(model, x_train, y_train, x_val, y_val, params["training"], checkpoint)
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
    _, x_val, y_val = split_arrays(model_inputs, train_masks, manifest, "validation", model_channels)
    probabilities = predict_probabilities(model, x_val, params["batch_size"], params["flip_tta"])
    rule, score = metrics.best_decision_rule(
        y_val, probabilities, params["threshold_grid"], params["min_area_grid"], params["peak_threshold_grid"]
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
    ids, x_test, y_test = split_arrays(model_inputs, train_masks, manifest, "internal_test", model_channels)
    probabilities = predict_probabilities(model, x_test, params["batch_size"], params["flip_tta"])
    predicted = metrics.apply_decision_rule(probabilities, decision_rule)
    summary = metrics.segmentation_summary(y_test, predicted)
    per_image_score = metrics.competition_score_per_image(y_test, predicted)
    _, low, high, _ = metrics.bootstrap_mean(per_image_score[:, None], params["bootstrap_resamples"], seed=0)
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


def predict_test_masks(
    model: keras.Model,
    model_channels: list[str],
    model_inputs_test: ImageStack,
    decision_rule: dict,
    params: dict,
    execution: dict | None = None,
) -> ImageStack:
    """Binary salt masks ``(N, 101, 101) uint8`` for every competition test image, in chunks
    that run where ``execution`` says."""
    return predict_masks([model], model_channels, model_inputs_test, decision_rule, params, execution)
