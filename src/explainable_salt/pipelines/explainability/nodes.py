"""Nodes of the explainability pipeline: channel Shapley maps of internal-test images, their
global analysis and faithfulness checks."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd

from explainable_salt.attribution import faithfulness, importance
from explainable_salt.attribution.background import choose_background
from explainable_salt.attribution.pixel_attribution import salt_location_maps
from explainable_salt.attribution.shapley import (
    ChannelShapley,
    channel_shapley,
    channel_shapley_sampled,
    concatenate,
    keras_predictor,
)
from explainable_salt.runtime.execution import as_model, map_stack
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule
from explainable_salt.tgs.splits import split_ids

logger = logging.getLogger(__name__)


class AdditivityError(RuntimeError):
    """expected + Σ contributions differs from the prediction by more than the tolerance."""


def _explained_ids(manifest: pd.DataFrame, params: dict) -> np.ndarray:
    ids = split_ids(manifest, "internal_test")
    return ids[: params["max_images"]] if params.get("max_images") else ids


def sample_background(
    model_inputs: ImageStack, salt_model_channels: list[str], manifest: pd.DataFrame, params: dict
) -> tuple[ImageStack, list[float]]:
    """The background replacing absent channels, drawn from the train split only.

    ``method: random`` samples ``size`` images; ``kmeans`` summarises the train split (or
    ``kmeans_pool`` images of it) into ``size`` weighted centroids. Returns the images and weights.
    """
    train_ids = split_ids(manifest, "train")
    rng = np.random.default_rng(params["seed"])
    pool = train_ids
    if params["method"] == "kmeans" and params.get("kmeans_pool") and len(pool) > params["kmeans_pool"]:
        pool = np.sort(rng.choice(pool, size=params["kmeans_pool"], replace=False))
    candidates = model_inputs.select(pool).select_channels(salt_model_channels)
    images, weights, index = choose_background(candidates.data, params["size"], params["method"], params["seed"])
    ids = [pool[i] if i >= 0 else f"centroid_{k}" for k, i in enumerate(index)]
    logger.info("Background: %d %s images from the train split", len(images), params["method"])
    return ImageStack(ids, images, tuple(salt_model_channels)), weights.tolist()


def explain_chunk(
    images: np.ndarray, seed: int, model: keras.Model | bytes, background: np.ndarray,
    background_weights: np.ndarray, params: dict,
) -> ChannelShapley:
    """Channel Shapley values of one chunk of images: exact up to ``max_exact_channels``
    channels, else sampled with ``seed``. A task that runs in process or on a Dask worker alike
    (``model`` may be the bytes of its ``.keras`` file)."""
    predict = keras_predictor(as_model(model), params["batch_size"])
    if images.shape[-1] <= params["max_exact_channels"]:
        return channel_shapley(predict, images, background, params["images_per_call"], background_weights,
                               progress=False)
    return channel_shapley_sampled(predict, images, background, params["n_permutations"], seed, background_weights)


def explain_channels(
    salt_model: keras.Model,
    salt_model_channels: list[str],
    model_inputs: ImageStack,
    manifest: pd.DataFrame,
    background: ImageStack,
    background_weights: list[float],
    params: dict,
    execution: dict | None = None,
) -> tuple[ImageStack, ImageStack, ImageStack, dict]:
    """Shapley contribution of each channel to each predicted pixel of internal-test images.

    Exact (all ``2^C`` coalitions) up to ``max_exact_channels`` channels, else the antithetic
    permutation estimator with ``n_permutations``. Returns ``channel_contributions``
    ``(N, 101, 101, C)`` named by channel, the ``expected_value_map`` (a one-image stack with id
    ``expected_value``), the explained ``salt_probabilities`` ``(N, 101, 101)`` and the checks.
    Raises :class:`AdditivityError` if ``expected + Σ φ`` misses a prediction by more than
    ``additivity_tolerance``. Chunks of ``chunk_size`` images run where ``execution`` says
    (:mod:`explainable_salt.runtime.execution`); the sampled estimator seeds chunk ``k`` with ``seed + k``.
    """
    ids = _explained_ids(manifest, params)
    images = model_inputs.select(ids).select_channels(salt_model_channels)
    n_channels = len(salt_model_channels)
    exact = n_channels <= params["max_exact_channels"]
    logger.info(
        "Explaining %d internal-test images (%s): %d channels %s, %d background images",
        len(ids), "exact" if exact else "sampled", n_channels, salt_model_channels, len(background),
    )
    result = concatenate([chunk for _, chunk in map_stack(
        explain_chunk, images, execution, chunk_size=params["chunk_size"],
        chunk_args=lambda k, _: (params["seed"] + k,),
        shared={"model": salt_model, "background": background.data,
                "background_weights": np.asarray(background_weights), "params": params},
        desc="channel Shapley",
    )])
    logger.info("Worst additivity error |E + Σφ − f(x)|: %.3g", result.max_additivity_error)
    if result.max_additivity_error > params["additivity_tolerance"]:
        raise AdditivityError(
            f"Shapley additivity violated: max error {result.max_additivity_error:.3g} > "
            f"{params['additivity_tolerance']}"
        )
    checks = {
        "shapley.max_additivity_error": result.max_additivity_error,
        "shapley.n_images": float(len(ids)),
        "shapley.exact": float(exact),
    }
    return (
        ImageStack(ids, result.contributions, images.channels),
        ImageStack(["expected_value"], result.expected_value[None]),
        ImageStack(ids, result.predictions),
        checks,
    )


def _depth_bands(depths: pd.Series, edges: list[float]) -> np.ndarray:
    labels = [f"{lo:g}-{hi:g} ft" for lo, hi in zip(edges[:-1], edges[1:])]
    return pd.cut(depths, bins=edges, labels=labels, include_lowest=True).astype(str).to_numpy()


def analyse_importance(
    channel_contributions: ImageStack,
    model_inputs: ImageStack,
    train_masks: ImageStack,
    explained_probabilities: ImageStack,
    manifest: pd.DataFrame,
    decision_rule: dict,
    params: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Global importance per channel and pixel group, a pixel sample for scatter plots, metrics."""
    ids = channel_contributions.ids
    rows = manifest.set_index("id").loc[ids]
    truth = train_masks.select(ids).data
    predicted = apply_decision_rule(explained_probabilities.data, decision_rule)
    table = importance.importance_table(
        channel_contributions.data, channel_contributions.channels, truth, predicted,
        rows["coverage_class"].to_numpy(), _depth_bands(rows["depth"], params["depth_bands"]),
        params["n_bootstrap"], params["seed"],
    )
    values = model_inputs.select(ids).select_channels(channel_contributions.channels).data
    samples = importance.sample_pixels(
        ids, values, channel_contributions.data, truth, channel_contributions.channels,
        params["scatter_pixels"], params["seed"],
    )
    overall = table[table["group"] == "all"]
    metrics = {f"importance.{r.channel}.mean_abs": r.mean_abs for r in overall.itertuples()}
    metrics |= {f"importance.{r.channel}.share": r.share_of_abs for r in overall.itertuples()}
    ranking = overall.sort_values("mean_abs", ascending=False)["channel"].tolist()
    logger.info("Channel importance (mean |φ| over all pixels): %s", ranking)
    return table, samples, metrics


def compute_deletion_curves(
    salt_model: keras.Model,
    channel_contributions: ImageStack,
    model_inputs: ImageStack,
    train_masks: ImageStack,
    background: ImageStack,
    background_weights: list[float],
    global_importance: pd.DataFrame,
    decision_rule: dict,
    params: dict,
) -> tuple[pd.DataFrame, dict]:
    """Deletion curves by importance, reverse and random order on the explained images."""
    ids = channel_contributions.ids[: params["images"]]
    channels = channel_contributions.channels
    overall = global_importance[global_importance["group"] == "all"].set_index("channel")
    curves = faithfulness.deletion_curves(
        keras_predictor(salt_model, params["batch_size"]),
        model_inputs.select(ids).select_channels(channels).data,
        train_masks.select(ids).data,
        background.data, np.asarray(background_weights),
        overall.loc[list(channels), "mean_abs"].to_numpy(),
        decision_rule["threshold"], params["n_random_orders"], params["seed"],
    )
    curves["removed"] = curves["removed"].map(
        lambda s: ",".join(channels[int(i)] for i in s.split(",")) if s else ""
    )
    metrics = {
        f"deletion.{order.split(' ')[0]}.mean_metric": faithfulness.deletion_area(curves, order)
        for order in ("importance", "reverse", "random (mean)")
    }
    logger.info("Deletion curves (mean metric, lower = more faithful): %s", metrics)
    return curves, metrics


def randomisation_check(
    salt_model: keras.Model,
    channel_contributions: ImageStack,
    model_inputs: ImageStack,
    background: ImageStack,
    background_weights: list[float],
    params: dict,
) -> dict:
    """Explain a few images with a randomly re-initialised copy of the model: the explanations
    must decorrelate from the trained model's (Spearman ρ below ``max_correlation``)."""
    ids = channel_contributions.ids[: params["images"]]
    channels = channel_contributions.channels
    keras.utils.set_random_seed(params["seed"])
    random_model = keras.models.clone_model(salt_model)  # fresh initial weights
    images = model_inputs.select(ids).select_channels(channels).data
    weights = np.asarray(background_weights)
    randomised = channel_shapley(keras_predictor(random_model, params["batch_size"]), images, background.data,
                                 background_weights=weights)
    rho = faithfulness.explanation_rank_correlation(channel_contributions.select(ids).data, randomised.contributions)
    logger.info("Model randomisation: Spearman ρ of explanations = %.3f (trained vs random weights)", rho)
    if rho > params["max_correlation"]:
        logger.warning("Explanations barely change when the model's weights are randomised (ρ = %.2f)", rho)
    return {"sanity.randomised_model_spearman": rho}


def choose_showcase_images(manifest: pd.DataFrame, channel_contributions: ImageStack, params: dict) -> list[str]:
    """``n_images`` explained images (shown in the report, and given pixel maps) spread over coverage classes: classes evenly spaced from
    empty to full, and in each the image of median coverage."""
    explained = manifest.set_index("id").loc[channel_contributions.ids]
    classes = np.sort(explained["coverage_class"].unique())
    picked = classes[np.unique(np.linspace(0, len(classes) - 1, min(params["n_images"], len(classes))).round().astype(int))]
    chosen = []
    for k in picked:
        members = explained[explained["coverage_class"] == k].sort_values("coverage")
        chosen.append(members.index[len(members) // 2])
    return chosen


def map_salt_locations(
    salt_model: keras.Model,
    showcase_image_ids: list[str],
    model_inputs: ImageStack,
    explained_probabilities: ImageStack,
    background: ImageStack,
    decision_rule: dict,
    params: dict,
) -> ImageStack:
    """Which input locations of each channel drive the predicted salt, for the showcase images
    (expected gradients of the mean salt probability inside the predicted mask)."""
    images = model_inputs.select(showcase_image_ids).select_channels(background.channels)
    predicted = apply_decision_rule(explained_probabilities.select(showcase_image_ids).data, decision_rule)
    logger.info("Pixel-level maps for %d showcase images", len(showcase_image_ids))
    maps = salt_location_maps(salt_model, images.data, predicted, background.data, params["n_samples"], params["seed"])
    return ImageStack(images.ids, maps, images.channels)
