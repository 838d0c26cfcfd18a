"""Pairwise interactions read from the engine's coalition values: their axioms on toy models."""

from itertools import combinations
from math import factorial

import numpy as np
import pytest
from toy_models import interacting_model

from explainable_salt.attribution.absence import BackgroundAbsence, BaselineAbsence
from explainable_salt.attribution.additivity import max_additivity_error
from explainable_salt.attribution.interactions import (
    channel_pairs,
    interaction_index_matrix,
    interaction_table,
    pair_names,
    taylor_matrix,
    taylor_names,
)
from explainable_salt.attribution.shapley import explain_game

RNG = np.random.default_rng(2)
IMAGES = RNG.normal(size=(4, 8, 9, 3)).astype(np.float32)
BACKGROUND = RNG.normal(size=(5, 8, 9, 3)).astype(np.float32)
ZERO = BaselineAbsence(np.zeros(3))



def explain(model, absence, n_channels=3):
    readouts = {"index": interaction_index_matrix(n_channels), "taylor": taylor_matrix(n_channels)}
    return explain_game(model, IMAGES, absence, readouts=readouts, progress=False)


def test_pairs_are_named_in_the_order_of_the_matrices():
    assert channel_pairs(3) == [(0, 1), (0, 2), (1, 2)]
    assert pair_names(("amplitude", "energy", "sobel")) == ("amplitude:energy", "amplitude:sobel", "energy:sobel")
    assert taylor_names(("a", "b", "c")) == ("a", "b", "c", "a:b", "a:c", "b:c")


def test_a_product_of_two_channels_puts_everything_on_their_pair():
    result = explain(lambda x: x[..., 0] * x[..., 1], ZERO)
    product = IMAGES[..., 0] * IMAGES[..., 1]
    for name in ("index", "taylor"):
        pairs = result.readouts[name][..., -3:]
        np.testing.assert_allclose(pairs[..., 0], product, atol=1e-5)
        np.testing.assert_allclose(pairs[..., 1:], 0, atol=1e-6)
    np.testing.assert_allclose(result.readouts["taylor"][..., :3], 0, atol=1e-6)  # no main effects


def test_an_additive_model_has_no_interactions_and_taylor_mains_equal_shapley_values():
    result = explain(lambda x: np.sin(x[..., 0]) + x[..., 1] ** 2 - 3 * x[..., 2], BackgroundAbsence(BACKGROUND))
    np.testing.assert_allclose(result.readouts["index"], 0, atol=1e-5)
    np.testing.assert_allclose(result.readouts["taylor"][..., 3:], 0, atol=1e-5)
    np.testing.assert_allclose(result.readouts["taylor"][..., :3], result.contributions, atol=1e-5)


def test_shapley_taylor_decomposition_adds_up_to_the_prediction():
    result = explain(interacting_model, BackgroundAbsence(BACKGROUND))
    error = max_additivity_error(result.expected_value, result.readouts["taylor"], interacting_model(IMAGES))
    assert error < 1e-5
    assert np.abs(result.readouts["taylor"][..., 3:]).max() > 1e-2  # the model does interact


def subset_value(model, image, background, subset):
    present = np.isin(np.arange(image.shape[-1]), list(subset))
    return model(np.where(present, image[None], background)).mean(axis=0)


def test_interaction_index_matches_its_definition_over_subsets():
    n = 4
    images, background = RNG.normal(size=(2, 5, 6, n)), RNG.normal(size=(3, 5, 6, n))

    def model(x):
        return np.tanh(x[..., 0] * x[..., 1] - x[..., 2] * x[..., 3] + x[..., 1] * x[..., 2] * x[..., 3])

    result = explain_game(model, images, BackgroundAbsence(background),
                          readouts={"index": interaction_index_matrix(n)}, progress=False)
    for p, (i, j) in enumerate(channel_pairs(n)):
        rest = [c for c in range(n) if c not in (i, j)]
        for k, image in enumerate(images):
            total = 0.0
            for size in range(len(rest) + 1):
                weight = factorial(size) * factorial(n - size - 2) / factorial(n - 1)
                for s in combinations(rest, size):
                    v = lambda extra: subset_value(model, image, background, (*s, *extra))
                    total = total + weight * (v((i, j)) - v((i,)) - v((j,)) + v(()))
            np.testing.assert_allclose(result.readouts["index"][k, ..., p], total, atol=1e-5)


def test_readouts_cost_no_extra_forward_pass():
    seen = []

    def counting(x):
        seen.append(len(x))
        return interacting_model(x)

    explain_game(counting, IMAGES, BackgroundAbsence(BACKGROUND), progress=False)
    plain = sum(seen)
    seen.clear()
    explain(counting, BackgroundAbsence(BACKGROUND))
    assert sum(seen) == plain


def test_interaction_table_signs_redundant_pairs_negative_and_synergistic_positive():
    interactions = np.zeros((6, 4, 4, 3))
    interactions[..., 0] = -0.2 + 0.01 * RNG.normal(size=(6, 4, 4))
    interactions[..., 2] = 0.3 + 0.01 * RNG.normal(size=(6, 4, 4))
    table = interaction_table(interactions, ("a:b", "a:c", "b:c"), n_boot=200).set_index("pair")
    assert table.loc["a:b", "mean_high"] < 0 < table.loc["b:c", "mean_low"]
    assert table.loc["a:c", "mean"] == pytest.approx(0)
    assert (table["mean_abs_low"] <= table["mean_abs"]).all() and (table["n_images"] == 6).all()
    assert list(table.loc["b:c", ["channel_a", "channel_b"]]) == ["b", "c"]
