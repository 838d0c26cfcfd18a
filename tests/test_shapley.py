"""The channel Shapley engine against the Shapley axioms and the permutation definition."""

from itertools import permutations

import numpy as np
import pytest
from toy_models import interacting_model

from explainable_salt.attribution.shapley import (
    channel_shapley,
    channel_shapley_sampled,
    coalitions,
    shapley_weight_matrix,
)
from explainable_salt.segmentation.forward import batched

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(5, 6, 7, 3)).astype(np.float32)
BACKGROUND = RNG.normal(size=(4, 6, 7, 3)).astype(np.float32)



def permutation_shapley(model, image, background):
    """Shapley values by their definition: average marginal gains over all channel orders."""
    n_channels = image.shape[-1]

    def value(present):
        composite = np.where(np.isin(np.arange(n_channels), list(present)), image[None], background)
        return model(composite).mean(axis=0)

    phi = np.zeros((*image.shape[:2], n_channels))
    orders = list(permutations(range(n_channels)))
    for order in orders:
        present = []
        for c in order:
            before = value(present)
            present.append(c)
            phi[..., c] += value(present) - before
    return phi / len(orders)


def test_engine_equals_permutation_definition():
    result = channel_shapley(interacting_model, IMAGES, BACKGROUND, images_per_call=2)
    for i, image in enumerate(IMAGES):
        expected = permutation_shapley(interacting_model, image, BACKGROUND)
        np.testing.assert_allclose(result.contributions[i], expected, atol=1e-5)


def test_efficiency_expected_plus_contributions_is_prediction():
    result = channel_shapley(interacting_model, IMAGES, BACKGROUND)
    reconstructed = result.expected_value + result.contributions.sum(axis=-1)
    np.testing.assert_allclose(reconstructed, interacting_model(IMAGES), atol=1e-5)
    assert result.max_additivity_error < 1e-5


def test_symmetric_channels_get_equal_contributions():
    images = IMAGES.copy()
    images[..., 1] = images[..., 0]
    background = BACKGROUND.copy()
    background[..., 1] = background[..., 0]
    result = channel_shapley(lambda x: np.sin(x[..., 0] + x[..., 1]) * x[..., 2], images, background)
    np.testing.assert_allclose(result.contributions[..., 0], result.contributions[..., 1], atol=1e-6)


def test_dummy_channel_gets_zero():
    result = channel_shapley(lambda x: np.tanh(x[..., 0] * x[..., 2]), IMAGES, BACKGROUND)
    assert np.abs(result.contributions[..., 1]).max() < 1e-7
    assert np.abs(result.contributions[..., 0]).max() > 0.1


def test_linearity_in_the_model():
    f = interacting_model
    g = lambda x: x[..., 0] - 2 * x[..., 2]
    combined = channel_shapley(lambda x: 2 * f(x) + 3 * g(x), IMAGES, BACKGROUND).contributions
    separate = 2 * channel_shapley(f, IMAGES, BACKGROUND).contributions + 3 * channel_shapley(
        g, IMAGES, BACKGROUND
    ).contributions
    np.testing.assert_allclose(combined, separate, atol=1e-5)


def test_additive_model_contribution_is_value_minus_background_mean():
    result = channel_shapley(lambda x: x.sum(axis=-1), IMAGES, BACKGROUND)
    expected = IMAGES - BACKGROUND.mean(axis=0)
    np.testing.assert_allclose(result.contributions, expected, atol=1e-5)


@pytest.mark.parametrize("n_channels", [1, 2, 3, 5])
def test_weight_rows_sum_to_full_minus_empty(n_channels):
    weights = shapley_weight_matrix(n_channels)
    # Σ_c φ_c = v(full) − v(empty): only the first and last columns survive the sum.
    expected = np.zeros(2**n_channels)
    expected[0], expected[-1] = -1.0, 1.0
    np.testing.assert_allclose(weights.sum(axis=0), expected, atol=1e-12)
    assert coalitions(n_channels).shape == (2**n_channels, n_channels)


def test_batched_predictor_respects_the_batch_size():
    sizes = []

    def spy(x):
        sizes.append(len(x))
        return interacting_model(x)

    channel_shapley(batched(spy, 7), IMAGES, BACKGROUND)
    assert max(sizes) <= 7


def test_weights_act_like_repeating_background_images():
    weighted = channel_shapley(interacting_model, IMAGES, BACKGROUND[:2], background_weights=np.array([2.0, 1.0]))
    repeated = channel_shapley(interacting_model, IMAGES, BACKGROUND[[0, 0, 1]])
    np.testing.assert_allclose(weighted.contributions, repeated.contributions, atol=1e-6)


def test_negative_background_weights_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        channel_shapley(interacting_model, IMAGES, BACKGROUND, background_weights=-np.ones(4))


def test_sampled_estimator_is_additive_and_converges_to_exact():
    exact = channel_shapley(interacting_model, IMAGES, BACKGROUND).contributions
    errors = []
    for n_permutations in (4, 64, 1024):
        sampled = channel_shapley_sampled(interacting_model, IMAGES, BACKGROUND, n_permutations, seed=3)
        assert sampled.max_additivity_error < 1e-5
        errors.append(np.abs(sampled.contributions - exact).mean())
    assert errors[2] < errors[1] < errors[0]
    assert errors[2] < 0.01


def test_sampled_estimator_is_exact_for_an_additive_model():
    additive = lambda x: x.sum(axis=-1)
    sampled = channel_shapley_sampled(additive, IMAGES, BACKGROUND, n_permutations=2)
    np.testing.assert_allclose(sampled.contributions, IMAGES - BACKGROUND.mean(axis=0), atol=1e-5)


def test_a_trained_model_attributes_salt_to_the_only_channel_that_carries_it():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    masks = np.zeros((256, 24, 24), dtype=np.float32)
    for mask, (r, c, h, w) in zip(masks, rng.integers(2, 12, size=(256, 4))):
        mask[r : r + h, c : c + w] = 1.0
    informative = masks + rng.normal(0, 0.3, masks.shape)
    noise = rng.normal(0, 1.0, masks.shape)
    x = np.stack([noise, informative], axis=-1).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((24, 24, 2)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(1, 1, activation="sigmoid"),
    ])
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(x, masks[..., None], epochs=25, batch_size=64, verbose=0)
    predict = lambda batch: np.asarray(model.predict_on_batch(batch))[..., 0]
    result = channel_shapley(predict, x[:16], x[200:208])
    mass = np.abs(result.contributions).sum(axis=(0, 1, 2))
    assert mass[1] / mass.sum() >= 0.9
