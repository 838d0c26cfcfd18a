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
    explainer_error,
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


def test_values_stay_additive_to_float32_rounding_where_they_are_large():
    """The network's projection runs in float32; with |φ| up to ~50 its own sum misses by more than
    1e-5, and the float64 projection after it brings every pixel back to float32 rounding."""
    loud = IMAGES * 30
    explainer = build_explainer(C, pool_expected_value(linear_model, POOL), depth=2, base_filters=4, seed=0)
    raw = np.asarray(explainer.predict_on_batch([loud, linear_model(loud)[..., None]]), np.float64)
    network_gap = np.abs(explainer_expected_value(explainer) + raw.sum(axis=-1) - linear_model(loud)).max()
    result = amortized_shapley(explainer, linear_model, loud)
    assert np.abs(result.contributions).mean() > 5
    assert network_gap > 1e-5  # the float32 projection alone would fail the tolerance
    recomputed = result.expected_value + result.contributions.astype(np.float64).sum(axis=-1) - result.predictions
    assert np.abs(recomputed).max() <= 1e-5 and result.max_additivity_error <= 1e-5


def test_the_error_from_two_draws_estimates_the_error_against_the_mean_without_a_reference():
    rng = np.random.default_rng(11)
    truth = rng.normal(size=(80, 31, 31, C))
    estimates = truth + rng.normal(scale=[0.1, 0.2, 0.4], size=truth.shape)  # known error per channel
    first, second = (truth + rng.normal(scale=0.5, size=truth.shape) for _ in range(2))  # noisy, unbiased labels
    error = explainer_error(estimates, first, second)
    np.testing.assert_allclose(error["rmse"], [0.1, 0.2, 0.4], rtol=0.15)
    np.testing.assert_allclose(error["label_rmse"], 0.5, rtol=0.03)
    np.testing.assert_allclose(error["mean_abs"], np.abs(estimates).mean(axis=(0, 1, 2)))
    # against one draw alone, the label noise would swamp it
    assert np.sqrt(((estimates - first) ** 2).mean(axis=(0, 1, 2))).min() > 0.45


def test_an_estimate_fitted_to_the_first_draw_gets_its_true_error_not_less():
    """The fit keeps the epoch best on the first draw: estimates pulled towards that draw's noise.
    The error uses only the second draw against them, so it stays unbiased (a product of both
    residuals, (φ̂ − y₁)(φ̂ − y₂), would call an estimate equal to y₁ perfect)."""
    rng = np.random.default_rng(12)
    truth = rng.normal(size=(80, 31, 31, C))
    first, second = (truth + rng.normal(scale=0.5, size=truth.shape) for _ in range(2))
    np.testing.assert_allclose(explainer_error(first, first, second)["rmse"], 0.5, rtol=0.05)
    halfway = truth + 0.5 * (first - truth)  # true error: 0.25 per pixel
    np.testing.assert_allclose(explainer_error(halfway, first, second)["rmse"], 0.25, rtol=0.15)


def test_chunked_labels_on_workers_are_the_whole_stack_labels():
    from explainable_salt.attribution.amortized import label_stack
    from explainable_salt.stacks import ImageStack

    model = _linear_keras()
    stack = ImageStack([f"i{k}" for k in range(len(IMAGES))], IMAGES, ("a", "b", "c"))
    params = {"chunk_size": 4, "batch_size": 16, "images_per_call": 2}
    whole = independent_draw_labels(linear_model, IMAGES, POOL, size=4, seed=3).contributions
    np.testing.assert_allclose(label_stack(stack, model, POOL, 4, 3, params), whole, atol=1e-5)  # chunks of 4 + 2
    assert label_stack(stack.select([]), model, POOL, 4, 3, params).shape == (0, SIDE, SIDE, C)


def _linear_keras() -> keras.Model:
    inputs = keras.Input((SIDE, SIDE, C))
    layer = keras.layers.Conv2D(1, 1, use_bias=False, dtype="float32")
    model = keras.Model(inputs, layer(inputs))  # (N, H, W, 1), as the U-Net's mask
    layer.set_weights([WEIGHTS.reshape(1, 1, C, 1).astype(np.float32)])
    return model


def test_the_explainer_sees_batches_of_a_few_padded_lengths_and_gives_the_same_values(monkeypatch):
    explainer = build_explainer(C, pool_expected_value(linear_model, POOL), depth=2, base_filters=4, seed=0)
    images = _stack(7, 9)
    whole = amortized_shapley(explainer, linear_model, images, batch_size=8).contributions
    lengths, call = [], explainer.predict_on_batch
    monkeypatch.setattr(explainer, "predict_on_batch", lambda x: lengths.append(len(x[0])) or call(x))
    chunked = amortized_shapley(explainer, linear_model, images, batch_size=4).contributions  # 4 + 3
    assert lengths == [4, 4]  # the last 3 padded to 4: one compiled shape, no tf.function retracing
    np.testing.assert_allclose(chunked, whole, atol=1e-6)
