"""Comparing explanations across definitions of absence: agreement measures and the sentence."""

import numpy as np
import pytest

from explainable_salt.attribution.sensitivity import (
    kendall_tau_per_image,
    map_correlation_per_image,
    ranking_sentence,
    sensitivity_table,
)

RNG = np.random.default_rng(4)
CHANNELS = ("amplitude", "energy", "sobel")


def maps(scales):
    """Contributions (6, 5, 5, 3) whose mean |φ| per channel follows ``scales``."""
    return RNG.normal(size=(6, 5, 5, 3)) * np.asarray(scales)


def test_kendall_tau_is_one_for_the_same_ranking_minus_one_reversed_and_nan_for_ties():
    a = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    b = np.array([[10.0, 20.0, 30.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    tau = kendall_tau_per_image(a, b)
    assert tau[:2].tolist() == [1.0, -1.0] and np.isnan(tau[2])


def test_map_correlation_ignores_scale_and_sees_sign():
    phi = RNG.normal(size=(2, 4, 4, 3))
    np.testing.assert_allclose(map_correlation_per_image(phi, 3 * phi), 1.0)
    np.testing.assert_allclose(map_correlation_per_image(phi, -phi), -1.0)


def test_table_ranks_channels_per_definition_and_compares_with_the_primary():
    primary = maps([1.0, 0.2, 3.0])
    table = sensitivity_table({"background": primary, "blur": maps([0.1, 2.0, 4.0])}, CHANNELS, n_boot=100)
    first = table[table["definition"] == "background"].set_index("channel")
    assert first["rank"].to_dict() == {"amplitude": 2, "energy": 3, "sobel": 1}
    assert first["kendall_tau"].iloc[0] == 1.0 and first["map_correlation"].iloc[0] == pytest.approx(1.0)
    assert first["share_of_abs"].sum() == pytest.approx(1.0)
    blur = table[table["definition"] == "blur"].set_index("channel")
    assert blur.loc["energy", "rank"] == 2 and blur["kendall_tau"].iloc[0] < 1.0
    assert (table["mean_abs_low"] <= table["mean_abs"]).all() and (table["mean_abs"] <= table["mean_abs_high"]).all()


def test_sentence_says_the_ranking_holds_when_every_definition_agrees():
    table = sensitivity_table({"background": maps([1, 2, 3]), "baseline": maps([1, 2.2, 3.5])}, CHANNELS, n_boot=50)
    sentence = ranking_sentence(table)
    assert sentence.startswith('The channel ranking holds whatever "absent" means: sobel > energy > amplitude')
    assert "Kendall τ" in sentence and "baseline" in sentence


def test_sentence_says_the_first_channel_stays_when_only_the_rest_moves():
    table = sensitivity_table({"background": maps([1, 2, 5]), "blur": maps([2, 1, 5])}, CHANNELS, n_boot=50)
    assert ranking_sentence(table).startswith("sobel stays first under every definition")


def test_sentence_says_the_ranking_depends_when_the_first_channel_changes():
    table = sensitivity_table({"background": maps([1, 2, 5]), "conditional": maps([5, 2, 1])}, CHANNELS, n_boot=50)
    assert "the first channel is sobel under background, amplitude under conditional" in ranking_sentence(table)
