"""Images explained chunk by chunk: the task that the explainability and inference pipelines run
in process or on a Dask worker, and a whole stack explained that way with its additivity checked."""

from __future__ import annotations

import logging

import keras
import numpy as np

from explainable_salt.attribution import interactions, sampling
from explainable_salt.attribution.absence import Absence, BackgroundAbsence
from explainable_salt.attribution.additivity import max_additivity_error, require_additive
from explainable_salt.attribution.shapley import (
    ChannelShapley,
    channel_shapley_sampled,
    concatenate,
    explain_game,
)
from explainable_salt.compute.execution import map_stack
from explainable_salt.segmentation.forward import execution_backend, task_forward_pass
from explainable_salt.stacks import ImageStack

logger = logging.getLogger(__name__)


def is_exact(n_channels: int, params: dict) -> bool:
    """Whether ``n_channels`` channels are explained exactly (all ``2^C`` coalitions), that is at
    most ``max_exact_channels``; above, the ``background`` game is sampled."""
    return n_channels <= params["max_exact_channels"]


def explain_game_chunk(
    images: np.ndarray, seed: int, model: keras.Model | bytes, absence: Absence, params: dict
) -> ChannelShapley:
    """Exact channel Shapley values of one chunk of images in the game ``absence``, with the
    pairwise interaction indices and the Shapley–Taylor terms read from the same coalition values;
    above ``max_exact_channels`` channels, the ``background`` game is sampled with ``seed`` (and
    there are no interactions). A background drawn at random also gets its standard errors and
    ``sampling_error.n_resamples`` bootstrap redraws, seeded alike in every chunk so that chunks
    share them. The model runs on ``params["backend"]`` (:func:`~explainable_salt.segmentation.forward.forward_pass`;
    TensorFlow when unset).
    Runs in process or on a Dask worker alike."""
    predict = task_forward_pass(model, params)
    n_channels = images.shape[-1]
    if is_exact(n_channels, params):
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


def explain_stack(
    images: ImageStack, model: keras.Model, absence: Absence, params: dict, execution: dict | None = None
) -> tuple[ChannelShapley, dict[str, float]]:
    """Channel Shapley values of ``images`` ``(N, H, W, C)`` in the game ``absence``, in chunks
    of ``chunk_size`` images run where ``execution`` says (:mod:`explainable_salt.compute.execution`;
    chunk ``k`` seeded ``seed + k``; forward passes on ``execution.backend``), joined; no image gives a result of ``N = 0``.

    Returns the result and its checks: ``max_additivity_error`` and ``max_taylor_error`` (0 without
    Shapley–Taylor terms), ``n_images``, ``exact`` (1 or 0), ``n_references`` (the ``K`` references
    each coalition value averages: a standard error's ``K − 1`` degrees of freedom) and, where the
    game has a standard error (a background drawn at random, the conditional neighbours),
    ``relative_standard_error`` (mean per-pixel standard error over mean |φ|). Raises
    :class:`~explainable_salt.attribution.additivity.AdditivityError` if either decomposition
    misses a prediction by more than ``additivity_tolerance``.
    """
    params = {**params, "backend": execution_backend(execution)}
    chunks = [chunk for _, chunk in map_stack(
        explain_game_chunk, images, execution, chunk_size=params["chunk_size"],
        chunk_args=lambda k, _: (params["seed"] + k,),
        shared={"model": model, "absence": absence, "params": params},
        desc=f"channel Shapley ({absence.name})",
    )]
    # No chunk: the empty stack explained in process, so the result keeps its shapes.
    result = concatenate(chunks or [explain_game_chunk(np.asarray(images.data[:0]), params["seed"], model, absence,
                                                       params)])
    taylor = result.readouts.get("taylor")
    taylor_error = 0.0 if taylor is None else max_additivity_error(result.expected_value, taylor, result.predictions)
    logger.info("Worst additivity error |E + Σφ − f(x)|: %.3g (Shapley–Taylor: %.3g)",
                result.max_additivity_error, taylor_error)
    require_additive(max(result.max_additivity_error, taylor_error), params["additivity_tolerance"], absence.name)
    checks = {"max_additivity_error": result.max_additivity_error, "max_taylor_error": taylor_error,
              "n_images": float(len(images)), "exact": float(is_exact(images.data.shape[-1], params)),
              "n_references": float(absence.n_references)}
    if result.standard_error is not None and len(images):
        relative = float(result.standard_error.mean() / np.abs(result.contributions).mean())
        checks["relative_standard_error"] = relative
        logger.info("Mean per-pixel standard error (%s): %.0f %% of the mean |φ|", absence.name, 100 * relative)
    return result, checks
