"""The amortized explainer (attribution/amortized.py): shapes, exact additivity whatever it
learnt, save and load, labels from independent draws, and a fit that learns the labels' mean."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from explainable_salt.attribution.absence import BackgroundAbsence, DrawnBackgroundAbsence
from explainable_salt.attribution.amortized import (
    amortized_shapley,
    build_explainer,
    explainer_expected_value,
    fit_explainer,
    independent_draw_labels,
    pool_expected_value,
)
from explainable_salt.attribution.shapley import explain_game

SIDE, C = 101, 3
WEIGHTS = np.array([1.0, -0.5, 0.25])


def linear_model(x: np.ndarray) -> np.ndarray:
    """``Σ_c a_c x_c``: its Shapley values against a background are ``a_c (x_c − mean b_c)``."""
    return (x * WEIGHTS).sum(axis=-1).astype(np.float32)


def _stack(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, SIDE, SIDE, C)).astype(np.float32)


POOL, IMAGES = _stack(16, 0), _stack(6, 1)


def test_the_explainer_is_exactly_additive_around_the_pool_mean_whatever_its_weights():
    expected = pool_expected_value(linear_model, POOL)
    np.testing.assert_allclose(expected, linear_model(POOL).mean(axis=0), atol=1e-6)
    explainer = build_explainer(C, expected, depth=2, base_filters=4, seed=0)
    result = amortized_shapley(explainer, linear_model, IMAGES, batch_size=4)
    assert result.contributions.shape == (6, SIDE, SIDE, C) and result.contributions.dtype == np.float32
    assert result.expected_value.shape == (SIDE, SIDE)
    np.testing.assert_array_equal(result.expected_value, expected)
    np.testing.assert_array_equal(result.predictions, linear_model(IMAGES))
    assert result.max_additivity_error <= 1e-5
    assert np.abs(result.contributions).mean() > 1e-2  # not the trivial all-zero split of a zero gap
    assert amortized_shapley(explainer, linear_model, IMAGES[:0]).contributions.shape == (0, SIDE, SIDE, C)


def test_a_saved_explainer_loads_with_its_expected_value_and_gives_the_same_values(tmp_path):
    expected = np.random.default_rng(3).normal(size=(SIDE, SIDE)).astype(np.float32)
    explainer = build_explainer(C, expected, depth=2, base_filters=4, seed=0)
    path = tmp_path / "explainer.keras"
    explainer.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(explainer_expected_value(loaded), expected)
    np.testing.assert_allclose(amortized_shapley(loaded, linear_model, IMAGES).contributions,
                               amortized_shapley(explainer, linear_model, IMAGES).contributions, atol=1e-6)


def test_each_label_is_the_game_against_that_images_own_draw():
    labels = independent_draw_labels(linear_model, IMAGES, POOL, size=4, seed=7)
    draws = DrawnBackgroundAbsence(POOL, 4, 7).draws(IMAGES)
    assert len({tuple(sorted(d)) for d in draws}) == len(IMAGES)  # every image its own draw
    for image, draw, phi in zip(IMAGES, draws, labels.contributions):
        alone = explain_game(linear_model, image[None], BackgroundAbsence(POOL[draw]), progress=False)
        np.testing.assert_allclose(phi, alone.contributions[0], atol=1e-5)
        # the linear model's known answer: a_c (x_c − mean of the draw)
        np.testing.assert_allclose(phi, WEIGHTS * (image - POOL[draw].mean(axis=0)), atol=1e-5)
    # the same image gets the same draw in any chunk, so labels can be made chunk by chunk and resumed
    again = independent_draw_labels(linear_model, IMAGES[2:4], POOL, size=4, seed=7, first_row=2)
    np.testing.assert_allclose(again.contributions, labels.contributions[2:4], atol=1e-6)


def test_fitting_noisy_labels_learns_their_mean():
    """Labels from draws of 2 pool images are noisy; the explainer fitted to them gets closer to the
    whole-pool values (the known answer) than the labels themselves on held-out images."""
    pool, train, held_out = _stack(64, 4), _stack(48, 5), _stack(8, 6)
    truth = WEIGHTS * (held_out - pool.mean(axis=0))
    labels = independent_draw_labels(linear_model, train, pool, size=2, seed=0).contributions
    held_labels = independent_draw_labels(linear_model, held_out, pool, size=2, seed=0).contributions
    explainer = build_explainer(C, pool_expected_value(linear_model, pool), depth=2, base_filters=8, seed=0)
    untrained = np.abs(amortized_shapley(explainer, linear_model, held_out).contributions - truth).mean()
    history = fit_explainer(explainer, train, linear_model(train), labels, epochs=25, batch_size=8,
                            learning_rate=3e-3, verbose=0)
    assert len(history["loss"]) == 25 and history["loss"][-1] < history["loss"][0]
    learnt = np.abs(amortized_shapley(explainer, linear_model, held_out).contributions - truth).mean()
    label_noise = np.abs(held_labels - truth).mean()
    assert learnt < 0.5 * untrained
    assert learnt < label_noise, (learnt, label_noise)


def test_the_explainer_refuses_images_that_are_not_a_stack():
    explainer = build_explainer(C, np.zeros((SIDE, SIDE)), depth=2, base_filters=4)
    with pytest.raises(ValueError, match="images"):
        amortized_shapley(explainer, linear_model, IMAGES[0])
