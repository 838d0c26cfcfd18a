"""Absence definitions: every game runs through the same exact engine and stays additive."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from toy_models import interacting_model

from explainable_salt.attribution.absence import (
    BackgroundAbsence,
    BaselineAbsence,
    BlurAbsence,
    ConditionalAbsence,
    block_means,
)
from explainable_salt.attribution.shapley import channel_shapley, concatenate, explain_game

RNG = np.random.default_rng(1)
IMAGES = RNG.normal(size=(5, 12, 10, 3)).astype(np.float32)
POOL = RNG.normal(size=(9, 12, 10, 3)).astype(np.float32)
SLOPES = np.array([0.5, -1.0, 2.0])



def linear_model(x):
    return x @ SLOPES.astype(x.dtype)


def definitions():
    return {
        "background": BackgroundAbsence(POOL[:4], np.array([1.0, 2.0, 1.0, 3.0])),
        "baseline": BaselineAbsence(POOL.mean(axis=(0, 1, 2))),
        "blur": BlurAbsence(sigma=3.0),
        "conditional": ConditionalAbsence(POOL, neighbours=3, descriptor_size=3),
    }


@pytest.mark.parametrize("name", ["background", "baseline", "blur", "conditional"])
def test_every_definition_is_additive(name):
    result = explain_game(interacting_model, IMAGES, definitions()[name], images_per_call=2, progress=False)
    reconstructed = result.expected_value + result.contributions.astype(np.float64).sum(axis=-1)
    np.testing.assert_allclose(reconstructed, interacting_model(IMAGES), atol=1e-5)
    assert result.max_additivity_error < 1e-5


def test_background_game_is_what_channel_shapley_computes():
    absence = definitions()["background"]
    game = explain_game(interacting_model, IMAGES, absence, progress=False)
    engine = channel_shapley(interacting_model, IMAGES, absence.background, background_weights=absence.weights,
                             progress=False)
    np.testing.assert_allclose(game.contributions, engine.contributions, rtol=0, atol=1e-7)
    np.testing.assert_allclose(game.expected_value, engine.expected_value, rtol=0, atol=1e-7)


def test_baseline_gives_a_linear_model_its_slope_times_the_distance_to_the_mean():
    means = POOL.mean(axis=(0, 1, 2))
    result = explain_game(linear_model, IMAGES, BaselineAbsence(means), progress=False)
    np.testing.assert_allclose(result.contributions, SLOPES * (IMAGES - means), atol=1e-5)
    np.testing.assert_allclose(result.expected_value, np.full((12, 10), means @ SLOPES), atol=1e-6)


def test_baseline_is_the_background_game_with_one_image_of_channel_means():
    means = POOL.mean(axis=(0, 1, 2))
    baseline = explain_game(interacting_model, IMAGES, BaselineAbsence(means), progress=False)
    one_image = np.broadcast_to(means, (1, *IMAGES.shape[1:])).astype(np.float32)
    background = channel_shapley(interacting_model, IMAGES, one_image, progress=False)
    np.testing.assert_allclose(baseline.contributions, background.contributions, atol=1e-6)


def test_blur_replaces_an_absent_channel_with_the_images_own_smoothed_channel():
    blur = BlurAbsence(sigma=3.0)
    result = explain_game(linear_model, IMAGES, blur, progress=False)
    smoothed = gaussian_filter(IMAGES, sigma=(0, 3.0, 3.0, 0), mode="reflect")
    np.testing.assert_allclose(result.contributions, SLOPES * (IMAGES - smoothed), atol=1e-5)
    assert result.expected_value.shape == (5, 12, 10)  # one expected value map per image
    np.testing.assert_allclose(result.expected_value, linear_model(smoothed), atol=1e-5)


def test_chunks_of_a_per_image_game_join_their_expected_values():
    blur = BlurAbsence(sigma=2.0)
    whole = explain_game(interacting_model, IMAGES, blur, progress=False)
    joined = concatenate([explain_game(interacting_model, IMAGES[s], blur, progress=False)
                          for s in (slice(0, 2), slice(2, 5))])
    np.testing.assert_allclose(joined.expected_value, whole.expected_value, atol=1e-7)
    np.testing.assert_allclose(joined.contributions, whole.contributions, atol=1e-7)


def test_block_means_average_each_block_of_each_channel():
    images = np.arange(2 * 4 * 6 * 1, dtype=np.float32).reshape(2, 4, 6, 1)
    means = block_means(images, 2)
    assert means.shape == (2, 2, 2, 1)
    np.testing.assert_allclose(means[0, 0, 0, 0], images[0, :2, :3, 0].mean())
    np.testing.assert_allclose(means[1, 1, 1, 0], images[1, 2:, 3:, 0].mean())


def test_conditional_neighbours_are_nearest_in_the_present_channels_only():
    pool = np.zeros((3, 4, 4, 2), dtype=np.float32)
    pool[0] = [5.0, 0.0]   # like the image in channel 0, far in channel 1
    pool[1] = [0.0, -3.0]  # like the image in channel 1, far in channel 0
    pool[2] = [-5.0, 3.0]
    image = np.broadcast_to(np.float32([5.0, -3.0]), (1, 4, 4, 2))
    absence = ConditionalAbsence(pool, neighbours=1, descriptor_size=2)
    nearest = absence.nearest(image, np.array([[True, False], [False, True]]))
    assert nearest[0, :, 0].tolist() == [0, 1]


def test_conditional_with_the_whole_pool_as_neighbours_is_the_background_game_over_the_pool():
    conditional = explain_game(interacting_model, IMAGES, ConditionalAbsence(POOL, neighbours=len(POOL)),
                               progress=False)
    background = channel_shapley(interacting_model, IMAGES, POOL, progress=False)
    np.testing.assert_allclose(conditional.contributions, background.contributions, atol=1e-6)
    np.testing.assert_allclose(conditional.expected_value, background.expected_value, atol=1e-6)


def test_conditional_empty_coalition_is_the_marginal_pool_mean():
    absence = ConditionalAbsence(POOL, neighbours=2)
    np.testing.assert_allclose(absence.expected(interacting_model, IMAGES), interacting_model(POOL).mean(axis=0), atol=1e-6)


def test_conditional_refuses_more_neighbours_than_pool_images():
    with pytest.raises(ValueError, match="10 neighbours from a pool of 9"):
        ConditionalAbsence(POOL, neighbours=10)


@pytest.mark.parametrize("name", ["background", "baseline", "blur", "conditional"])
def test_every_definition_travels_to_a_dask_worker_unchanged(name):
    import cloudpickle

    absence = definitions()[name]
    copy = cloudpickle.loads(cloudpickle.dumps(absence))
    present = np.array([[True, False, True], [False, True, False]])
    for a, b in zip(absence.references(IMAGES, present), copy.references(IMAGES, present)):
        np.testing.assert_array_equal(a, b)
