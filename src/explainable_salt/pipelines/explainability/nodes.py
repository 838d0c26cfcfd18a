"""Nodes of the explainability pipeline: channel Shapley maps of internal-test images, their
global analysis and faithfulness checks."""

from __future__ import annotations

import logging
import time
from itertools import pairwise

import keras
import numpy as np
import pandas as pd

from explainable_salt.attribution import faithfulness, importance, interactions, sampling, sensitivity
from explainable_salt.attribution.absence import (
    DEFINITIONS,
    Absence,
    BackgroundAbsence,
    BaselineAbsence,
    BlurAbsence,
    ConditionalAbsence,
)
from explainable_salt.attribution.amortized import (
    amortized_stack,
    build_explainer,
    explainer_error,
    fit_explainer,
    label_stack,
    pool_expected_value,
)
from explainable_salt.attribution.background import choose_background, seeded_subset, train_pool
from explainable_salt.attribution.chunks import explain_stack, is_exact
from explainable_salt.attribution.inputs import require_count
from explainable_salt.attribution.pixel_attribution import salt_location_maps
from explainable_salt.attribution.shapley import ChannelShapley
from explainable_salt.segmentation.forward import execution_backend, forward_pass
from explainable_salt.stacks import ImageStack, first_ids
from explainable_salt.tgs.metrics import apply_decision_rule
from explainable_salt.tgs.splits import split_ids, spread_over_coverage

logger = logging.getLogger(__name__)


def _explained_ids(manifest: pd.DataFrame, params: dict) -> np.ndarray:
    """The internal-test ids explained: the first ``max_images``, or all of them for ``null``;
    ``ValueError`` for 0 or fewer, which once silently meant all, and for an empty internal test."""
    ids = first_ids(split_ids(manifest, "internal_test"), params.get("max_images"), "explainability.max_images")
    require_count(len(ids), 1, "internal-test images", "images", "data_engineering.split_ratios.internal_test")
    return np.asarray(ids, dtype=str)


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


def absence_definitions(params: dict) -> list[str]:
    """``explainability.absence``: the definitions of an absent channel, the first primary
    (default ``[background]``); unknown or repeated names raise ``ValueError``."""
    names = list(params.get("absence") or ["background"])
    unknown = [n for n in names if n not in DEFINITIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"explainability.absence must list distinct names of {DEFINITIONS}, not {names}")
    return names


def _train_channel_means(model_inputs: ImageStack, train_ids: np.ndarray, channels: list[str]) -> np.ndarray:
    index = [model_inputs.channels.index(c) for c in channels]
    total = np.zeros(len(channels))
    for start in range(0, len(train_ids), 256):  # a few hundred images at a time: memory stays flat
        chunk = model_inputs.select(train_ids[start : start + 256]).data[..., index]
        total += chunk.sum(axis=(0, 1, 2), dtype=np.float64)
    return total / (len(train_ids) * np.prod(model_inputs.data.shape[1:3]))


def build_absence(
    definition: str, model_inputs: ImageStack, channels: list[str], manifest: pd.DataFrame,
    background: ImageStack, background_weights: list[float], params: dict,
) -> Absence:
    """The game ``definition`` with its references from the train split: the sampled background
    (``background``), the train channel means (``baseline``), ``blur.sigma`` (``blur``), or a
    seeded pool of ``conditional.pool`` train images (``conditional``)."""
    train_ids = split_ids(manifest, "train")
    if definition == "background":
        # A random draw has a sampling error to report; weighted k-means centroids are no draw.
        sampled = params["background"]["method"] == "random" and np.ptp(background_weights) == 0
        return BackgroundAbsence(background.data, np.asarray(background_weights), sampled=sampled)
    if definition == "baseline":
        return BaselineAbsence(_train_channel_means(model_inputs, train_ids, channels))
    if definition == "blur":
        return BlurAbsence(float(params["blur"]["sigma"]))
    settings = params["conditional"]
    pool = train_pool(model_inputs, train_ids, channels, settings["pool"], settings["seed"])
    return ConditionalAbsence(pool, min(settings["neighbours"], len(pool)), settings["descriptor_size"])


def _stacked(ids: np.ndarray, result: ChannelShapley, name: str, names: tuple[str, ...]) -> ImageStack:
    data = result.readouts.get(name, np.zeros((len(ids), *result.predictions.shape[1:], 0), np.float32))
    return ImageStack(ids, data, names if data.shape[-1] else ())


def explain_channels(
    salt_model: keras.Model,
    salt_model_channels: list[str],
    model_inputs: ImageStack,
    manifest: pd.DataFrame,
    background: ImageStack,
    background_weights: list[float],
    params: dict,
    execution: dict | None = None,
    definition: str | None = None,
) -> tuple[ImageStack, ImageStack, ImageStack, dict, ImageStack, ImageStack, ImageStack, pd.DataFrame]:
    """Shapley contribution of each channel to each predicted pixel of internal-test images, in
    the game ``definition`` (default: the primary, first of ``explainability.absence``), by
    :func:`explainable_salt.attribution.chunks.explain_stack` (which raises
    :class:`~explainable_salt.attribution.additivity.AdditivityError` beyond ``additivity_tolerance``).

    Returns ``channel_contributions`` ``(N, 101, 101, C)`` named by channel, the
    ``expected_value_map`` (a one-image stack with id ``expected_value``, or one map per image for
    ``blur``), the explained ``salt_probabilities`` ``(N, 101, 101)``, the checks (``shapley.*``
    for the primary, ``shapley.<definition>.*`` for the others), the Shapley interaction index of
    each channel pair ``(N, 101, 101, P)`` named ``a:b``, the order-2 Shapley–Taylor terms
    ``(N, 101, 101, C + P)`` (main effects, then pairs), the per-pixel standard error of the
    contributions ``(N, 101, 101, C)`` where the game has one (a background drawn at random, the
    conditional neighbours; a stack of no channels for the exact games) and, for a background drawn
    at random, each image's mean |φ| per channel under each bootstrap redraw of the background (a
    long table: resample, id, channel, mean_abs; empty for the other games).
    """
    primary = definition is None
    definition = definition or absence_definitions(params)[0]
    if primary and definition == "blur":
        raise ValueError("blur's expected value is per image; the report reads one shared map: "
                         "list blur after the primary definition in explainability.absence")
    ids = _explained_ids(manifest, params)
    images = model_inputs.select(ids).select_channels(salt_model_channels)
    absence = build_absence(definition, model_inputs, salt_model_channels, manifest, background,
                            background_weights, params)
    logger.info("Explaining %d internal-test images (%s, absent channels: %s): %d channels %s", len(ids),
                "exact" if is_exact(len(salt_model_channels), params) else "sampled", definition,
                len(salt_model_channels), salt_model_channels)
    result, checks = explain_stack(images, salt_model, absence, params, execution)
    prefix = "shapley" if primary else f"shapley.{definition}"
    return (
        ImageStack(ids, result.contributions, images.channels),
        _expected_value_map(ids, result),
        ImageStack(ids, result.predictions),
        {f"{prefix}.{name}": value for name, value in checks.items()},
        _stacked(ids, result, "interactions", interactions.pair_names(salt_model_channels)),
        _stacked(ids, result, "taylor", interactions.taylor_names(salt_model_channels)),
        _standard_errors(ids, result, images.channels),
        _redraws(ids, result, images.channels),
    )


def _amortized_sets(model_inputs: ImageStack, channels: list[str], manifest: pd.DataFrame, params: dict):
    """The amortized explainer's pool ``(P, H, W, C)``, label ids (train) and validation ids, seeded."""
    settings = params["amortized"]
    train_ids = split_ids(manifest, "train")
    pool = train_pool(model_inputs, train_ids, channels, settings["pool"], settings["seed"])
    rng = np.random.default_rng(settings["seed"])
    label_ids = seeded_subset(train_ids, settings["label_images"], rng)
    validation_ids = seeded_subset(split_ids(manifest, "validation"), settings["validation_images"], rng)
    require_count(len(validation_ids), 1, "validation images", "images", "data_engineering.split_ratios.validation")
    return pool, label_ids, validation_ids


def _label_settings(params: dict) -> dict:
    """What the amortized explainer's labels are drawn with besides their images, channels and model
    (the lineage hook checks the model): the pool's size, K and the seed."""
    return {"pool": params["amortized"]["pool"], "references": params["background"]["size"],
            "seed": params["amortized"]["seed"]}


def label_amortized_explainer(
    salt_model: keras.Model, salt_model_channels: list[str], model_inputs: ImageStack, manifest: pd.DataFrame,
    params: dict, execution: dict | None = None,
) -> tuple[ImageStack, ImageStack, dict]:
    """The amortized explainer's labels: exact φ in the ``background`` game of
    ``amortized.label_images`` train images, each against its own draw of ``background.size``
    images of a seeded pool of ``amortized.pool`` train images, ``(N, 101, 101, C)``; and of
    ``amortized.validation_images`` validation images labelled twice with independent draws,
    ``(M, 101, 101, 2C)`` (channels ``<c>@1`` then ``<c>@2``); and the settings they were drawn
    with (:func:`_label_settings`). Saved before training, so a failed fit resumes from them
    (``kedro run --from-nodes fit_amortized_explainer``). Labels are exact (``2^C`` coalitions per
    image), so more than ``max_exact_channels`` channels are refused."""
    channels = list(salt_model_channels)
    if not is_exact(len(channels), params):
        raise ValueError(f"explainability.estimator: amortized labels are exact Shapley values, and the model reads "
                         f"{len(channels)} channels, more than max_exact_channels = {params['max_exact_channels']}")
    pool, label_ids, validation_ids = _amortized_sets(model_inputs, channels, manifest, params)
    size, seed = params["background"]["size"], params["amortized"]["seed"]
    logger.info("Labelling %d train and 2 × %d validation images for the amortized explainer (K = %d of %d)",
                len(label_ids), len(validation_ids), size, len(pool))

    def labels(ids: np.ndarray, draw_seed: int, desc: str) -> np.ndarray:
        return label_stack(model_inputs.select(ids).select_channels(channels), salt_model, pool, size, draw_seed,
                           params, execution, desc)

    start = time.perf_counter()
    validation = [labels(validation_ids, seed + draw, f"validation labels, draw {draw}") for draw in (1, 2)]
    train = labels(label_ids, seed, "train labels")
    minutes = (time.perf_counter() - start) / 60
    logger.info("Labelled %d images in %.1f min (%.2f images/s)", len(label_ids) + 2 * len(validation_ids), minutes,
                (len(label_ids) + 2 * len(validation_ids)) / max(60 * minutes, 1e-9))
    return (ImageStack(label_ids, train, tuple(channels)),
            ImageStack(validation_ids, np.concatenate(validation, axis=-1),
                       tuple(f"{c}@{draw}" for draw in (1, 2) for c in channels)),
            _label_settings(params))


def fit_amortized_explainer(
    salt_model: keras.Model, salt_model_channels: list[str], model_inputs: ImageStack, manifest: pd.DataFrame,
    amortized_explainer_labels: ImageStack, amortized_explainer_validation_labels: ImageStack,
    amortized_explainer_label_settings: dict, params: dict, execution: dict | None = None,
) -> tuple[keras.Model, dict]:
    """The amortized explainer fitted to ``amortized_explainer_labels`` (the best epoch on the
    validation labels' first draw), its ``v(∅)`` the pool's mean output; and its metrics
    ``amortized.*``: per channel the root-mean-square error against the whole pool's φ, estimated
    from the two validation draws without a reference (:func:`~explainable_salt.attribution.amortized.explainer_error`;
    the second draw is kept out of the fit), and one label's own error beside it."""
    settings, channels = params["amortized"], list(salt_model_channels)
    pool, label_ids, validation_ids = _amortized_sets(model_inputs, channels, manifest, params)
    changed = [name for name, made, now in [
        ("images", list(amortized_explainer_labels.ids), list(label_ids)),
        ("validation images", list(amortized_explainer_validation_labels.ids), list(validation_ids)),
        ("channels", list(amortized_explainer_labels.channels), channels),
        *[(name, amortized_explainer_label_settings.get(name), value) for name, value in _label_settings(params).items()],
    ] if made != now]
    if changed:
        raise ValueError(f"amortized_explainer_labels were made with other {', '.join(changed)} than explainability "
                         "and salt_model_channels now give: run label_amortized_explainer again")
    predict = forward_pass(salt_model, params["batch_size"], execution_backend(execution))
    images = model_inputs.select(label_ids).select_channels(channels).data
    held_out = model_inputs.select(validation_ids).select_channels(channels).data
    first, second = np.split(amortized_explainer_validation_labels.data, 2, axis=-1)
    start = time.perf_counter()
    explainer = build_explainer(len(channels), pool_expected_value(predict, pool), settings["depth"],
                                settings["base_filters"], settings["seed"])
    history = fit_explainer(explainer, images, predict(images), amortized_explainer_labels.data,
                            (held_out, predict(held_out), first), settings["epochs"], settings["batch_size"],
                            settings["learning_rate"], settings["seed"])
    training_minutes = (time.perf_counter() - start) / 60
    estimates = amortized_stack(ImageStack(validation_ids, held_out, tuple(channels)), salt_model, explainer,
                                params, execution).contributions
    error = explainer_error(estimates, first, second, seed=settings["seed"])
    metrics = {"amortized.relative_error": float(error["rmse"].mean() / error["mean_abs"].mean()),
               "amortized.relative_error_high": float(error["rmse_high"].mean() / error["mean_abs"].mean()),
               "amortized.label_relative_error": float(error["label_rmse"].mean() / error["mean_abs"].mean()),
               "amortized.n_labels": float(len(label_ids)), "amortized.n_validation": float(len(validation_ids)),
               "amortized.n_references": float(params["background"]["size"]),
               "amortized.best_validation_loss": float(min(history.get("val_loss", [np.nan]))),
               "amortized.training_minutes": training_minutes}
    for c, channel in enumerate(channels):
        metrics |= {f"amortized.{channel}.rmse": float(error["rmse"][c]),
                    f"amortized.{channel}.rmse_high": float(error["rmse_high"][c]),
                    f"amortized.{channel}.label_rmse": float(error["label_rmse"][c])}
    logger.info("Amortized explainer: error %.0f %% of mean |φ| (95 %% interval up to %.0f %%) on %d validation images "
                "(one K = %d label: %.0f %%)", 100 * metrics["amortized.relative_error"],
                100 * metrics["amortized.relative_error_high"], len(validation_ids), params["background"]["size"],
                100 * metrics["amortized.label_relative_error"])
    return explainer, metrics


def explain_channels_amortized(
    salt_model: keras.Model, salt_model_channels: list[str], model_inputs: ImageStack, manifest: pd.DataFrame,
    amortized_explainer: keras.Model, amortized_explainer_metrics: dict, params: dict, execution: dict | None = None,
) -> tuple[ImageStack, ImageStack, ImageStack, dict, ImageStack, ImageStack, ImageStack, pd.DataFrame]:
    """:func:`explain_channels`' outputs from the amortized explainer (``estimator: amortized``):
    φ from one forward pass each, additive within ``additivity_tolerance``; its error per pixel is
    the upper end of the 95 % interval of each channel's measured root-mean-square error
    (``amortized_explainer_metrics``), the same at every pixel, in place of a standard error, with
    the validation images as its degrees of freedom; no interactions, Shapley–Taylor terms or redraws."""
    ids = _explained_ids(manifest, params)
    images = model_inputs.select(ids).select_channels(salt_model_channels)
    logger.info("Explaining %d internal-test images with the amortized explainer", len(ids))
    result = amortized_stack(images, salt_model, amortized_explainer, params, execution)
    rmse = np.array([amortized_explainer_metrics[f"amortized.{c}.rmse_high"] for c in images.channels], np.float32)
    checks = {"max_additivity_error": result.max_additivity_error, "max_taylor_error": 0.0,
              "n_images": float(len(ids)), "exact": 0.0, "amortized": 1.0,
              "n_references": amortized_explainer_metrics["amortized.n_validation"],  # the error's sample: t's n − 1
              "relative_error": amortized_explainer_metrics["amortized.relative_error"],
              "relative_error_high": amortized_explainer_metrics["amortized.relative_error_high"]}
    return (
        ImageStack(ids, result.contributions, images.channels),
        _expected_value_map(ids, result),
        ImageStack(ids, result.predictions),
        {f"shapley.{name}": value for name, value in checks.items()},
        _stacked(ids, result, "interactions", ()),
        _stacked(ids, result, "taylor", ()),
        ImageStack(ids, np.ascontiguousarray(np.broadcast_to(rmse, result.contributions.shape)), images.channels),
        _redraws(ids, result, images.channels),
    )


def _expected_value_map(ids: np.ndarray, result: ChannelShapley) -> ImageStack:
    if result.expected_value.ndim == 2:  # shared by every image
        return ImageStack(["expected_value"], result.expected_value[None])
    return ImageStack(ids, result.expected_value)


def _standard_errors(ids: np.ndarray, result: ChannelShapley, channels: tuple[str, ...]) -> ImageStack:
    if result.standard_error is None:
        return ImageStack(ids, np.zeros((len(ids), *result.predictions.shape[1:], 0), np.float32))
    return ImageStack(ids, result.standard_error, channels)


def _redraws(ids: np.ndarray, result: ChannelShapley, channels: tuple[str, ...]) -> pd.DataFrame:
    columns = ["resample", "id", "channel", "mean_abs"]
    if result.resampled_importance is None:
        return pd.DataFrame({c: pd.Series(dtype=float if c == "mean_abs" else object) for c in columns})
    b, n, c = result.resampled_importance.shape
    index = np.indices((b, n, c)).reshape(3, -1)
    return pd.DataFrame({"resample": index[0], "id": np.asarray(ids)[index[1]],
                         "channel": np.asarray(channels)[index[2]], "mean_abs": result.resampled_importance.ravel()})


def analyse_sampling_error(
    channel_contributions: ImageStack, contribution_standard_error: ImageStack, background_redraws: pd.DataFrame,
    background_weights: list[float], params: dict,
) -> tuple[pd.DataFrame, str, dict]:
    """How much the primary explanations depend on the background images drawn: the table of
    :func:`explainable_salt.attribution.sampling.sampling_table`, its sentence and metrics
    ``sampling.*``. A game whose references are no random draw gets an empty table and says so."""
    if background_redraws.empty:
        sentence = ("The primary values carry no random draw of train images to redraw (baseline, blur, "
                    "conditional neighbours, k-means centroids, or the amortized explainer).")
        if contribution_standard_error.channels:
            sentence += (" Their per-pixel error (the spread over the conditional neighbours, or the amortized "
                         "explainer's measured error) marks which contributions are distinguishable from 0 "
                         "(explanation_significance).")
        logger.info(sentence)
        return sampling.no_sampling_table(), sentence, {}
    channels, ids = channel_contributions.channels, channel_contributions.ids
    position = background_redraws.assign(  # (resample, image, channel) order of the explained stack
        image=background_redraws["id"].map({i: k for k, i in enumerate(ids)}),
        channel=background_redraws["channel"].map({c: k for k, c in enumerate(channels)}),
    ).sort_values(["resample", "image", "channel"])
    redrawn = position["mean_abs"].to_numpy().reshape(-1, len(ids), len(channels))  # (B, N, C)
    table = sampling.sampling_table(channel_contributions.data, contribution_standard_error.data, redrawn, channels)
    sentence = sampling.sampling_sentence(table, len(background_weights), params["min_ranking_unchanged"])
    logger.info("Sampling error: %s", sentence)
    metrics = {f"sampling.{r.channel}.relative_standard_error": r.relative_standard_error for r in table.itertuples()}
    metrics |= {"sampling.ranking_unchanged": float(table["ranking_unchanged"].iloc[0]),
                "sampling.first_unchanged": float(table["first_unchanged"].iloc[0]),
                "sampling.kendall_tau": float(table["kendall_tau"].iloc[0])}
    return table, sentence, metrics


def _error_note(definition: str, checks: dict, prefix: str, standard_errors: ImageStack) -> tuple[int, str]:
    """The ``K`` references of a game's checks (``<prefix>.n_references``) and what to say of its
    sampling error."""
    k = int(checks[f"{prefix}.n_references"])
    if checks.get(f"{prefix}.amortized"):
        return k, sampling.amortized_note(k, checks[f"{prefix}.relative_error"], checks[f"{prefix}.relative_error_high"])
    return k, sampling.error_note(definition, k, bool(standard_errors.channels), bool(checks[f"{prefix}.exact"]))


def analyse_significance(
    explained_probabilities: ImageStack, decision_rule: dict, channel_contributions: ImageStack,
    contribution_standard_error: ImageStack, explanation_checks: dict, *others: ImageStack | dict,
    definitions: list[str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Per definition of absence and channel, the share of salt pixels (the decision rule applied to
    the explained probabilities) whose φ is distinguishable from 0, ``|φ| > t × SE``
    (:func:`explainable_salt.attribution.sampling.significance_table`), and the metrics
    ``significance.<definition>.<channel>.share``. ``others``: ``<d>.channel_contributions``,
    ``<d>.contribution_standard_error``, ``<d>.explanation_checks`` for each definition after the
    primary, in turn; ``definitions`` (default ``[background]``) names them, the primary first.
    Exact games get no share (NaN, no metric) and say so."""
    names = list(definitions or ["background"])
    ids = channel_contributions.ids
    salt = apply_decision_rule(explained_probabilities.select(ids).data, decision_rule).astype(bool)
    if len(others) != 3 * (len(names) - 1):
        raise ValueError(f"{len(others)} stacks and checks for the definitions {names[1:]}: 3 each")
    games = [(channel_contributions, contribution_standard_error, explanation_checks, "shapley"),
             *((*others[3 * i : 3 * i + 3], f"shapley.{d}") for i, d in enumerate(names[1:]))]
    tables = []
    for name, (contributions, errors, checks, prefix) in zip(names, games, strict=True):
        k, note = _error_note(name, checks, prefix, errors)
        tables.append(sampling.significance_table(
            name, contributions.select(ids).data, errors.select(ids).data if errors.channels else None, k, salt,
            contributions.channels, note))
    table = pd.concat(tables, ignore_index=True)
    metrics = {f"significance.{r.definition}.{r.channel}.share": float(r.share)
               for r in table.itertuples() if np.isfinite(r.share)}
    logger.info("Share of salt pixels whose φ is distinguishable from 0: %s", metrics)
    return table, metrics


def analyse_interactions(channel_interactions: ImageStack, params: dict) -> tuple[pd.DataFrame, dict]:
    """The global interaction matrix (mean Shapley interaction index per pair with bootstrap
    intervals over images) and its metrics ``interaction.<a>.<b>.mean``."""
    table = interactions.interaction_table(
        channel_interactions.data, channel_interactions.channels, params["n_bootstrap"], params["seed"]
    )
    metrics = {f"interaction.{r.channel_a}.{r.channel_b}.mean": r.mean for r in table.itertuples()}
    logger.info("Channel interactions (mean over images): %s", dict(zip(table["pair"], table["mean"].round(4))))
    return table, metrics


def compare_absence_definitions(
    params: dict, analysis: dict, channel_contributions: ImageStack, *other_contributions: ImageStack,
    definitions: list[str] | None = None,
) -> tuple[pd.DataFrame, str, dict]:
    """The explanation sensitivity table (global importance per definition of absence, Kendall τ
    of per-image channel rankings and correlation of φ maps against the primary), the sentence
    saying whether the ranking holds, and metrics ``sensitivity.<definition>.*``.

    ``other_contributions`` follow ``definitions[1:]``, the definitions the pipeline was built
    for (default: ``explainability.absence``), which are the run's own; a pipeline built for
    others (outside a session) is refused rather than let one definition be labelled another."""
    names = definitions or absence_definitions(params)
    if names != absence_definitions(params):
        raise ValueError(f"explainability.absence is {absence_definitions(params)} in this run, but the pipeline "
                         f"was built for {names}: run it through `kedro run`, which builds it from the run's "
                         "configuration")
    stacks = dict(zip(names, (channel_contributions, *other_contributions), strict=True))
    table = sensitivity.sensitivity_table(
        {d: s.select(channel_contributions.ids).data for d, s in stacks.items()},
        channel_contributions.channels, analysis["n_bootstrap"], analysis["seed"],
    )
    sentence = sensitivity.ranking_sentence(table)
    logger.info("Explanation sensitivity: %s", sentence)
    per_definition = table.drop_duplicates("definition")
    metrics = {f"sensitivity.{r.definition}.kendall_tau": r.kendall_tau for r in per_definition.itertuples()}
    metrics |= {f"sensitivity.{r.definition}.map_correlation": r.map_correlation for r in per_definition.itertuples()}
    metrics |= {f"sensitivity.{r.definition}.{r.channel}.share": r.share_of_abs for r in table.itertuples()}
    return table, sentence, {k: v for k, v in metrics.items() if np.isfinite(v)}


def _depth_bands(depths: pd.Series, edges: list[float]) -> np.ndarray:
    labels = [f"{lo:g}-{hi:g} ft" for lo, hi in pairwise(edges)]
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
        forward_pass(salt_model, params["batch_size"]),
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
    manifest: pd.DataFrame,
    background: ImageStack,
    background_weights: list[float],
    params: dict,
) -> dict:
    """Explain ``randomisation.images`` images with a randomly re-initialised copy of the model,
    in the primary game (the first of ``explainability.absence``, that of
    ``channel_contributions``): the explanations must decorrelate from the trained model's
    (Spearman ρ below ``randomisation.max_correlation``). Returns ``sanity.randomised_model_spearman``."""
    settings = params["randomisation"]
    definition = absence_definitions(params)[0]
    ids = channel_contributions.ids[: settings["images"]]
    channels = list(channel_contributions.channels)
    # Compared in another game, the two explanations would differ even for a model that learned nothing.
    absence = build_absence(definition, model_inputs, channels, manifest, background, background_weights, params)
    keras.utils.set_random_seed(settings["seed"])
    random_model = keras.models.clone_model(salt_model)  # fresh initial weights
    rho = faithfulness.randomised_model_correlation(
        forward_pass(random_model, settings["batch_size"]), model_inputs.select(ids).select_channels(channels).data,
        absence, channel_contributions.select(ids).data, params["images_per_call"],
    )
    logger.info("Model randomisation (%s): Spearman ρ of explanations = %.3f (trained vs random weights)",
                definition, rho)
    if rho > settings["max_correlation"]:
        logger.warning("Explanations barely change when the model's weights are randomised (ρ = %.2f)", rho)
    return {"sanity.randomised_model_spearman": rho}


def choose_showcase_images(manifest: pd.DataFrame, channel_contributions: ImageStack, params: dict) -> list[str]:
    """``n_images`` explained images (shown in the report, and given pixel maps), one per coverage
    class at most, spread from empty to full (:func:`explainable_salt.tgs.splits.spread_over_coverage`)."""
    explained = manifest.set_index("id").loc[channel_contributions.ids].reset_index()
    return spread_over_coverage(explained, params["n_images"], per_class=1)


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
