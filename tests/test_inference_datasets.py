"""SectionSetDataset: one file per section, any size, written atomically."""

import numpy as np
import pytest
from kedro.io import DatasetError

from explainable_salt.datasets import SectionSetDataset


def test_masks_of_different_sizes_round_trip_as_8_bit_pngs(tmp_path):
    masks = {"a": np.zeros((101, 101), np.uint8), "b": np.full((300, 400), 255, np.uint8)}
    dataset = SectionSetDataset(str(tmp_path / "masks"), "png")
    dataset.save(masks)
    loaded = dataset.load()
    assert sorted(loaded) == ["a", "b"] and all(np.array_equal(loaded[k], masks[k]) for k in masks)
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == ["a.png", "b.png"]


def test_explanations_round_trip_as_named_arrays(tmp_path):
    value = {"contributions": np.ones((120, 130, 2), np.float32), "channels": np.asarray(["amplitude", "sobel"])}
    dataset = SectionSetDataset(str(tmp_path / "explanations"), "npz")
    dataset.save({"s1": value})
    loaded = dataset.load()["s1"]
    assert loaded["contributions"].shape == (120, 130, 2) and list(loaded["channels"]) == ["amplitude", "sobel"]


def test_a_failed_save_leaves_the_earlier_output_intact(tmp_path):
    dataset = SectionSetDataset(str(tmp_path / "probabilities"), "npy")
    dataset.save({"a": np.zeros((101, 101), np.float32)})
    with pytest.raises(Exception):
        dataset.save({"b": np.ones((101, 101)), "c": object()})
    assert list(dataset.load()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probabilities"]  # no staging folder left


def test_an_unknown_format_is_refused():
    with pytest.raises(DatasetError, match="format"):
        SectionSetDataset("somewhere", "tiff")
