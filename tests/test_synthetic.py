import numpy as np
from conftest import SHAPES

from explainable_salt.tgs import synthetic
from explainable_salt.tgs.rle import rle_decode


def test_generation_is_deterministic_for_a_seed():
    a = synthetic.generate(20, seed=3, shape_probabilities=SHAPES)
    b = synthetic.generate(20, seed=3, shape_probabilities=SHAPES)
    assert a.ids == b.ids
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)


def test_about_forty_percent_of_images_have_no_salt_and_some_are_mostly_salt():
    data = synthetic.generate(600, seed=5, shape_probabilities=SHAPES)
    coverage = data.masks.reshape(600, -1).mean(axis=1)
    assert 0.33 < (coverage == 0).mean() < 0.47
    assert (coverage > 0.7).mean() > 0.05


def test_top_of_salt_reflects_strongly_and_salt_interior_weakly():
    data = synthetic.generate(300, seed=6, shape_probabilities=SHAPES)
    amplitude = np.abs(data.images.astype(np.float64) - 128)
    masks = data.masks.astype(bool)
    above = np.concatenate([np.zeros_like(masks[:, :1]), masks[:, :-1]], axis=1)
    top = masks & ~above
    interior = masks & above & np.roll(above, 3, axis=1)
    sediment = ~masks
    assert amplitude[top].mean() > 1.5 * amplitude[sediment].mean()
    assert amplitude[interior].mean() < 0.7 * amplitude[sediment].mean()


def test_layout_matches_the_competition(synthetic_raw):
    images, masks, rle, depths, test = synthetic_raw
    some_id = sorted(images)[0]
    assert images[some_id].shape == (101, 101, 3) and images[some_id].dtype == np.uint8
    assert set(np.unique(np.concatenate([m.ravel() for m in masks.values()]))) <= {0, 255}
    assert list(rle.columns) == ["id", "rle_mask"] and list(depths.columns) == ["id", "z"]
    assert set(depths["id"]) == set(images) | set(test)
    row = rle.iloc[0]
    assert np.array_equal(rle_decode(row["rle_mask"]) * 255, masks[row["id"]])
