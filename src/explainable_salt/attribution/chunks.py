"""One chunk of images explained: the task that the explainability and inference pipelines run in
process or on a Dask worker, and the error both raise when an explanation does not add up."""

from __future__ import annotations

import keras
import numpy as np

from explainable_salt.attribution import interactions, sampling
from explainable_salt.attribution.absence import Absence, BackgroundAbsence
from explainable_salt.attribution.shapley import (
    ChannelShapley,
    channel_shapley_sampled,
    explain_game,
    keras_predictor,
)
from explainable_salt.runtime.execution import as_model


class AdditivityError(RuntimeError):
    """expected + Σ contributions differs from the prediction by more than the tolerance."""


def explain_game_chunk(
    images: np.ndarray, seed: int, model: keras.Model | bytes, absence: Absence, params: dict
) -> ChannelShapley:
    """Exact channel Shapley values of one chunk of images in the game ``absence``, with the
    pairwise interaction indices and the Shapley–Taylor terms read from the same coalition values;
    above ``max_exact_channels`` channels, the ``background`` game is sampled with ``seed`` (and
    there are no interactions). A background drawn at random also gets its standard errors and
    ``sampling_error.n_resamples`` bootstrap redraws, seeded alike in every chunk so that chunks
    share them. Runs in process or on a Dask worker alike."""
    predict = keras_predictor(as_model(model), params["batch_size"])
    n_channels = images.shape[-1]
    if n_channels <= params["max_exact_channels"]:
        readouts = {"interactions": interactions.interaction_index_matrix(n_channels),
                    "taylor": interactions.taylor_matrix(n_channels)} if n_channels >= 2 else {}
        resamples = None
        if getattr(absence, "sampled", False):
            redraws = params["sampling_error"]
            resamples = sampling.bootstrap_weights(len(absence.background), redraws["n_resamples"], redraws["seed"])
        return explain_game(predict, images, absence, params["images_per_call"], readouts, progress=False,
                            resamples=resamples)
    if not isinstance(absence, BackgroundAbsence):
        raise ValueError(f"{absence.name!r} is exact only: at most max_exact_channels = "
                         f"{params['max_exact_channels']} channels, not {n_channels}")
    return channel_shapley_sampled(predict, images, absence.background, params["n_permutations"], seed,
                                   absence.weights)
