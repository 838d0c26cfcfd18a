"""Nodes of the inference pipeline: PNG sections of any size → masks, probabilities, a
submission and stitched channel explanations."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import pandas as pd

from explainable_salt.attribution.absence import BackgroundAbsence, DrawnBackgroundAbsence
from explainable_salt.attribution.additivity import require_additive
from explainable_salt.attribution.amortized import amortized_chunk
from explainable_salt.attribution.background import train_pool
from explainable_salt.attribution.chunks import explain_game_chunk, is_exact
from explainable_salt.attribution.sections import stitched_shapley
from explainable_salt.attribution.shapley import ChannelShapley
from explainable_salt.compute.execution import map_stack
from explainable_salt.segmentation.forward import execution_backend
from explainable_salt.segmentation.inference import section_masks, section_probabilities
from explainable_salt.seismic.attributes import ATTRIBUTES
from explainable_salt.seismic.normalisation import normalised_channels
from explainable_salt.stacks import IMAGE_SIZE, ImageStack, first_ids
from explainable_salt.tgs.rle import rle_encode
from explainable_salt.tgs.splits import split_ids
from explainable_salt.tgs.validation import RawDataError, depth_by_id, grey_image, require_finite_depths

logger = logging.getLogger(__name__)

Sections = list[tuple[ImageStack, np.ndarray]]
"""Sections grouped by size: a grey ``(n, H, W) uint8`` stack and its depths ``(n,)`` per size."""


def _grey(image: np.ndarray, source: str) -> np.ndarray:
    """An 8-bit grey section from a decoded PNG (grey, or RGB(A) with equal colour channels) of at
    least 101 x 101 pixels."""
    image = grey_image(image, source)
    if min(image.shape) < IMAGE_SIZE:
        raise RawDataError(f"{source} is {image.shape[:2]} pixels; a section must be at least "
                           f"{IMAGE_SIZE} x {IMAGE_SIZE}")
    return image


def _depths(ids: list[str], depths: pd.DataFrame, needed: bool) -> np.ndarray:
    if not needed:
        return np.full(len(ids), np.nan, dtype=np.float32)
    return require_finite_depths(depth_by_id(depths), ids, suffix=".png").astype(np.float32)


def prepare_sections(
    inference_images_raw: dict[str, np.ndarray], inference_depths: pd.DataFrame, salt_model_channels: list[str]
) -> Sections:
    """Check every section and group them by size, in id order.

    Raises :class:`~explainable_salt.tgs.validation.RawDataError` naming the file of a section
    that is not 8-bit grey or smaller than 101 × 101, or that lacks a depth the model's channels
    need. Nothing is written before every section has passed.
    """
    grey = {i: _grey(inference_images_raw[i], f"{i}.png") for i in sorted(inference_images_raw)}
    needed = any(ATTRIBUTES[c].needs_depth for c in salt_model_channels)
    sizes: dict[tuple[int, int], list[str]] = {}
    for section_id, image in grey.items():
        sizes.setdefault(image.shape, []).append(section_id)
    groups = [(ImageStack(ids, np.stack([grey[i] for i in ids])), _depths(ids, inference_depths, needed))
              for ids in sizes.values()]
    logger.info("%d sections in %d size(s): %s", len(grey), len(groups),
                ", ".join(f"{len(s)} of {s.data.shape[1]} x {s.data.shape[2]}" for s, _ in groups))
    return groups


def model_normaliser(normaliser: dict, channels: Sequence[str]) -> dict:
    """The channel normaliser restricted to ``channels``, in that order."""
    index = [normaliser["channels"].index(c) for c in channels]
    return {**normaliser, "channels": list(channels),
            "center": [normaliser["center"][i] for i in index], "scale": [normaliser["scale"][i] for i in index]}


def predict_sections_chunk(
    grey: np.ndarray, ids: np.ndarray, depths: np.ndarray, models: list, names: list[str], settings: dict | None,
    normaliser: dict, params: dict, rule: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities ``(n, H, W) float32`` and masks ``(n, H, W) uint8`` of a chunk of grey
    sections: attributes on each whole section, normalised, predicted tile by tile and blended.
    A task that runs in process or on a Dask worker alike."""
    inputs = normalised_channels(grey, ids, depths, names, settings, normaliser)
    probabilities = section_probabilities(models, inputs, params)
    return probabilities, section_masks(probabilities, rule)


def sections_per_chunk(chunk_size: int, shape: tuple[int, ...]) -> int:
    """Sections of ``shape`` ``(n, H, W)`` per chunk holding about as many pixels as
    ``chunk_size`` 101 × 101 images, at least one: memory stays bounded whatever the size."""
    return max(1, chunk_size * IMAGE_SIZE**2 // (shape[1] * shape[2]))


def _attribute_settings(feature_params: dict) -> dict | None:
    return feature_params.get("attribute_settings")


def predicted_chunks(
    inference_sections: Sections, salt_model: keras.Model, salt_model_channels: list[str], channel_normaliser: dict,
    decision_rule: dict, feature_params: dict, prediction_params: dict, params: dict, execution: dict | None,
    desc: str,
) -> Iterator[tuple[np.ndarray, ImageStack, np.ndarray, np.ndarray]]:
    """Yield, chunk by chunk of sections, their ids, their stack, and the probabilities
    ``(n, H, W) float32`` and masks ``(n, H, W) uint8`` (0 / 1) of
    :func:`predict_sections_chunk`, each chunk as many pixels as ``chunk_size`` 101 × 101 images
    (:func:`sections_per_chunk`), run where ``execution`` says."""
    settings = {**prediction_params, "tile_overlap": params["tile_overlap"], "backend": execution_backend(execution)}
    shared = {"models": [salt_model], "names": list(salt_model_channels),
              "settings": _attribute_settings(feature_params),
              "normaliser": model_normaliser(channel_normaliser, salt_model_channels),
              "params": settings, "rule": decision_rule}
    for sections, depths in inference_sections:
        for s, (probabilities, masks) in map_stack(
            predict_sections_chunk, sections, execution,
            chunk_size=sections_per_chunk(prediction_params["chunk_size"], sections.data.shape),
            chunk_args=lambda _, s, sections=sections, depths=depths: (sections.ids[s], depths[s]),
            shared=shared, desc=desc,
        ):
            yield sections.ids[s], sections, probabilities, masks


def predict_sections(
    inference_sections: Sections,
    salt_model: keras.Model,
    salt_model_channels: list[str],
    channel_normaliser: dict,
    decision_rule: dict,
    feature_params: dict,
    prediction_params: dict,
    params: dict,
    execution: dict | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Salt probabilities ``{id: (H, W) float32}`` and masks ``{id: (H, W) uint8}`` (0 / 255)
    of every section.

    The attributes use ``feature_params`` (those the model was trained with), the prediction
    ``prediction_params`` (``modelling.inference``: batch, flip TTA, chunk size) and ``params``
    (``inference``: the tile overlap); chunks of as many pixels as ``chunk_size`` 101 × 101
    images (:func:`sections_per_chunk`) run where ``execution`` says.
    """
    probabilities, masks = {}, {}
    for ids, _, p, m in predicted_chunks(
            inference_sections, salt_model, salt_model_channels, channel_normaliser, decision_rule, feature_params,
            prediction_params, params, execution, "section masks"):
        for section_id, probability, mask in zip(ids, p, m):
            probabilities[section_id] = probability
            masks[section_id] = mask * np.uint8(255)
    n_salt = sum(bool(m.any()) for m in masks.values())
    logger.info("Predicted %d sections (%.1f %% with salt)", len(masks), 100 * n_salt / max(1, len(masks)))
    return dict(sorted(probabilities.items())), dict(sorted(masks.items()))


def make_section_submission(inference_masks: dict[str, np.ndarray]) -> pd.DataFrame:
    """``id,rle_mask`` for every section, in id order, by the competition's RLE codec."""
    ids = sorted(inference_masks)
    return pd.DataFrame({"id": ids, "rle_mask": [rle_encode(inference_masks[i] > 0) for i in ids]})


def explain_sections_chunk(
    grey: np.ndarray, ids: np.ndarray, depths: np.ndarray, seed: int, model, names: list[str],
    settings: dict | None, normaliser: dict, background: np.ndarray, background_weights: np.ndarray,
    params: dict, pool: np.ndarray | None = None, explainer: keras.Model | bytes | None = None,
) -> ChannelShapley:
    """Stitched channel Shapley values of a chunk of grey sections of one size: a task that runs
    in process or on a Dask worker alike.

    Given an amortized ``explainer``, each tile's values are its (one forward pass each). Else
    sections of more than one tile, given a ``pool`` of train images and exact values, play each
    tile against its own draw of ``len(background)`` pool images (no tile grid); otherwise every
    tile plays against ``background``."""
    inputs = normalised_channels(grey, ids, depths, names, settings, normaliser)
    if explainer is not None:
        return stitched_shapley(lambda tiles: amortized_chunk(tiles, model, explainer, params), inputs,
                                params["tile_overlap"])
    absence = BackgroundAbsence(background, background_weights)
    if pool is not None and grey.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE) and is_exact(len(names), params):
        absence = DrawnBackgroundAbsence(pool, min(len(background), len(pool)), params["background"]["seed"])
    return stitched_shapley(lambda tiles: explain_game_chunk(tiles, seed, model, absence, params),
                            inputs, params["tile_overlap"])


def explain_sections(
    inference_sections: Sections,
    salt_model: keras.Model,
    salt_model_channels: list[str],
    channel_normaliser: dict,
    shapley_background: ImageStack,
    shapley_background_weights: list[float],
    model_inputs: ImageStack,
    manifest: pd.DataFrame,
    feature_params: dict,
    explainability_params: dict,
    params: dict,
    execution: dict | None = None,
    amortized_explainer: keras.Model | None = None,
) -> tuple[dict[str, dict], dict]:
    """Channel Shapley explanations of the first ``explanations.max_images`` sections in id
    order (all when ``null``): ``{id: {"contributions": (H, W, C), "channels": (C,),
    "expected_value": (H, W), "probability": (H, W)}}`` float32, stitched from 101 × 101 tiles,
    and the checks.

    With ``amortized_explainer`` (``explainability.estimator: amortized``) every tile is explained
    by it, one forward pass each, its ``v(∅)`` shared by every tile: no background is drawn.

    A section of one tile plays against ``shapley_background``, as the explainability pipeline's
    images do. With ``explanations.background_per_tile``, each tile of a larger section plays
    against its own draw of as many images from a seeded pool of ``explanations.background_pool``
    train images (of ``model_inputs``), so that the stitched expected value and φ carry no tile
    grid; without it, every tile plays against ``shapley_background``.

    The engine's settings (exact up to ``max_exact_channels``, batches, seed) are the
    explainability pipeline's; raises
    :class:`~explainable_salt.attribution.additivity.AdditivityError` if ``expected + Σ φ`` misses
    the explained probability by more than ``additivity_tolerance`` at any stitched pixel.
    The explained probability is the model's own, without the flip test-time augmentation.
    """
    engine = {**explainability_params, "tile_overlap": params["tile_overlap"], "backend": execution_backend(execution)}
    wanted = params["explanations"]
    chosen = set(first_ids(sorted(i for s, _ in inference_sections for i in s.ids), wanted["max_images"],
                           "inference.explanations.max_images"))
    normaliser = model_normaliser(channel_normaliser, salt_model_channels)
    pool = None
    if wanted["background_per_tile"] and amortized_explainer is None:
        pool = train_pool(model_inputs, split_ids(manifest, "train"), list(salt_model_channels),
                          wanted["background_pool"], explainability_params["background"]["seed"])
    explanations, worst = {}, 0.0
    for sections, depths in inference_sections:
        keep = np.flatnonzero(np.isin(sections.ids, list(chosen)))
        if not len(keep):
            continue
        subset, subset_depths = ImageStack(sections.ids[keep], sections.data[keep]), depths[keep]
        for s, result in map_stack(
            explain_sections_chunk, subset, execution,
            chunk_size=sections_per_chunk(wanted["chunk_size"], subset.data.shape),
            chunk_args=lambda k, s, subset=subset, d=subset_depths: (subset.ids[s], d[s], engine["seed"] + k),
            shared={"model": salt_model, "names": list(salt_model_channels),
                    "settings": _attribute_settings(feature_params), "normaliser": normaliser,
                    "background": shapley_background.select_channels(salt_model_channels).data,
                    "background_weights": np.asarray(shapley_background_weights), "params": engine,
                    "pool": pool, "explainer": amortized_explainer},
            desc="section explanations" if amortized_explainer is None else "amortized section explanations",
        ):
            worst = max(worst, result.max_additivity_error)
            expected = np.broadcast_to(result.expected_value, result.predictions.shape)  # shared or per section
            for section_id, contributions, expected_value, probability in zip(
                    subset.ids[s], result.contributions, expected, result.predictions):
                explanations[section_id] = {
                    "contributions": contributions, "channels": np.asarray(salt_model_channels),
                    "expected_value": expected_value, "probability": probability,
                }
    logger.info("Explained %d sections; worst additivity error |E + Σφ − f(x)|: %.3g", len(explanations), worst)
    require_additive(worst, wanted["additivity_tolerance"], "stitched sections")
    checks = {"inference.max_additivity_error": worst, "inference.n_explained": float(len(explanations)),
              "inference.amortized": float(amortized_explainer is not None)}
    return dict(sorted(explanations.items())), checks
