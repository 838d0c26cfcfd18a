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
    with pytest.raises(DatasetError):  # an object is no array: the save fails after "b" was staged
        dataset.save({"b": np.ones((101, 101)), "c": object()})
    assert list(dataset.load()) == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["probabilities"]  # no staging folder left


def test_an_unknown_format_is_refused():
    with pytest.raises(DatasetError, match="format"):
        SectionSetDataset("somewhere", "tiff")


def _streamed(values: dict, computed: list, fail_at: str | None = None):
    from explainable_salt.compute.execution import StreamedMapping

    def items():
        for key, value in values.items():
            if key == fail_at:
                raise RuntimeError(f"chunk {key} failed")
            computed.append(key)
            yield key, value

    return StreamedMapping(list(values), items)


def test_a_streamed_mapping_is_computed_once_item_by_item_as_it_is_saved(tmp_path):
    values = {f"s{k}": np.full((120, 130 + k), k, np.float32) for k in range(4)}
    computed = []
    streamed = _streamed(values, computed)
    assert computed == [] and len(streamed) == 4 and list(streamed) == list(values)  # nothing computed yet
    SectionSetDataset(str(tmp_path / "p"), "npy").save(streamed)
    assert computed == list(values)  # once each, in order
    loaded = SectionSetDataset(str(tmp_path / "p"), "npy", lazy=True).load()
    assert list(loaded) == list(values)
    for key, value in values.items():
        assert isinstance(loaded[key], np.memmap)  # read from its file when looked up
        np.testing.assert_array_equal(loaded[key], value)


def test_a_stream_that_fails_midway_leaves_the_earlier_output_intact(tmp_path):
    dataset = SectionSetDataset(str(tmp_path / "p"), "npy")
    dataset.save({"old": np.zeros((101, 101), np.float32)})
    values = {f"s{k}": np.ones((101, 101), np.float32) for k in range(3)}
    with pytest.raises(DatasetError, match="chunk s2 failed"):  # Kedro wraps what the save raised
        dataset.save(_streamed(values, [], fail_at="s2"))
    assert list(dataset.load()) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]
