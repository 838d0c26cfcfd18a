"""Exact Shapley values with the input channels as players, for every output pixel at once.

For an image ``x`` with ``C`` channels, a background set ``b_1 … b_K`` and a coalition ``S`` of
channels, the value of ``S`` is the model's mean output when the channels in ``S`` come from ``x``
and the others from each background image::

    v(S) = mean_k f(x_S ∪ (b_k)_{C∖S})         (a (101, 101) map)

The Shapley value of channel ``c`` weights the marginal gains ``v(S ∪ {c}) − v(S)`` by
``|S|! (C − |S| − 1)! / C!``. ``v(∅)`` is the expected-value map, shared by every image, and
``v(C) = f(x)``; efficiency gives ``v(∅) + Σ_c φ_c = f(x)`` at every pixel. The cost per image is
``(2^C − 2) K + 1`` forward passes, each of which yields all 10,201 output pixels.

That is the ``background`` game. :func:`explain_game` plays any absence definition of
:mod:`explainable_salt.attribution.absence` (what replaces an absent channel) with the same
engine, and reads any other linear function of the coalition values (interactions, say) from the
same forward passes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from math import factorial

import numpy as np
from tqdm.auto import tqdm

from explainable_salt.attribution import sampling
from explainable_salt.attribution.absence import Absence, BackgroundAbsence, normalised_weights, splice
from explainable_salt.attribution.additivity import max_additivity_error
from explainable_salt.attribution.inputs import require_count, require_stack
from explainable_salt.segmentation.forward import Predictor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChannelShapley:
    """Contributions ``(N, H, W, C)``, expected-value map ``(H, W)`` (``(N, H, W)`` for games
    whose ``v(∅)`` is per image), predictions ``(N, H, W)``, the worst additivity error
    ``max |expected + Σ φ − prediction|`` and the ``readouts`` asked of :func:`explain_game`
    (name → ``(N, H, W, R)``). For a game whose references are stand-ins for a distribution
    (``has_standard_error``: a background drawn at random, the conditional neighbours), also the
    per-pixel ``standard_error`` ``(N, H, W, C)`` of the contributions; for the random background,
    the mean ``|φ|`` per image and channel under bootstrap redraws of it, ``resampled_importance``
    ``(B, N, C)`` (:mod:`explainable_salt.attribution.sampling`)."""

    contributions: np.ndarray
    expected_value: np.ndarray
    predictions: np.ndarray
    max_additivity_error: float
    readouts: dict[str, np.ndarray] = field(default_factory=dict)
    standard_error: np.ndarray | None = None
    resampled_importance: np.ndarray | None = None


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


def reference_outputs(
    predict: Predictor, images: np.ndarray, absence: Absence, present: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The model's outputs ``(N, S, R, H, W)`` float64 on every composite input of ``images``
    ``(N, H, W, C)`` (at ``rows`` of the explained stack), coalitions ``present`` ``(S, C)`` bool
    and the absence's ``R`` references, and the references' weights ``(R,)``. One call to
    ``predict`` with ``N × S × R`` inputs."""
    references, weights = absence.references(images, present, rows)
    composite = splice(images, present, references)
    outputs = predict(composite.reshape(-1, *images.shape[1:])).astype(np.float64)
    return outputs.reshape(*composite.shape[:3], *images.shape[1:3]), weights


def game_values(predict: Predictor, images: np.ndarray, absence: Absence, present: np.ndarray) -> np.ndarray:
    """``v(S)`` ``(N, S, H, W)`` of the game ``absence`` for coalitions ``present`` ``(S, C)``
    bool: the weighted mean output over the absence's references."""
    outputs, weights = reference_outputs(predict, images, absence, present)
    return np.einsum("k,nskhw->nshw", weights, outputs)


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
    return game_values(predict, images, BackgroundAbsence(background, background_weights), present)


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
    :func:`~explainable_salt.segmentation.forward.batched` to bound the model's batch).
    """
    absence = BackgroundAbsence(background, background_weights)
    return explain_game(predict, images, absence, images_per_call, progress=progress)


def explain_game(
    predict: Predictor,
    images: np.ndarray,
    absence: Absence,
    images_per_call: int = 16,
    readouts: dict[str, np.ndarray] | None = None,
    progress: bool = True,
    resamples: np.ndarray | None = None,
) -> ChannelShapley:
    """Exact channel Shapley values of ``predict`` for ``images`` ``(N, H, W, C)`` in the game
    ``absence`` (:mod:`explainable_salt.attribution.absence`).

    Every coalition value ``v`` ``(N, 2^C, H, W)`` (rows of :func:`coalitions`) is computed once;
    ``φ = W v`` (:func:`shapley_weight_matrix`) and each of ``readouts`` (name → matrix
    ``(R, 2^C)``, e.g. interaction indices) is read from the same values, so it costs no forward
    pass: ``result.readouts[name]`` is ``(N, H, W, R)`` float32.

    When the absence's ``K`` references stand for a distribution (``absence.has_standard_error``),
    the same outputs give the per-pixel standard error, from the ``K`` per-reference games ``φ^(k)``
    (the game against the ``k``-th reference alone; ``φ`` is their mean). For a background drawn at
    random (``absence.sampled``), each ``φ^(k)`` starts from its own ``v(∅) = f(b_k)``, and redraw
    weights ``resamples`` ``(B, K)`` (:func:`explainable_salt.attribution.sampling.bootstrap_weights`)
    give the importance under each redraw; the conditional neighbours share ``v(∅)``, the pool mean.

    No image gives a result of ``N = 0`` (its expected value still computed where it is shared);
    ``images_per_call`` below 1 raises ``ValueError``.
    """
    require_stack(images, "images")
    require_count(images_per_call, 1, "images_per_call", "images", "explainability.images_per_call")
    n, *_, n_channels = images.shape
    members = coalitions(n_channels)
    partial = members[1:-1]  # neither empty nor full: these need the references
    weights = shapley_weight_matrix(n_channels)
    readouts = readouts or {}
    sampled = getattr(absence, "sampled", False)
    spread = getattr(absence, "has_standard_error", sampled)
    if sampled:  # f(b_k), each reference's own v(∅); equally weighted, their mean is the shared one
        background_outputs = predict(absence.background).astype(np.float64)
        expected = background_outputs.mean(axis=0)
    else:
        expected = absence.expected(predict, images)
    predictions = predict(images).astype(np.float64)
    contributions = np.empty(images.shape, dtype=np.float32)
    errors = np.empty(images.shape, dtype=np.float32) if spread else None
    redrawn = np.empty((len(resamples), n, n_channels)) if sampled and resamples is not None else None
    read = {name: np.empty((n, *images.shape[1:3], len(m)), dtype=np.float32) for name, m in readouts.items()}
    for start in tqdm(range(0, n, images_per_call), desc="channel Shapley", unit="chunk", disable=not progress):
        x = images[start : start + images_per_call]
        chunk = slice(start, start + len(x))
        outputs, reference_weights = reference_outputs(predict, x, absence, partial, np.arange(chunk.start, chunk.stop))
        values = np.empty((len(x), len(members), *x.shape[1:3]))
        values[:, 0] = expected if expected.ndim == 2 else expected[chunk]
        values[:, 1:-1] = np.einsum("k,nskhw->nshw", reference_weights, outputs)
        values[:, -1] = predictions[chunk]
        contributions[chunk] = np.einsum("cs,nshw->nhwc", weights, values)
        for name, matrix in readouts.items():
            read[name][chunk] = np.einsum("rs,nshw->nhwr", matrix, values)
        if spread:  # φ^(k): the game against reference k alone
            per_reference = np.einsum("cs,nskhw->nkhwc", weights[:, 1:-1], outputs, optimize=True)
            if sampled:  # v(∅) = f(b_k) is background image k's own; a shared v(∅) or f(x) moves no spread
                per_reference += np.einsum("c,khw->khwc", weights[:, 0], background_outputs)[None]
            errors[chunk] = sampling.standard_error(per_reference)
            if sampled and redrawn is not None:
                fixed = np.einsum("c,nhw->nhwc", weights[:, -1], predictions[chunk])
                redrawn[:, chunk] = sampling.resampled_importance(per_reference, fixed, resamples)

    return _result(contributions, expected, predictions, read, errors, redrawn)


def _result(
    contributions: np.ndarray, expected: np.ndarray, predictions: np.ndarray, readouts: dict | None = None,
    standard_error: np.ndarray | None = None, resampled_importance: np.ndarray | None = None,
) -> ChannelShapley:
    return ChannelShapley(
        contributions=contributions,
        expected_value=expected.astype(np.float32),
        predictions=predictions.astype(np.float32),
        # Efficiency in float64, from the float32 contributions that are stored.
        max_additivity_error=max_additivity_error(expected, contributions, predictions),
        readouts=readouts or {},
        standard_error=standard_error,
        resampled_importance=resampled_importance,
    )


def concatenate(results: list[ChannelShapley]) -> ChannelShapley:
    """One result from the results of consecutive image chunks (same model and game); per-image
    expected values are joined like the contributions. No result raises ``ValueError``."""
    require_count(len(results), 1, "results", "chunk results")
    expected = results[0].expected_value
    if expected.ndim == 3:
        expected = np.concatenate([r.expected_value for r in results])
    for result in results[1:]:
        if expected.ndim == 2 and not np.allclose(result.expected_value, expected, atol=1e-6):
            raise ValueError("Chunks were explained against different expected values (model or background differ)")
    return ChannelShapley(
        contributions=np.concatenate([r.contributions for r in results]),
        expected_value=expected,
        predictions=np.concatenate([r.predictions for r in results]),
        max_additivity_error=max(r.max_additivity_error for r in results),
        readouts={name: np.concatenate([r.readouts[name] for r in results]) for name in results[0].readouts},
        standard_error=None if results[0].standard_error is None
        else np.concatenate([r.standard_error for r in results]),
        resampled_importance=None if results[0].resampled_importance is None
        else np.concatenate([r.resampled_importance for r in results], axis=1),
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
    No image gives a result of ``N = 0``; no permutation or background image raises ``ValueError``.
    """
    require_stack(images, "images")
    require_count(n_permutations, 1, "n_permutations", "permutations", "explainability.n_permutations")
    n, *_, n_channels = images.shape
    rng = np.random.default_rng(seed)
    half = rng.permuted(np.tile(np.arange(n_channels), (-(-n_permutations // 2), 1)), axis=1)
    orders = np.concatenate([half, half[:, ::-1]])
    bg_weights = normalised_weights(background_weights, len(background))
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
