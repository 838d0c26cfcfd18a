"""Explanations against known answers, for every definition of an absent channel, on tiny Keras
networks run through the engine exactly as the pipeline runs the U-Net (``forward_pass``).

- dummy: a network that never sees channel j (replaced by a constant before it) gives φ_j = 0;
  ``conditional`` cannot promise it (the neighbours depend on which channels are present, j
  included), and its leakage is measured and bounded here, as docs/explainability.md states;
- symmetry: two copies of one channel, read symmetrically, get equal φ;
- linear: for a network linear in its channels, φ_j(p) is its closed form in each game;
- planted: a network that reads a mark in one channel gives that channel the |φ| inside the mark.

These axioms for numpy toy functions (background game) are in tests/test_shapley.py; additivity
and construction of every definition in tests/test_absence.py.
"""

from __future__ import annotations

import itertools
import math

import keras
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from explainable_salt.attribution.absence import (
    DEFINITIONS,
    BackgroundAbsence,
    BaselineAbsence,
    BlurAbsence,
    ConditionalAbsence,
)
from explainable_salt.attribution.shapley import explain_game
from explainable_salt.segmentation.forward import forward_pass
from explainable_salt.segmentation.models import build_model

SIZE, CHANNELS = 33, 4
RNG = np.random.default_rng(48)
IMAGES = RNG.normal(size=(3, SIZE, SIZE, CHANNELS)).astype(np.float32)
POOL = RNG.normal(size=(12, SIZE, SIZE, CHANNELS)).astype(np.float32)
BACKGROUND_WEIGHTS = np.array([1.0, 2.0, 1.0, 4.0])
SIGMA = 3.0


def absences(pool: np.ndarray = POOL) -> dict:
    """Each definition, its references drawn from ``pool`` as the pipeline draws them from train images."""
    return {
        "background": BackgroundAbsence(pool[:4], BACKGROUND_WEIGHTS),
        "baseline": BaselineAbsence(pool.mean(axis=(0, 1, 2))),
        "blur": BlurAbsence(sigma=SIGMA),
        "conditional": ConditionalAbsence(pool, neighbours=3, descriptor_size=4),
    }


def network(inputs_to_unet, seed: int = 0) -> keras.Model:
    """A tiny random U-Net behind a Keras function of its input (the wrapping under test)."""
    unet = build_model("unet", CHANNELS, seed=seed, depth=1, base_filters=4, batch_norm=False, dropout=0.0,
                       image_size=SIZE)
    inputs = keras.Input((SIZE, SIZE, CHANNELS))
    return keras.Model(inputs, unet(inputs_to_unet(inputs)))


def explain(model: keras.Model, definition: str, images: np.ndarray = IMAGES, pool: np.ndarray = POOL):
    return explain_game(forward_pass(model), images, absences(pool)[definition], images_per_call=2, progress=False)


def without_channel(j: int):
    """Channel ``j`` replaced by the constant 0.5 before the network sees it."""
    keep = np.ones(CHANNELS, np.float32)
    keep[j] = 0.0
    return lambda x: x * keep + 0.5 * (1 - keep)


# Measured leakage of the conditional game onto a channel the network never sees, as a share of
# mean |φ| of the channels it does see: 0.37 on these images (docs/explainability.md, "What each
# definition gets right"); the bounds catch a change either way.
CONDITIONAL_DUMMY_LEAKAGE = (0.25, 0.5)


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_a_channel_the_network_never_sees_gets_nothing(definition):
    result = explain(network(without_channel(2)), definition)
    phi = result.contributions
    seen = np.abs(phi[..., [0, 1, 3]]).mean()
    assert seen > 1e-3  # the other channels matter
    if definition == "conditional":
        leakage = np.abs(phi[..., 2]).mean() / seen
        assert CONDITIONAL_DUMMY_LEAKAGE[0] < leakage < CONDITIONAL_DUMMY_LEAKAGE[1], leakage
    else:
        assert np.abs(phi[..., 2]).max() <= 1e-6


def _with_copies(stack: np.ndarray) -> np.ndarray:
    copied = stack.copy()
    copied[..., 1] = copied[..., 0]
    return copied


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_two_copies_of_a_channel_read_alike_get_equal_contributions(definition):
    # The network reads channels 0 and 1 only through their sum; images and references hold copies.
    symmetric = network(lambda x: keras.ops.concatenate([x[..., :1] + x[..., 1:2], x[..., :1] + x[..., 1:2],
                                                         x[..., 2:]], axis=-1))
    result = explain(symmetric, definition, _with_copies(IMAGES), _with_copies(POOL))
    phi = result.contributions
    assert np.abs(phi[..., 0]).mean() > 1e-3
    np.testing.assert_allclose(phi[..., 0], phi[..., 1], rtol=0, atol=1e-6)


SLOPES = np.array([0.5, -1.0, 2.0, 0.25], np.float32)


def linear_network() -> keras.Model:
    """p = Σ_j w_j x_j + 0.1 at every pixel: a 1 × 1 convolution with fixed weights."""
    inputs = keras.Input((SIZE, SIZE, CHANNELS))
    layer = keras.layers.Conv2D(1, 1)
    outputs = layer(inputs)
    layer.set_weights([SLOPES.reshape(1, 1, CHANNELS, 1), np.array([0.1], np.float32)])
    return keras.Model(inputs, outputs)


def conditional_closed_form(images: np.ndarray, absence: ConditionalAbsence) -> np.ndarray:
    """φ of the linear network in the conditional game, by the Shapley formula over coalitions:
    v(S) = Σ_{c∈S} w_c x_c + Σ_{c∉S} w_c mean over the neighbours N(S) of pool_c, + 0.1."""
    n_channels = images.shape[-1]
    phi = np.zeros(images.shape)
    members = [np.array([c in s for c in range(n_channels)]) for r in range(n_channels + 1)
               for s in itertools.combinations(range(n_channels), r)]

    def value(present: np.ndarray) -> np.ndarray:
        if not present.any():
            return np.broadcast_to(absence.pool.astype(np.float64) @ SLOPES + 0.1, (len(images), *absence.pool.shape)
                                   [:-1]).mean(axis=1)
        neighbours = absence.nearest(images, present[None])[:, 0]  # (N, K)
        filled = np.where(present, images, absence.pool[neighbours].mean(axis=1))
        return filled.astype(np.float64) @ SLOPES + 0.1

    for present in members:
        size = present.sum()
        for j in np.flatnonzero(~present):
            weight = math.factorial(size) * math.factorial(n_channels - size - 1) / math.factorial(n_channels)
            with_j = present.copy()
            with_j[j] = True
            phi[..., j] += weight * (value(with_j) - value(present))
    return phi


def closed_form(definition: str, images: np.ndarray) -> np.ndarray:
    """φ_j(p) of the linear network in each game: w_j times the distance to what replaces x_j."""
    absence = absences()[definition]
    if definition == "background":
        weights = BACKGROUND_WEIGHTS / BACKGROUND_WEIGHTS.sum()
        return SLOPES * (images - np.tensordot(weights, absence.background, axes=1))
    if definition == "baseline":
        return SLOPES * (images - absence.means)
    if definition == "blur":
        return SLOPES * (images - gaussian_filter(images, sigma=(0, SIGMA, SIGMA, 0), mode="reflect"))
    return conditional_closed_form(images, absence)


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_a_linear_network_gets_its_closed_form_in_each_game(definition):
    result = explain(linear_network(), definition)
    np.testing.assert_allclose(result.contributions, closed_form(definition, IMAGES), rtol=0, atol=1e-4)


def marked(images: np.ndarray, channel: int) -> tuple[np.ndarray, np.ndarray]:
    """``images`` with a high-frequency mark (a ±3 checkerboard) in ``channel`` inside a disk,
    that channel 0 elsewhere; and the disk ``(H, W)``."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disk = (yy - SIZE // 2) ** 2 + (xx - SIZE // 2) ** 2 < (SIZE // 3) ** 2
    checker = np.where((yy + xx) % 2 == 0, 3.0, -3.0)
    stamped = images.copy()
    stamped[..., channel] = np.where(disk, checker, 0.0)
    return stamped.astype(np.float32), disk


def mark_reader(channel: int) -> keras.Model:
    """p = sigmoid(3 |x_channel| − 4 + 0.05 Σ_others x): salt exactly where the mark is."""
    inputs = keras.Input((SIZE, SIZE, CHANNELS))
    others = [c for c in range(CHANNELS) if c != channel]
    logit = 3.0 * keras.ops.abs(inputs[..., channel:channel + 1]) - 4.0 + 0.05 * keras.ops.sum(
        keras.ops.take(inputs, others, axis=-1), axis=-1, keepdims=True)
    return keras.Model(inputs, keras.ops.sigmoid(logit))


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_a_network_that_reads_a_mark_gives_that_channel_the_mass_inside_it(definition):
    images, disk = marked(IMAGES, channel=1)
    pool, _ = marked(POOL, channel=1)
    pool[..., 1] = 0.0  # the references carry no mark: as train images without the cue
    result = explain(mark_reader(1), definition, images, pool)
    inside = np.abs(result.contributions[:, disk])  # (N, pixels, C)
    share = inside[..., 1].sum() / inside.sum()
    assert share >= 0.9, share


def test_the_known_answers_catch_an_engine_with_two_weights_swapped(monkeypatch):
    from explainable_salt.attribution import shapley

    correct = shapley.shapley_weight_matrix

    def swapped(n_channels: int) -> np.ndarray:
        weights = correct(n_channels).copy()
        weights[:, [1, 2]] = weights[:, [2, 1]]  # the coalitions {0} and {1} exchange their weights
        return weights

    monkeypatch.setattr(shapley, "shapley_weight_matrix", swapped)
    for definition in DEFINITIONS:
        with pytest.raises(AssertionError):
            test_a_linear_network_gets_its_closed_form_in_each_game(definition)
        with pytest.raises(AssertionError):
            test_a_network_that_reads_a_mark_gives_that_channel_the_mass_inside_it(definition)


# The amortized explainer (``explainability.estimator: amortized``) on the same networks, in the
# background game against the whole pool (its training target): fitted for AMORTIZED_EPOCHS epochs
# to independent-draw labels (K = 4 of the 12 pool images) of 96 other images. It is exactly
# additive by construction; the axioms hold only as well as it learnt. Measured
# (docs/explainability.md, "What each definition gets right"), each bound a little beyond it:
AMORTIZED_EPOCHS = 40
AMORTIZED_DUMMY_LEAKAGE = (0.35, 1.1)  # 0.71 of the seen channels' mean |φ|
AMORTIZED_LINEAR_ERROR = 0.7  # 0.54 of mean |φ|; the equal split it starts from: 0.99
TRAIN_IMAGES = np.random.default_rng(5).normal(size=(96, SIZE, SIZE, CHANNELS)).astype(np.float32)


def amortized_values(model: keras.Model, images: np.ndarray, pool: np.ndarray, train: np.ndarray) -> np.ndarray:
    """φ ``(N, SIZE, SIZE, C)`` of ``images`` by an explainer fitted to independent-draw labels of ``train``."""
    from explainable_salt.attribution.amortized import (
        amortized_shapley,
        build_explainer,
        fit_explainer,
        independent_draw_labels,
        pool_expected_value,
    )

    predict = forward_pass(model)
    labels = independent_draw_labels(predict, train, pool, size=4, seed=0).contributions
    explainer = build_explainer(CHANNELS, pool_expected_value(predict, pool), depth=2, base_filters=8, seed=0)
    fit_explainer(explainer, train, predict(train), labels, epochs=AMORTIZED_EPOCHS, batch_size=8,
                  learning_rate=3e-3, verbose=0)
    result = amortized_shapley(explainer, predict, images)
    assert result.max_additivity_error <= 1e-5
    return result.contributions


def test_the_amortized_explainer_gives_a_channel_the_network_never_sees_only_part_of_its_error():
    phi = amortized_values(network(without_channel(2)), IMAGES, POOL, TRAIN_IMAGES)
    leakage = np.abs(phi[..., 2]).mean() / np.abs(phi[..., [0, 1, 3]]).mean()
    print(f"amortized, dummy leakage: {leakage:.2f}")  # pytest -s: the numbers docs/explainability.md quotes
    assert AMORTIZED_DUMMY_LEAKAGE[0] < leakage < AMORTIZED_DUMMY_LEAKAGE[1], leakage  # fails the dummy axiom


def test_the_amortized_explainer_splits_two_copies_of_a_channel_equally():
    symmetric = network(lambda x: keras.ops.concatenate([x[..., :1] + x[..., 1:2], x[..., :1] + x[..., 1:2],
                                                         x[..., 2:]], axis=-1))
    phi = amortized_values(symmetric, _with_copies(IMAGES), _with_copies(POOL), _with_copies(TRAIN_IMAGES))
    assert np.abs(phi[..., 0]).mean() > 1e-3
    # equal labels reach two output filters that start at zero: they get equal updates throughout
    print(f"amortized, symmetry: max |φ₀ − φ₁| = {np.abs(phi[..., 0] - phi[..., 1]).max():.1e}")
    np.testing.assert_allclose(phi[..., 0], phi[..., 1], rtol=0, atol=1e-6)


def test_the_amortized_explainer_approaches_the_linear_closed_form():
    truth = SLOPES * (IMAGES - POOL.mean(axis=0))  # the game against the whole pool
    phi = amortized_values(linear_network(), IMAGES, POOL, TRAIN_IMAGES)
    error = np.abs(phi - truth).mean() / np.abs(truth).mean()
    equal_split = np.abs(truth.sum(axis=-1, keepdims=True) / CHANNELS - truth).mean() / np.abs(truth).mean()
    print(f"amortized, linear: {error:.2f} of mean |φ| off (equal split: {equal_split:.2f})")
    assert error < AMORTIZED_LINEAR_ERROR < equal_split, (error, equal_split)  # it learnt more than where it starts


def test_the_amortized_explainer_finds_a_planted_mark():
    images, disk = marked(IMAGES, channel=1)
    pool, _ = marked(POOL, channel=1)
    pool[..., 1] = 0.0
    train, _ = marked(TRAIN_IMAGES, channel=1)
    inside = np.abs(amortized_values(mark_reader(1), images, pool, train)[:, disk])
    share = inside[..., 1].sum() / inside.sum()
    print(f"amortized, planted mark's share: {share:.3f}")
    assert share >= 0.9, share
