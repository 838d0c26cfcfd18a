"""Nodes of the feature_engineering pipeline: images → normalised attribute channels."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd

from explainable_salt.compute.execution import map_stack
from explainable_salt.seismic.attributes import checked_attributes
from explainable_salt.seismic.normalisation import fit_normaliser, normalised_channels
from explainable_salt.stacks import ImageStack, StackChunk
from explainable_salt.tgs.splits import split_ids
from explainable_salt.tgs.validation import depth_by_id

logger = logging.getLogger(__name__)


def _depths_of(ids: np.ndarray, depths: pd.DataFrame) -> np.ndarray:
    return depth_by_id(depths).reindex(ids).to_numpy(np.float32)


def _attributes(images: ImageStack, depths: pd.DataFrame, names: list[str], params: dict) -> np.ndarray:
    return checked_attributes(
        images.data, images.ids, _depths_of(images.ids, depths), names, params.get("attribute_settings")
    )


def built_channels(model_channels: list[str], params: dict) -> list[str]:
    """The channels to build: those the model reads (``modelling.channels``), in its order, then any
    ``analysis_channels`` it does not (kept for notebooks and reports, never for the model)."""
    extra = [name for name in params.get("analysis_channels") or [] if name not in model_channels]
    return [*model_channels, *extra]


def fit_channel_normaliser(
    train_images: ImageStack, depths: pd.DataFrame, manifest: pd.DataFrame, params: dict, model_channels: list[str]
) -> dict:
    """Fit the per-channel normaliser of :func:`built_channels` on the train split only."""
    train_ids = split_ids(manifest, "train")
    names = built_channels(list(model_channels), params)
    channels = _attributes(train_images.select(train_ids), depths, names, params)
    normaliser = fit_normaliser(channels, names, params["normalisation"])
    logger.info(
        "Fitted %s normalisation of channels %s on %d train images",
        normaliser["method"], normaliser["channels"], len(train_ids),
    )
    return normaliser


def build_model_inputs(
    images: ImageStack, depths: pd.DataFrame, normaliser: dict, params: dict, execution: dict | None = None
) -> Iterator[StackChunk]:
    """Normalised channels ``(N, 101, 101, C) float32`` named as in the normaliser.

    A generator: yields one chunk of ``chunk_size`` images at a time, which the catalog's
    ``ImageStackDataset`` writes straight to disk, so memory stays bounded by the chunk. The
    chunks are computed where ``execution`` says (:mod:`explainable_salt.compute.execution`).
    """
    names = normaliser["channels"]
    logger.info("Building channels %s for %d images", names, len(images))
    pieces = map_stack(
        normalised_channels, images, execution, chunk_size=params["chunk_size"],
        chunk_args=lambda _, s: (images.ids[s], _depths_of(images.ids[s], depths)),
        shared={"names": list(names), "settings": params.get("attribute_settings"), "normaliser": normaliser},
        desc="attributes",
    )
    for s, normalised in pieces:
        yield StackChunk(ImageStack(images.ids[s], normalised, tuple(names)), s.start, len(images))
