"""Nodes of the cross_validation pipeline."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd

from explainable_salt.compute.execution import map_chunks, model_bytes, model_from_bytes
from explainable_salt.segmentation import training
from explainable_salt.segmentation.checkpoints import checkpoint_for
from explainable_salt.segmentation.inference import ensemble_probabilities, predict_masks, predict_probabilities
from explainable_salt.segmentation.models import build_configured_model
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs import metrics
from explainable_salt.tgs.splits import split_arrays
from explainable_salt.tracking.metrics import history_as_metrics

logger = logging.getLogger(__name__)


def fit_and_score(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, name: str, params: dict
) -> tuple[bytes, pd.DataFrame, float]:
    """Build and train the configured model (its checkpoint named ``name``), score it on
    ``(x_val, y_val)`` at threshold 0.5.

    A task that runs in process or on a Dask worker alike: returns the model as the bytes of its
    ``.keras`` file, its history and the held-out competition metric.
    """
    model = build_configured_model(params, x_train.shape[-1], seed=params["training"]["seed"])
    checkpoint = checkpoint_for(params["training"], name, model, x_train, y_train, x_val, y_val)
    history = training.fit(model, x_train, y_train, x_val, y_val, params["training"], checkpoint)
    probabilities = predict_probabilities(model, x_val, params["inference"]["batch_size"], params["inference"]["flip_tta"])
    return model_bytes(model), history, metrics.competition_metric(y_val, probabilities > 0.5)


def train_fold(
    model_inputs: ImageStack, train_masks: ImageStack, manifest: pd.DataFrame, params: dict,
    execution: dict | None = None, *, fold: int,
) -> tuple[keras.Model, pd.DataFrame, dict]:
    """Train on every non-test fold but ``fold`` and score on ``fold`` (held out).

    Returns the model, its history and ``{"fold", "competition_metric"}`` on the held-out fold at
    threshold 0.5. With a Dask ``execution``, the training runs on a worker; under
    ``--runner ThreadRunner`` the folds then train in parallel.
    """
    channels = list(params["channels"])
    _, x_train, y_train = split_arrays(model_inputs, train_masks, manifest, "train", channels, fold)
    _, x_val, y_val = split_arrays(model_inputs, train_masks, manifest, "validation", channels, fold)
    logger.info("Fold %d: training on %d images, holding out %d", fold, len(x_train), len(x_val))
    [(payload, history, score)] = map_chunks(
        fit_and_score, [(x_train, y_train, x_val, y_val, f"fold_{fold}")], execution, shared={"params": params},
        labels=[f"fold {fold}"], total=1, desc=f"fold {fold}",
    )
    logger.info("Fold %d: held-out competition metric %.4f", fold, score)
    return model_from_bytes(payload), history, {"fold": fold, "competition_metric": score}


def fold_run(training_history: pd.DataFrame, validation_score: dict, params: dict) -> dict:
    """What the fold's nested MLflow run records: its parameters, per-epoch history and score."""
    return {
        "params": {"fold": validation_score["fold"], "architecture": params["architecture"]},
        "metrics": {
            **history_as_metrics(training_history),
            "held_out.competition_metric": [{"value": float(validation_score["competition_metric"]), "step": 0}],
        },
    }


def evaluate_ensemble(
    model_inputs: ImageStack, train_masks: ImageStack, manifest: pd.DataFrame, params: dict,
    *fold_results: keras.Model | dict,
) -> dict:
    """The cross-validated estimate (mean ± std of held-out fold scores) and the fold ensemble's
    score on the internal test split (threshold 0.5: no tuning on test)."""
    half = len(fold_results) // 2
    models, scores = fold_results[:half], [r["competition_metric"] for r in fold_results[half:]]
    folds_in_manifest = manifest.loc[manifest["fold"] >= 0, "fold"].nunique()
    if folds_in_manifest != len(models):
        raise ValueError(f"The manifest has {folds_in_manifest} folds but the pipeline trained {len(models)}: "
                         "set data_engineering.n_folds in conf/ (the pipeline reads it there), not with --params")
    _, x, y = split_arrays(model_inputs, train_masks, manifest, "internal_test", params["channels"])
    inference = params["inference"]
    ensemble = ensemble_probabilities(models, x, inference["batch_size"], inference["flip_tta"]) > 0.5
    result = {
        "cv.competition_metric_mean": float(np.mean(scores)),
        "cv.competition_metric_std": float(np.std(scores)),
        "cv.ensemble.internal_test.competition_metric": metrics.competition_metric(y, ensemble),
    }
    logger.info("Cross-validation: %s", result)
    return result


def predict_with_ensemble(
    model_inputs_test: ImageStack, params: dict, execution: dict | None, *models: keras.Model
) -> ImageStack:
    """Masks for every competition test image from the mean probability of the fold models
    (threshold 0.5: the folds tune no decision rule), in chunks that run where ``execution`` says."""
    return predict_masks(models, params["channels"], model_inputs_test, {"threshold": 0.5}, params["inference"],
                         execution)
