"""Nodes of the feature_engineering pipeline: images → normalised attribute channels."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from explainable_salt.attributes import compute_attributes
from explainable_salt.normalisation import apply_normaliser, fit_normaliser
from explainable_salt.stacks import ImageStack

logger = logging.getLogger(__name__)


def _require_finite(channels: np.ndarray, ids: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(channels).all(axis=(1, 2))  # (n, C)
    if bad.any():
        image, channel = np.argwhere(bad)[0]
        raise ValueError(
            f"Attribute {names[channel]!r} of image {ids[image]} is NaN or infinite "
            f"({int(bad.any(axis=1).sum())} image(s) affected)"
        )


def fit_channel_normaliser(train_images: ImageStack, manifest: pd.DataFrame, params: dict) -> dict:
    """Fit the per-channel normaliser on the attributes of the train split only."""
    train_ids = manifest.loc[manifest["split"] == "train", "id"].to_numpy()
    images = train_images.select(train_ids).data
    channels = compute_attributes(images, params["channels"], params.get("attribute_settings"))
    _require_finite(channels, train_ids, params["channels"])
    normaliser = fit_normaliser(channels, params["channels"], params["normalisation"])
    logger.info(
        "Fitted %s normalisation of channels %s on %d train images",
        normaliser["method"],
        normaliser["channels"],
        len(train_ids),
    )
    return normaliser


def build_model_inputs(images: ImageStack, normaliser: dict, params: dict) -> ImageStack:
    """Normalised channels ``(N, 101, 101, C) float32`` named as in the normaliser.

    Computed chunk by chunk so only the output is held at full size.
    """
    names = normaliser["channels"]
    out = np.empty((*images.data.shape, len(names)), dtype=np.float32)
    chunk = params["chunk_size"]
    for start in tqdm(range(0, len(images), chunk), desc="attributes", unit="chunk"):
        stop = start + chunk
        channels = compute_attributes(images.data[start:stop], names, params.get("attribute_settings"))
        out[start:stop] = apply_normaliser(channels, normaliser)
        _require_finite(out[start:stop], images.ids[start:stop], names)
    logger.info("Built channels %s for %d images", names, len(images))
    return ImageStack(images.ids, out, tuple(names))
