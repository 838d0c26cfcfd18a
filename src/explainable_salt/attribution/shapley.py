"""Exact Shapley values with the input channels as players, for every output pixel at once.

For an image ``x`` with ``C`` channels, a background set ``b_1 … b_K`` and a coalition ``S`` of
channels, the value of ``S`` is the model's mean output when the channels in ``S`` come from ``x``
and the others from each background image::

    v(S) = mean_k f(x_S ∪ (b_k)_{C∖S})         (a (101, 101) map)

The Shapley value of channel ``c`` weights the marginal gains ``v(S ∪ {c}) − v(S)`` by
``|S|! (C − |S| − 1)! / C!``. ``v(∅)`` is the expected-value map, shared by every image, and
``v(C) = f(x)``; efficiency gives ``v(∅) + Σ_c φ_c = f(x)`` at every pixel. The cost per image is
``(2^C − 2) K + 1`` forward passes, each of which yields all 10,201 output pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ChannelShapley:
    """Contributions ``(N, H, W, C)``, expected-value map ``(H, W)``, predictions ``(N, H, W)``
    and the worst additivity error ``max |expected + Σ φ − prediction|``."""

    contributions: np.ndarray
    expected_value: np.ndarray
    predictions: np.ndarray
    max_additivity_error: float


def coalitions(n_channels: int) -> np.ndarray:
    """All ``2^C`` coalitions as a ``(2^C, C)`` bool matrix; row ``i`` holds the bits of ``i``."""
    index = np.arange(2**n_channels)[:, None]
    return (index >> np.arange(n_channels)[None, :]) & 1 == 1


def shapley_weight_matrix(n_channels: int) -> np.ndarray:
    """``W`` of shape ``(C, 2^C)`` with ``φ = W @ v`` for coalition values ``v`` (rows of
    :func:`coalitions`)."""
    members = coalitions(n_channels)
    sizes = members.sum(axis=1)
    weights = np.zeros((n_channels, 2**n_channels))
    for c in range(n_channels):
        without = np.flatnonzero(~members[:, c])
        w = np.array([factorial(s) * factorial(n_channels - s - 1) for s in sizes[without]])
        w = w / factorial(n_channels)
        weights[c, without | (1 << c)] += w
        weights[c, without] -= w
    return weights


def batched(predict: Predictor, batch_size: int) -> Predictor:
    """Wrap ``predict`` so it is called on at most ``batch_size`` inputs at a time."""

    def run(inputs: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [predict(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )

    return run


def _normalised(weights: np.ndarray | None, k: int) -> np.ndarray:
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (k,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"background weights must be {k} non-negative numbers, not all 0")
    return w / w.sum()


def coalition_values(
    predict: Predictor,
    images: np.ndarray,
    background: np.ndarray,
    present: np.ndarray,
    background_weights: np.ndarray | None = None,
) -> np.ndarray:
    """``v(S)`` ``(N, S, H, W)`` for coalitions ``present`` ``(S, C)`` bool: the weighted mean
    output when the present channels come from the image and the others from each background
    image. One call to ``predict`` with ``N × S × K`` composite inputs."""
    weights = _normalised(background_weights, len(background))
    # (N, S, K, H, W, C): channel c from the image where the coalition holds it.
    composite = np.where(present[None, :, None, None, None, :], images[:, None, None], background[None, None])
    outputs = predict(composite.reshape(-1, *images.shape[1:])).astype(np.float64)
    outputs = outputs.reshape(len(images), len(present), len(background), *images.shape[1:3])
    return np.einsum("k,nskhw->nshw", weights, outputs)


def channel_shapley(
    predict: Predictor,
    images: np.ndarray,
    background: np.ndarray,
    images_per_call: int = 16,
    background_weights: np.ndarray | None = None,
    progress: bool = True,
) -> ChannelShapley:
    """Exact channel Shapley values of ``predict`` for ``images`` ``(N, H, W, C)``.

    ``predict`` maps ``(B, H, W, C)`` to ``(B, H, W)``; ``background`` is ``(K, H, W, C)``, its
    images weighted by ``background_weights`` (uniform by default; k-means summaries carry their
    cluster sizes). Images are processed ``images_per_call`` at a time, so one call sees
    ``images_per_call × (2^C − 2) × K`` composite inputs (wrap ``predict`` with
    :func:`batched` to bound the model's batch).
    """
    n, *_, n_channels = images.shape
    members = coalitions(n_channels)
    partial = members[1:-1]  # neither empty nor full: these need the background
    weights = shapley_weight_matrix(n_channels)
    bg_weights = _normalised(background_weights, len(background))
    expected = np.tensordot(bg_weights, predict(background).astype(np.float64), axes=1)
    predictions = predict(images).astype(np.float64)

    contributions = np.empty(images.shape, dtype=np.float32)
    for start in tqdm(range(0, n, images_per_call), desc="channel Shapley", unit="chunk", disable=not progress):
        x = images[start : start + images_per_call]
        values = np.empty((len(x), len(members), *x.shape[1:3]))
        values[:, 0] = expected
        values[:, 1:-1] = coalition_values(predict, x, background, partial, bg_weights)
        values[:, -1] = predictions[start : start + len(x)]
        contributions[start : start + len(x)] = np.einsum("cs,nshw->nhwc", weights, values)

    return _result(contributions, expected, predictions)


def _result(contributions: np.ndarray, expected: np.ndarray, predictions: np.ndarray) -> ChannelShapley:
    # Efficiency in float64, from the float32 contributions that are stored.
    residual = expected + contributions.astype(np.float64).sum(axis=-1) - predictions
    return ChannelShapley(
        contributions=contributions,
        expected_value=expected.astype(np.float32),
        predictions=predictions.astype(np.float32),
        max_additivity_error=float(np.abs(residual).max()),
    )


def concatenate(results: list[ChannelShapley]) -> ChannelShapley:
    """One result from the results of consecutive image chunks (same model and background)."""
    expected = results[0].expected_value
    for result in results[1:]:
        if not np.allclose(result.expected_value, expected, atol=1e-6):
            raise ValueError("Chunks were explained against different expected values (model or background differ)")
    return ChannelShapley(
        contributions=np.concatenate([r.contributions for r in results]),
        expected_value=expected,
        predictions=np.concatenate([r.predictions for r in results]),
        max_additivity_error=max(r.max_additivity_error for r in results),
    )


def channel_shapley_sampled(
    predict: Predictor,
    images: np.ndarray,
    background: np.ndarray,
    n_permutations: int,
    seed: int = 0,
    background_weights: np.ndarray | None = None,
) -> ChannelShapley:
    """Unbiased Monte-Carlo channel Shapley values from antithetic permutations.

    For many channels, where ``2^C`` coalitions cost too much: ``n_permutations`` random channel
    orders (rounded up to pairs), each used forwards and reversed, average the marginal gains of
    each channel as it joins. Each permutation costs ``(C − 1) K`` forward passes per image. Every
    permutation's gains sum to ``f(x) − v(∅)``, so the estimate stays exactly additive.
    """
    n, *_, n_channels = images.shape
    rng = np.random.default_rng(seed)
    half = rng.permuted(np.tile(np.arange(n_channels), (max(1, -(-n_permutations // 2)), 1)), axis=1)
    orders = np.concatenate([half, half[:, ::-1]])
    bg_weights = _normalised(background_weights, len(background))
    expected = np.tensordot(bg_weights, predict(background).astype(np.float64), axes=1)
    predictions = predict(images).astype(np.float64)

    totals = np.zeros((n, *images.shape[1:3], n_channels))
    for order in tqdm(orders, desc="channel Shapley (sampled)", unit="permutation"):
        present = np.zeros(n_channels, dtype=bool)
        before = np.broadcast_to(expected, (n, *images.shape[1:3]))
        for step, c in enumerate(order):
            present[c] = True
            if step == n_channels - 1:
                after = predictions
            else:
                after = coalition_values(predict, images, background, present[None], bg_weights)[:, 0]
            totals[..., c] += after - before
            before = after
    return _result((totals / len(orders)).astype(np.float32), expected, predictions)


def keras_predictor(model, batch_size: int = 256) -> Predictor:
    """A :data:`Predictor` for a zoo model: ``(B, H, W, C)`` → salt probability ``(B, H, W)``."""

    def predict(inputs: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(inputs))[..., 0]

    return batched(predict, batch_size)
