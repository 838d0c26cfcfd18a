"""Tiles of sections larger than 101 × 101, blended back with one set of weights."""

import numpy as np
import pytest

from explainable_salt.attribution.absence import BackgroundAbsence, DrawnBackgroundAbsence
from explainable_salt.attribution.sections import stitched_shapley
from explainable_salt.attribution.shapley import channel_shapley, explain_game
from explainable_salt.segmentation.inference import section_masks
from explainable_salt.segmentation.tiling import (
    DEFAULT_OVERLAP,
    blend,
    blend_sum,
    cut,
    plan_tiles,
    tile_period_power,
    tile_starts,
)
from explainable_salt.tgs import synthetic
from explainable_salt.tgs.metrics import apply_decision_rule


def test_a_101_section_is_one_tile_and_blends_back_bit_for_bit():
    tiling = plan_tiles((101, 101))
    values = np.random.default_rng(0).random((3, 101, 101, 2), dtype=np.float32)
    assert len(tiling) == 1 and (tiling.weights == 1.0).all()
    assert np.array_equal(blend(cut(values, tiling), tiling).astype(np.float32), values)


def test_tiles_cover_a_300_by_400_section_from_corner_to_corner_overlapping_by_at_least_the_overlap():
    rows, columns = tile_starts(300, 50), tile_starts(400, 50)
    assert rows[0] == 0 and rows[-1] == 300 - 101 and columns[-1] == 400 - 101
    assert (np.diff(rows) <= 101 - 50).all() and (np.diff(columns) <= 101 - 50).all()
    assert len(plan_tiles((300, 400), 50)) == len(rows) * len(columns) == 5 * 7


def test_the_weights_of_the_tiles_covering_a_pixel_sum_to_one_everywhere():
    tiling = plan_tiles((300, 400), 30)
    total = blend_sum(tiling.weights, tiling.origins, (300, 400))
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert (tiling.weights > 0).all()


def test_blending_the_tiles_of_a_section_gives_the_section_back():
    section = np.random.default_rng(1).random((2, 300, 400, 3))
    tiling = plan_tiles((300, 400))
    np.testing.assert_allclose(blend(cut(section, tiling), tiling), section, atol=1e-12)


def test_a_tile_nearer_its_centre_weighs_more_where_tiles_overlap():
    tiling = plan_tiles((101, 152), 50)  # two tiles, columns 0-100 and 51-151
    left, right = tiling.weights
    assert left[50, 51] > right[50, 0] and left[50, 100] < right[50, 49]


@pytest.mark.parametrize("shape", [(100, 300), (300, 50)])
def test_a_section_smaller_than_a_tile_is_refused(shape):
    with pytest.raises(ValueError, match="shorter than a 101-pixel tile"):
        plan_tiles(shape)


def _pixelwise_linear(slopes):
    """A predictor whose output at each pixel is Σ_c slope_c × channel_c there."""
    return lambda inputs: (inputs * np.asarray(slopes)).sum(axis=-1)


def test_stitched_contributions_of_a_pixelwise_linear_model_are_slope_times_value_minus_background():
    rng = np.random.default_rng(2)
    slopes = [0.5, -1.0, 2.0]
    sections = rng.normal(size=(2, 150, 230, 3))
    background = rng.normal(size=(4, 101, 101, 3))
    result = stitched_shapley(lambda tiles: channel_shapley(_pixelwise_linear(slopes), tiles, background,
                                                            progress=False), sections)
    tiling = plan_tiles((150, 230))
    stitched_background = blend(np.broadcast_to(background.mean(axis=0), (len(tiling), 101, 101, 3)), tiling)[0]
    np.testing.assert_allclose(result.contributions, np.asarray(slopes) * (sections - stitched_background), atol=1e-4)
    assert result.contributions.shape == (2, 150, 230, 3) and result.expected_value.shape == (150, 230)


def test_phi_of_a_long_section_has_no_peak_at_the_tile_period_when_each_tile_draws_its_own_background():
    # A section with no signal of its own: what repeats with the tiles can only come from the game.
    rng = np.random.default_rng(5)
    section = np.zeros((1, 101, 2601, 2), np.float32)
    # What repeats is now the pool's mean pattern, sqrt(8 / 256) of one draw's: about noise level.
    pool = rng.normal(size=(256, 101, 101, 2)).astype(np.float32)
    tiling = plan_tiles(section.shape[1:3])
    assert len(tiling) == 75  # every 34 or 35 columns

    def explained(absence):
        return stitched_shapley(lambda tiles: explain_game(_pixelwise_linear([1.0, -2.0]), tiles, absence,
                                                           progress=False), section)

    shared, drawn = explained(BackgroundAbsence(pool[:8])), explained(DrawnBackgroundAbsence(pool, 8, seed=3))
    assert tile_period_power(shared.contributions, tiling) > 100  # one background: the tile grid
    assert tile_period_power(drawn.contributions, tiling) < 6
    assert drawn.expected_value.shape == (1, 101, 2601)
    assert tile_period_power(drawn.expected_value[..., None], tiling) < 6
    assert drawn.max_additivity_error <= 1e-5
    with pytest.raises(ValueError, match="one tile along axis 1"):
        tile_period_power(drawn.contributions, tiling, axis=1)


def test_the_default_overlap_averages_away_what_a_model_does_near_its_tiles_edges():
    """A model that answers differently within 10 pixels of its input's edges (less context, as a
    real one): stitched from half-overlapping tiles its maps repeat with the tiles; the default
    overlap (two thirds) averages that out to less than half the power, at noise level here."""
    u = np.arange(101)
    edge_bias = 0.1 * (np.minimum(u, 100 - u) < 10)[None, :]  # (1, 101): along the columns
    noise = np.random.default_rng(7)
    powers = {}
    for overlap in (50, DEFAULT_OVERLAP):
        tiling = plan_tiles((560, 520), overlap)
        tiles = np.broadcast_to(edge_bias, (len(tiling), 101, 101)) + noise.normal(0, 0.02, (len(tiling), 101, 101))
        powers[overlap] = tile_period_power(blend(tiles, tiling), tiling)
    assert DEFAULT_OVERLAP == 67
    assert powers[50] > 50 and powers[DEFAULT_OVERLAP] < 0.5 * powers[50], powers


def test_a_drawn_background_is_fixed_by_the_image_and_seed_whatever_the_chunking():
    rng = np.random.default_rng(6)
    pool, images = rng.normal(size=(30, 101, 101, 2)), rng.normal(size=(5, 101, 101, 2))
    absence = DrawnBackgroundAbsence(pool, 4, seed=1)
    draws = absence.draws(images)
    assert draws.shape == (5, 4) and all(len(set(row)) == 4 for row in draws)  # without replacement
    assert np.array_equal(np.concatenate([absence.draws(images[:2]), absence.draws(images[2:], rows=[2, 3, 4])]),
                          draws)
    assert not np.array_equal(DrawnBackgroundAbsence(pool, 4, seed=2).draws(images), draws)
    assert len({tuple(row) for row in draws}) == 5  # each image its own draw
    blank = absence.draws(np.zeros((5, 101, 101, 2)))
    assert len({tuple(row) for row in blank}) == 5  # identical images too
    predict = _pixelwise_linear([0.5, 1.5])
    np.testing.assert_allclose(absence.expected(predict, images), predict(pool)[draws].mean(axis=1))
    one = explain_game(predict, images, absence, images_per_call=2, progress=False)
    whole = explain_game(predict, images, absence, images_per_call=5, progress=False)
    np.testing.assert_array_equal(one.contributions, whole.contributions)
    with pytest.raises(ValueError, match="pool of 30"):
        DrawnBackgroundAbsence(pool, 31)


def test_stitched_explanations_of_a_300_by_400_section_are_additive_at_every_pixel():
    from explainable_salt.segmentation.forward import forward_pass
    from explainable_salt.segmentation.models import build_model

    model = build_model("unet", 2, depth=1, base_filters=2)
    rng = np.random.default_rng(3)
    sections = rng.normal(size=(1, 300, 400, 2)).astype(np.float32)
    background = rng.normal(size=(2, 101, 101, 2)).astype(np.float32)
    result = stitched_shapley(lambda tiles: channel_shapley(forward_pass(model), tiles, background,
                                                            progress=False), sections)
    residual = result.expected_value + result.contributions.astype(np.float64).sum(axis=-1) - result.predictions
    assert result.max_additivity_error == pytest.approx(np.abs(residual).max()) and result.max_additivity_error <= 1e-5
    assert np.abs(result.contributions).max() > 1e-4  # the model does respond to its channels


def test_the_decision_rule_on_101_by_101_images_is_the_rule_itself():
    probabilities = np.random.default_rng(4).random((20, 101, 101)).astype(np.float32) ** 3
    rule = {"threshold": 0.6, "min_area": 1200, "peak_threshold": 0.9}
    assert np.array_equal(section_masks(probabilities, rule), apply_decision_rule(probabilities, rule))


def test_the_minimum_salt_area_scales_with_the_area_of_a_section():
    probabilities = np.zeros((2, 202, 202), dtype=np.float32)
    probabilities[0, :30, :30] = 0.9    # 900 salt pixels on 4 tiles' area: below 4 x 300
    probabilities[1, :40, :40] = 0.9    # 1600 pixels: above
    masks = section_masks(probabilities, {"threshold": 0.5, "min_area": 300})
    assert masks[0].sum() == 0 and masks[1].sum() == 1600


def test_the_synthetic_generator_makes_sections_of_other_sizes_with_salt_and_layers():
    sections = synthetic.generate(3, seed=5, shape_probabilities={"dome": 1.0}, size=(300, 400))
    assert sections.images.shape == (3, 300, 400) and sections.images.dtype == np.uint8
    assert sections.masks.shape == (3, 300, 400) and sections.masks.any(axis=(1, 2)).all()
    assert sections.images.std() > 10
