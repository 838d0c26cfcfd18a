import numpy as np
import pytest

from explainable_salt.attribution.absence import BackgroundAbsence, BaselineAbsence
from explainable_salt.attribution.faithfulness import (
    deletion_area,
    deletion_curves,
    explanation_rank_correlation,
    randomised_model_correlation,
)
from explainable_salt.attribution.shapley import explain_game

RNG = np.random.default_rng(0)


def test_removing_the_important_channel_first_hurts_most():
    truth = RNG.random((20, 8, 8)) > 0.5
    images = np.stack([truth * 2.0 - 1.0, RNG.normal(size=truth.shape)], axis=-1)
    background = np.zeros((2, 8, 8, 2))
    predict = lambda x: 1 / (1 + np.exp(-5 * x[..., 0] - 0.01 * x[..., 1]))
    curves = deletion_curves(predict, images, truth, background, np.array([0.5, 0.5]),
                             importance=np.array([1.0, 0.01]), threshold=0.5, n_random=4)
    by_importance = curves[curves["order"] == "importance"].set_index("n_removed")["competition_metric"]
    assert by_importance[0] == 1.0 and by_importance[1] < 0.5
    assert deletion_area(curves, "importance") < deletion_area(curves, "reverse")
    assert {"importance", "reverse", "random (mean)"} <= set(curves["order"])


def test_rank_correlation_is_one_for_the_same_maps_and_near_zero_for_independent_ones():
    maps = RNG.normal(size=(3, 20, 20, 2))
    assert explanation_rank_correlation(maps, maps) == pytest.approx(1.0)
    assert abs(explanation_rank_correlation(maps, RNG.normal(size=maps.shape))) < 0.1


def test_the_randomised_model_is_explained_in_the_game_it_is_given():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(2, 8, 8, 2))
    predict = lambda x: np.tanh(x[..., 0] * x[..., 1] + x[..., 0])
    baseline = BaselineAbsence(np.array([0.5, -0.5]))
    background = BackgroundAbsence(rng.normal(size=(3, 8, 8, 2)))
    in_baseline = explain_game(predict, images, baseline, progress=False).contributions
    assert randomised_model_correlation(predict, images, baseline, in_baseline) == pytest.approx(1.0)
    assert randomised_model_correlation(predict, images, background, in_baseline) < 0.99
