"""Nodes of the feature_engineering pipeline: images → normalised attribute channels."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from explainable_salt.attributes import compute_attributes
from explainable_salt.normalisation import apply_normaliser, fit_normaliser
from explainable_salt.stacks import ImageStack, StackChunk

logger = logging.getLogger(__name__)


def _depths_of(ids: np.ndarray, depths: pd.DataFrame) -> np.ndarray:
    by_id = depths.set_index(depths["id"].astype(str))["z"]
    return by_id.reindex(ids).to_numpy(np.float32)


def _require_finite(channels: np.ndarray, ids: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(channels).all(axis=(1, 2))  # (n, C)
    if bad.any():
        image, channel = np.argwhere(bad)[0]
        raise ValueError(
            f"Attribute {names[channel]!r} of image {ids[image]} is NaN or infinite "
            f"({int(bad.any(axis=1).sum())} image(s) affected)"
        )


def _attributes(images: ImageStack, depths: pd.DataFrame, names: list[str], params: dict) -> np.ndarray:
    channels = compute_attributes(
        images.data, names, params.get("attribute_settings"), _depths_of(images.ids, depths)
    )
    _require_finite(channels, images.ids, names)
    return channels


def fit_channel_normaliser(
    train_images: ImageStack, depths: pd.DataFrame, manifest: pd.DataFrame, params: dict
) -> dict:
    """Fit the per-channel normaliser on the attributes of the train split only."""
    train_ids = manifest.loc[manifest["split"] == "train", "id"].to_numpy()
    channels = _attributes(train_images.select(train_ids), depths, params["channels"], params)
    normaliser = fit_normaliser(channels, params["channels"], params["normalisation"])
    logger.info(
        "Fitted %s normalisation of channels %s on %d train images",
        normaliser["method"], normaliser["channels"], len(train_ids),
    )
    return normaliser


def build_model_inputs(
    images: ImageStack, depths: pd.DataFrame, normaliser: dict, params: dict
) -> Iterator[StackChunk]:
    """Normalised channels ``(N, 101, 101, C) float32`` named as in the normaliser.

    A generator: yields one chunk of ``chunk_size`` images at a time, which the catalog's
    ``ImageStackDataset`` writes straight to disk, so memory stays bounded by the chunk.
    """
    names, size = normaliser["channels"], params["chunk_size"]
    logger.info("Building channels %s for %d images", names, len(images))
    for start in tqdm(range(0, len(images), size), desc="attributes", unit="chunk"):
        chunk = ImageStack(images.ids[start : start + size], images.data[start : start + size])
        normalised = apply_normaliser(_attributes(chunk, depths, names, params), normaliser)
        _require_finite(normalised, chunk.ids, names)
        yield StackChunk(ImageStack(chunk.ids, normalised, tuple(names)), start, len(images))
