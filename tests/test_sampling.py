"""Standard errors and background redraws of channel Shapley values, against their definitions."""

import numpy as np
import pandas as pd
import pytest
from toy_models import interacting_model

from explainable_salt.attribution import sampling
from explainable_salt.attribution.absence import BackgroundAbsence
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
