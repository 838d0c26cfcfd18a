"""Standard errors, significance and background redraws of channel Shapley values, against their
definitions."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from toy_models import interacting_model

from explainable_salt.attribution import sampling
from explainable_salt.attribution.absence import BackgroundAbsence, BaselineAbsence, BlurAbsence, ConditionalAbsence
from explainable_salt.attribution.shapley import channel_shapley, explain_game

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(5, 6, 7, 3))
BACKGROUND = RNG.normal(size=(6, 6, 7, 3))



def additive_model(x):
    return np.sin(x[..., 0]) + x[..., 1] ** 2 + 0.5 * x[..., 2]


@pytest.fixture(scope="module")
def per_reference():
    """φ^(k): the game played against each background image alone, (N, K, H, W, C)."""
    return np.stack([channel_shapley(interacting_model, IMAGES, BACKGROUND[k : k + 1], progress=False).contributions
                     for k in range(len(BACKGROUND))], axis=1).astype(np.float64)


def test_standard_error_is_the_spread_of_the_per_reference_values_over_root_k(per_reference):
    resamples = sampling.bootstrap_weights(6, 30, seed=1)
    result = explain_game(interacting_model, IMAGES, BackgroundAbsence(BACKGROUND, sampled=True), 2,
                          progress=False, resamples=resamples)
    np.testing.assert_allclose(result.contributions, per_reference.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(result.standard_error, per_reference.std(axis=1, ddof=1) / np.sqrt(6), atol=1e-6)
    redrawn = np.abs(np.einsum("bk,nkhwc->bnhwc", resamples, per_reference)).mean(axis=(2, 3))
    np.testing.assert_allclose(result.resampled_importance, redrawn, atol=1e-6)
    assert result.resampled_importance.shape == (30, 5, 3)


def test_an_additive_models_standard_error_is_that_of_each_channels_background_mean():
    result = explain_game(additive_model, IMAGES, BackgroundAbsence(BACKGROUND, sampled=True), progress=False)
    parts = np.stack([np.sin(BACKGROUND[..., 0]), BACKGROUND[..., 1] ** 2, 0.5 * BACKGROUND[..., 2]], axis=-1)
    expected = parts.std(axis=0, ddof=1) / np.sqrt(len(BACKGROUND))
    np.testing.assert_allclose(result.standard_error, np.broadcast_to(expected, IMAGES.shape), atol=1e-6)


def test_the_same_seed_gives_every_chunk_the_same_redraws():
    whole = explain_game(interacting_model, IMAGES, BackgroundAbsence(BACKGROUND, sampled=True), 5, progress=False,
                         resamples=sampling.bootstrap_weights(6, 10, seed=4))
    split = explain_game(interacting_model, IMAGES, BackgroundAbsence(BACKGROUND, sampled=True), 2, progress=False,
                         resamples=sampling.bootstrap_weights(6, 10, seed=4))
    np.testing.assert_allclose(whole.resampled_importance, split.resampled_importance, atol=1e-9)


def test_bootstrap_weights_are_draws_of_k_images_with_replacement():
    weights = sampling.bootstrap_weights(8, 200, seed=0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert set(np.unique(weights * 8)) <= set(range(9)) and (weights == 0).any()


def test_k_means_summaries_and_single_images_have_no_standard_error():
    unsampled = explain_game(interacting_model, IMAGES, BackgroundAbsence(BACKGROUND, np.arange(1.0, 7.0)),
                             progress=False)
    assert unsampled.standard_error is None and unsampled.resampled_importance is None
    with pytest.raises(ValueError, match="equal weights"):
        BackgroundAbsence(BACKGROUND, np.arange(1.0, 7.0), sampled=True)
    with pytest.raises(ValueError, match="at least 2"):
        sampling.standard_error(np.zeros((1, 1, 2, 2, 3)))


@dataclass(frozen=True)
class KthNeighbour:
    """The conditional game played against its ``k``-th neighbour alone, ``v(∅)`` the pool mean."""

    conditional: ConditionalAbsence
    k: int
    name: str = "k-th neighbour"

    def references(self, images, present, rows=None):
        return self.conditional.pool[self.conditional.nearest(images, present)[..., self.k : self.k + 1]], np.ones(1)

    def expected(self, predict, images):
        return self.conditional.expected(predict, images)


POOL = RNG.normal(size=(9, 6, 7, 3))


def test_the_conditional_standard_error_is_the_spread_of_the_single_neighbour_games_over_root_k():
    conditional = ConditionalAbsence(POOL, neighbours=4, descriptor_size=2)
    result = explain_game(interacting_model, IMAGES, conditional, 2, progress=False)
    per_neighbour = np.stack([explain_game(interacting_model, IMAGES, KthNeighbour(conditional, k), progress=False)
                              .contributions for k in range(4)], axis=1).astype(np.float64)  # (N, K, H, W, C)
    np.testing.assert_allclose(result.contributions, per_neighbour.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(result.standard_error, per_neighbour.std(axis=1, ddof=1) / 2, atol=1e-6)
    assert result.standard_error.max() > 0.01 and result.resampled_importance is None


def test_identical_neighbours_give_a_conditional_standard_error_of_zero():
    pool = np.repeat(POOL[:1], 5, axis=0)
    result = explain_game(interacting_model, IMAGES, ConditionalAbsence(pool, neighbours=4, descriptor_size=2),
                          progress=False)
    assert np.abs(result.contributions).max() > 0.01
    np.testing.assert_allclose(result.standard_error, 0.0, atol=1e-7)


@pytest.mark.parametrize("absence", [BaselineAbsence(np.zeros(3)), BlurAbsence(2.0),
                                     ConditionalAbsence(POOL, neighbours=1, descriptor_size=2)],
                         ids=["baseline", "blur", "one neighbour"])
def test_deterministic_games_and_a_single_neighbour_have_no_standard_error(absence):
    assert explain_game(interacting_model, IMAGES, absence, progress=False).standard_error is None


def test_the_t_quantile_has_k_minus_one_degrees_of_freedom():
    assert sampling.t_quantile(8) == pytest.approx(2.3646, abs=1e-4)
    assert sampling.t_quantile(2) == pytest.approx(12.706, abs=1e-3)
    with pytest.raises(ValueError, match="at least 2"):
        sampling.t_quantile(1)


def test_a_contribution_exactly_at_t_standard_errors_is_not_distinguishable_from_zero():
    t = sampling.t_quantile(8)
    phi = np.array([t, -t, np.nextafter(t, np.inf), -np.nextafter(t, np.inf), 2.0, 0.0])
    np.testing.assert_array_equal(sampling.significant(phi, np.ones(6), 8), [False, False, True, True, False, False])
    assert not sampling.significant(np.array([2.1]), np.array([1.0]), 8)[0]  # 2 SE is not enough at K = 8


def test_the_significance_table_counts_significant_phi_among_salt_pixels_only():
    phi = np.zeros((2, 2, 3, 2))
    phi[..., 0] = 3.0  # channel a: 3 SE everywhere
    phi[0, 0, :, 1] = 3.0  # channel b: only in the first row of the first image
    salt = np.zeros((2, 2, 3), bool)
    salt[0, 0] = salt[1, 1, :2] = True  # 5 salt pixels, 3 of them where b is significant
    phi[1, 0, :, 0] = 0.0  # outside salt: does not count
    table = sampling.significance_table("background", phi, np.ones_like(phi), 8, salt, ("a", "b"))
    assert list(table["channel"]) == ["a", "b"] and (table["n_salt_pixels"] == 5).all()
    np.testing.assert_allclose(table["share"], [1.0, 3 / 5])
    assert table["t_quantile"].iloc[0] == pytest.approx(2.3646, abs=1e-4)
    assert "K = 8 background images" in table["sampling_error"].iloc[0]


def test_a_game_without_standard_error_has_no_significance_share_and_says_it_is_exact():
    phi = np.ones((1, 2, 2, 2))
    table = sampling.significance_table("baseline", phi, None, 1, np.ones((1, 2, 2), bool), ("a", "b"))
    assert table["share"].isna().all() and table["t_quantile"].isna().all()
    assert (table["sampling_error"] == "exact in this game: no sampling error").all()
    assert sampling.error_note("baseline", 1, False) == sampling.NO_ERROR
    assert "neighbours" in sampling.error_note("conditional", 8, True)
    assert sampling.error_note("background", 2, True).endswith("t = 12.71 (1 degree of freedom)")


def _table(redrawn_scale):
    phi = np.zeros((4, 2, 2, 3))
    phi[..., 0], phi[..., 1], phi[..., 2] = 3.0, 2.0, 1.0
    noise = np.random.default_rng(0).normal(scale=redrawn_scale, size=(50, 4, 3))
    redrawn = np.abs(phi).mean(axis=(1, 2))[None] + noise
    return sampling.sampling_table(phi, np.full(phi.shape, 0.5), redrawn, ("a", "b", "c"))


def test_a_ranking_that_survives_every_redraw_is_said_to_hold():
    table = _table(0.01)
    np.testing.assert_allclose(table["share_of_abs"], [0.5, 1 / 3, 1 / 6])
    np.testing.assert_allclose(table["relative_standard_error"], [0.5 / 3, 0.25, 0.5])
    assert table["ranking_unchanged"].iloc[0] == 1.0 and table["kendall_tau"].iloc[0] == pytest.approx(1.0)
    sentence = sampling.sampling_sentence(table, 8)
    assert "holds whatever background images are drawn" in sentence and "(a > b > c)" in sentence
    assert "8 background images is 25 % of the mean |φ|" in sentence


def test_a_ranking_that_redraws_reorder_is_said_to_depend_on_them():
    table = _table(1.5)
    assert table["ranking_unchanged"].iloc[0] < 0.95
    assert "depends on which background images are drawn" in sampling.sampling_sentence(table, 8)
    assert isinstance(table, pd.DataFrame)


def test_a_first_channel_that_survives_while_the_others_swap_is_named():
    phi = np.zeros((4, 2, 2, 3))
    phi[..., 0], phi[..., 1], phi[..., 2] = 6.0, 2.0, 1.9
    noise = np.random.default_rng(0).normal(scale=0.2, size=(50, 4, 3))
    table = sampling.sampling_table(phi, np.full(phi.shape, 0.5), np.abs(phi).mean(axis=(1, 2))[None] + noise,
                                    ("a", "b", "c"))
    assert table["first_unchanged"].iloc[0] == 1.0 and table["ranking_unchanged"].iloc[0] < 0.95
    sentence = sampling.sampling_sentence(table, 8)
    assert "a stays first whatever background images are drawn (in 100 % of the redraws)" in sentence
    assert "the order of the others (b > c) depends on the draw" in sentence
