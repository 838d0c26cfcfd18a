"""An amortized explainer: one forward pass of a small network instead of ``(2^C − 2) K + 1`` of
the model, for the ``background`` game (FastSHAP, Jethani et al. 2022; stochastic amortization,
Covert et al. 2024).

The network reads an image's channels ``(101, 101, C)`` and the model's probability
``(101, 101)`` and outputs the ``C`` channel maps of φ. It is trained on noisy but unbiased labels:
exact K-image Shapley values of train images, **each image against its own independent draw** of
K images from a pool (:class:`~explainable_salt.attribution.absence.DrawnBackgroundAbsence`). A
draw's φ is an unbiased estimate of φ against the whole pool, so a network fitted to many of them
by squared error learns that mean, and its error can fall below the noise of its labels; with one
shared draw it would learn that draw's game, noise included.

Its expected value ``v(∅)`` ``(101, 101)`` is the whole pool's mean output, and its last layer
(:class:`AdditiveProjection`) shifts the ``C`` outputs equally so that ``v(∅) + Σ φ`` is the
model's probability at every pixel: exactly additive, whatever the network learnt.
"""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
from keras import layers, ops

from explainable_salt.attribution.absence import DrawnBackgroundAbsence
from explainable_salt.attribution.additivity import max_additivity_error, require_additive
from explainable_salt.attribution.inputs import require_stack
from explainable_salt.attribution.shapley import ChannelShapley, concatenate, explain_game
from explainable_salt.compute.execution import as_model, map_stack
from explainable_salt.segmentation.forward import Predictor, execution_backend, padded, task_forward_pass
from explainable_salt.segmentation.models import conv_block, unet_features
from explainable_salt.stacks import IMAGE_SIZE, ImageStack

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="explainable_salt")
class AdditiveProjection(layers.Layer):
    """``raw`` maps ``(N, H, W, C)`` shifted by the same amount per pixel so that
    ``expected_value + Σ φ = probability`` ``(N, H, W, 1)``; the expected value ``(H, W)`` is a
    fixed weight, saved with the explainer."""

    def __init__(self, size: int = IMAGE_SIZE, **kwargs):
        super().__init__(dtype="float32", **{k: v for k, v in kwargs.items() if k != "dtype"})
        self.size = size
        self.expected_value = self.add_weight(shape=(size, size), initializer="zeros", trainable=False,
                                              name="expected_value")

    def call(self, raw, probability):
        gap = probability[..., 0] - self.expected_value - ops.sum(raw, axis=-1)
        return raw + gap[..., None] / raw.shape[-1]

    def compute_output_shape(self, raw_shape, probability_shape):
        return raw_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def build_explainer(
    n_channels: int, expected_value: np.ndarray, depth: int = 3, base_filters: int = 16, seed: int | None = None
) -> keras.Model:
    """The explainer: inputs ``channels`` ``(N, S, S, C)`` and ``probability`` ``(N, S, S, 1)`` →
    φ ``(N, S, S, C)`` float32, exactly additive around ``expected_value`` ``(S, S)`` (S = 101 for
    the model's images); a U-Net body of ``depth`` levels, float32 throughout."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    size = int(np.shape(expected_value)[0])
    channels = keras.Input((size, size, n_channels), name="channels", dtype="float32")
    probability = keras.Input((size, size, 1), name="probability", dtype="float32")
    joined = layers.Concatenate(dtype="float32", name="with_probability")([channels, probability])

    def block(x, filters, name):
        return conv_block(x, filters, 3, True, name)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # φ are small differences: no bfloat16 here
    try:
        features, pad = unet_features(joined, depth, base_filters, 0.0, "reflect", block)
        raw = layers.Conv2D(n_channels, 1, kernel_initializer="zeros", name="raw_contributions")(features)
        raw = layers.Cropping2D((pad, pad), name="crop")(raw)
        projection = AdditiveProjection(size, name="additive_projection")
        phi = projection(raw, probability)
    finally:
        keras.config.set_dtype_policy(previous)
    projection.expected_value.assign(np.asarray(expected_value, np.float32))
    return keras.Model([channels, probability], phi, name=f"amortized_explainer_d{depth}_f{base_filters}")


def explainer_expected_value(explainer: keras.Model) -> np.ndarray:
    """The explainer's ``v(∅)`` ``(S, S)`` float32."""
    return np.asarray(explainer.get_layer("additive_projection").expected_value, np.float32)


def pool_expected_value(predict: Predictor, pool: np.ndarray) -> np.ndarray:
    """The whole pool's mean output ``(H, W)`` float32: ``v(∅)`` of the game against the pool."""
    return predict(pool).astype(np.float64).mean(axis=0).astype(np.float32)


def independent_draw_labels(
    predict: Predictor, images: np.ndarray, pool: np.ndarray, size: int, seed: int, images_per_call: int = 4,
    first_row: int = 0,
) -> ChannelShapley:
    """Exact Shapley values of ``images`` ``(N, H, W, C)``, each against its own draw of ``size``
    images of ``pool`` ``(P, H, W, C)``, seeded by ``seed``, the image's bytes and its row in the
    whole stack (``first_row`` + its place here): different images get independent draws, and an
    image the same draw in whichever chunk it is labelled."""
    absence = DrawnBackgroundAbsence(pool, size, seed, first_row=first_row)
    return explain_game(predict, images, absence, images_per_call, progress=False)


def label_chunk(
    images: np.ndarray, first_row: int, seed: int, model: keras.Model | bytes, pool: np.ndarray, size: int,
    params: dict,
) -> np.ndarray:
    """:func:`independent_draw_labels` of one chunk ``(n, H, W, C)`` whose first image is row
    ``first_row`` of the labelled stack, the model run on ``params["backend"]``: a task that runs
    in process or on a Dask worker alike. Returns φ ``(n, H, W, C)`` float32."""
    predict = task_forward_pass(model, params)
    return independent_draw_labels(predict, images, pool, size, seed, params["images_per_call"],
                                   first_row).contributions


def label_stack(
    images: ImageStack, model: keras.Model, pool: np.ndarray, size: int, seed: int, params: dict,
    execution: dict | None = None, desc: str = "amortized labels",
) -> np.ndarray:
    """:func:`independent_draw_labels` of ``images`` ``(N, H, W, C)`` in chunks of ``chunk_size``
    run where ``execution`` says (the same draws however it chunks): φ ``(N, H, W, C)`` float32."""
    params = {**params, "backend": execution_backend(execution)}
    chunks = [labels for _, labels in map_stack(
        label_chunk, images, execution, chunk_size=params["chunk_size"], chunk_args=lambda k, s: (s.start, seed),
        shared={"model": model, "pool": pool, "size": size, "params": params}, desc=desc,
    )]
    return np.concatenate(chunks) if chunks else np.zeros(images.data.shape, np.float32)


def fit_explainer(
    explainer: keras.Model, channels: np.ndarray, probabilities: np.ndarray, labels: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, epochs: int = 20,
    batch_size: int = 16, learning_rate: float = 1e-3, seed: int = 0, verbose: int = 2,
) -> dict[str, list[float]]:
    """Fit ``explainer`` by squared error to ``labels`` ``(N, 101, 101, C)`` of images
    ``channels`` ``(N, 101, 101, C)`` with the model's ``probabilities`` ``(N, 101, 101)``;
    cosine-decayed Adam, the best validation epoch kept. Returns the loss history."""
    require_stack(channels, "channels")
    keras.utils.set_random_seed(seed)
    steps = epochs * int(np.ceil(len(channels) / batch_size))
    explainer.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
                      loss="mse")
    callbacks = []
    data = None
    if validation is not None:
        x_val, p_val, y_val = validation
        data = ((x_val, p_val[..., None]), y_val)
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs,
                                                       restore_best_weights=True))
    history = explainer.fit((channels, probabilities[..., None]), labels, batch_size=batch_size, epochs=epochs,
                            validation_data=data, callbacks=callbacks, shuffle=True, verbose=verbose)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def additive(contributions: np.ndarray, expected_value: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """``contributions`` ``(N, H, W, C)`` shifted equally per pixel, in float64, so that
    ``expected_value + Σ φ = predictions`` holds to float32 rounding once cast back (the network's
    own projection runs in float32 and misses by up to ~1e-5 where |φ| is large)."""
    phi = contributions.astype(np.float64)
    gap = predictions.astype(np.float64) - expected_value.astype(np.float64) - phi.sum(axis=-1)
    return (phi + gap[..., None] / phi.shape[-1]).astype(np.float32)


def amortized_shapley(
    explainer: keras.Model, predict: Predictor, images: np.ndarray, batch_size: int = 64
) -> ChannelShapley:
    """φ of ``images`` ``(N, S, S, C)`` from one forward pass of the model (``predict``) and
    one of ``explainer``; the expected value is the explainer's, shared by every image."""
    require_stack(images, "images")
    predictions = predict(images)

    def explain(inputs: np.ndarray) -> np.ndarray:  # batches padded to a few lengths: no retracing
        batch = padded(inputs, batch_size)
        return np.asarray(explainer.predict_on_batch([batch[..., :-1], batch[..., -1:]]), np.float32)[:len(inputs)]

    joined = np.concatenate([images.astype(np.float32), predictions[..., None]], axis=-1)
    expected = explainer_expected_value(explainer)
    contributions = (additive(np.concatenate([explain(joined[i : i + batch_size])
                                              for i in range(0, len(joined), batch_size)]), expected, predictions)
                     if len(joined) else np.zeros(images.shape, np.float32))
    return ChannelShapley(contributions=contributions, expected_value=expected, predictions=predictions,
                          max_additivity_error=max_additivity_error(expected, contributions, predictions))


def explainer_error(
    estimates: np.ndarray, first_draw: np.ndarray, second_draw: np.ndarray, n_bootstrap: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """The explainer's error per channel against the whole pool's φ, from two labels of the same
    images made with independent draws (each ``(N, H, W, C)``, unbiased for that φ, with the same
    noise variance σ²), with no reference needed. ``second_draw`` must not have been used to
    choose ``estimates`` (the fit keeps its best epoch on ``first_draw``): its noise is then
    independent of them, so ``mean (φ̂ − y₂)²`` estimates ``mean (φ̂ − φ)² + σ²``, and
    ``mean (y₁ − y₂)² / 2`` estimates σ² whatever the estimates; their difference is an
    unbiased estimate of the mean squared error. Each image's draw is shared by all its pixels,
    so the images are the units of its 95 % interval (``n_bootstrap`` resamples of them).

    Returns ``(C,)`` arrays: ``rmse`` (its square root, 0 where the estimate is negative),
    ``rmse_high`` (the root of the interval's upper end), ``label_rmse`` (one draw's own error, σ)
    and ``mean_abs`` (mean |φ̂|)."""
    require_stack(estimates, "estimates")
    axes = tuple(range(1, estimates.ndim - 1))
    phi = estimates.astype(np.float64)
    label_mse = ((first_draw.astype(np.float64) - second_draw) ** 2).mean(axis=axes) / 2  # (N, C)
    mse = ((phi - second_draw) ** 2).mean(axis=axes) - label_mse
    resamples = np.random.default_rng(seed).integers(0, len(mse), size=(n_bootstrap, len(mse)))
    high = np.percentile(mse[resamples].mean(axis=1), 97.5, axis=0)
    return {"rmse": np.sqrt(np.clip(mse.mean(axis=0), 0, None)), "rmse_high": np.sqrt(np.clip(high, 0, None)),
            "label_rmse": np.sqrt(label_mse.mean(axis=0)), "mean_abs": np.abs(phi).mean(axis=(0, *axes))}


def amortized_chunk(images: np.ndarray, model: keras.Model | bytes, explainer: keras.Model | bytes,
                    params: dict) -> ChannelShapley:
    """:func:`amortized_shapley` of one chunk ``(n, S, S, C)``, the model run on
    ``params["backend"]``: a task that runs in process or on a Dask worker alike."""
    predict = task_forward_pass(model, params)
    return amortized_shapley(as_model(explainer), predict, images)


def amortized_stack(
    images: ImageStack, model: keras.Model, explainer: keras.Model, params: dict, execution: dict | None = None
) -> ChannelShapley:
    """:func:`amortized_shapley` of ``images`` ``(N, S, S, C)`` in chunks of ``chunk_size``, run
    where ``execution`` says, joined; raises
    :class:`~explainable_salt.attribution.additivity.AdditivityError` beyond ``additivity_tolerance``."""
    params = {**params, "backend": execution_backend(execution)}
    start = time.perf_counter()
    chunks = [chunk for _, chunk in map_stack(
        amortized_chunk, images, execution, chunk_size=params["chunk_size"],
        shared={"model": model, "explainer": explainer, "params": params}, desc="amortized φ",
    )]
    result = concatenate(chunks or [amortized_chunk(np.asarray(images.data[:0]), model, explainer, params)])
    seconds = time.perf_counter() - start
    logger.info("Amortized φ of %d images in %.1f s (%.1f images/s, model and explainer); worst additivity error "
                "|E + Σφ − f(x)|: %.3g", len(images), seconds, len(images) / max(seconds, 1e-9),
                result.max_additivity_error)
    require_additive(result.max_additivity_error, params["additivity_tolerance"], "amortized")
    return result
