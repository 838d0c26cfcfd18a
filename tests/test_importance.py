import numpy as np
import pytest

from explainable_salt.attribution.importance import (
    importance_table,
    mask_boundary,
    per_image_means,
    sample_pixels,
)


def test_boundary_is_the_two_pixel_band_around_a_mask_edge():
    mask = np.zeros((1, 7, 7), dtype=bool)
    mask[0, :, 4:] = True
    boundary = mask_boundary(mask)[0]
    assert boundary[:, 3].all() and boundary[:, 4].all()
    assert not boundary[:, :3].any() and not boundary[:, 5:].any()


def test_boundary_never_crosses_between_images():
    masks = np.zeros((2, 5, 5), dtype=bool)
    masks[0] = True  # full salt: no edge inside the image
    assert not mask_boundary(masks).any()


def test_per_image_means_over_a_selection_and_nan_when_empty():
    phi = np.zeros((2, 2, 2, 1))
    phi[0, 0, 0, 0], phi[0, 1, 1, 0] = -2.0, 4.0
    selection = np.zeros((2, 2, 2), dtype=bool)
    selection[0, 0, 0] = selection[0, 1, 1] = True
    mean_abs, mean_signed = per_image_means(phi, selection)
    assert mean_abs[0, 0] == 3.0 and mean_signed[0, 0] == 1.0
    assert np.isnan(mean_abs[1, 0])


def test_importance_table_ranks_the_channel_with_larger_contributions_first():
    rng = np.random.default_rng(0)
    phi = rng.normal(0, 1, (10, 8, 8, 2)) * np.array([0.1, 1.0])
    truth = rng.random((10, 8, 8)) > 0.5
    table = importance_table(phi, ("weak", "strong"), truth, truth, np.arange(10) % 2, np.zeros(10, int), n_boot=50)
    overall = table[table["group"] == "all"].set_index("channel")
    assert overall.loc["strong", "mean_abs"] > 5 * overall.loc["weak", "mean_abs"]
    assert overall["share_of_abs"].sum() == pytest.approx(1.0)
    assert {"salt (truth)", "boundary (truth)", "coverage class 1", "depth band 0"} <= set(table["group"])


def test_sampled_pixels_carry_value_contribution_and_label():
    phi = np.arange(2 * 3 * 3 * 2, dtype=float).reshape(2, 3, 3, 2)
    truth = np.zeros((2, 3, 3), dtype=bool)
    truth[1] = True
    samples = sample_pixels(np.array(["a", "b"]), phi + 100, phi, truth, ("x", "y"), n_pixels=5, seed=0)
    assert len(samples) == 10 and set(samples["channel"]) == {"x", "y"}
    assert (samples["value"] - samples["contribution"] == 100).all()
    assert (samples["salt"] == (samples["id"] == "b")).all()
