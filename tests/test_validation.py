"""One test per class of bad raw input: each raises an error that names the file or id."""

import numpy as np
import pandas as pd
import pytest

from explainable_salt.pipelines.data_engineering.nodes import validate_test_set, validate_train_set
from explainable_salt.tgs.validation import RawDataError


def _first_id(mapping):
    return sorted(mapping)[0]


def test_valid_synthetic_set_passes_and_keeps_every_id(raw):
    images, masks, rle, depths, _ = raw
    train_images, train_masks = validate_train_set(images, masks, rle, depths)
    assert list(train_images.ids) == sorted(rle["id"])
    assert train_images.data.shape == (40, 101, 101) and train_images.data.dtype == np.uint8
    assert set(np.unique(train_masks.data)) <= {0, 1}


def test_missing_mask_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = _first_id(masks)
    del masks[victim]
    with pytest.raises(RawDataError, match=victim):
        validate_train_set(images, masks, rle, depths)


def test_image_without_train_csv_row_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = rle["id"].iloc[3]
    with pytest.raises(RawDataError, match=f"train.csv.*{victim}"):
        validate_train_set(images, masks, rle[rle["id"] != victim], depths)


def test_wrong_image_size_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = _first_id(images)
    images[victim] = images[victim][:100]
    with pytest.raises(RawDataError, match=f"{victim}.*shape"):
        validate_train_set(images, masks, rle, depths)


def test_non_binary_mask_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = _first_id(masks)
    masks[victim][0, :3] = [0, 128, 255]
    with pytest.raises(RawDataError, match=f"{victim}.*not binary"):
        validate_train_set(images, masks, rle, depths)


def test_rle_disagreeing_with_mask_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = rle["id"].iloc[0]
    rle.loc[rle["id"] == victim, "rle_mask"] = "1 5"
    with pytest.raises(RawDataError, match=f"disagrees.*{victim}"):
        validate_train_set(images, masks, rle, depths)


def test_malformed_rle_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = rle["id"].iloc[0]
    rle.loc[rle["id"] == victim, "rle_mask"] = "1 2 3"
    with pytest.raises(RawDataError, match=f"{victim}.*malformed"):
        validate_train_set(images, masks, rle, depths)


def test_nan_depth_names_the_id(raw):
    images, masks, rle, depths, _ = raw
    victim = rle["id"].iloc[0]
    depths["z"] = depths["z"].astype(float)
    depths.loc[depths["id"] == victim, "z"] = np.nan
    with pytest.raises(RawDataError, match=f"depths.csv.*{victim}"):
        validate_train_set(images, masks, rle, depths)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, -5.0])
def test_an_infinite_or_negative_depth_names_the_id(raw, bad):
    images, masks, rle, depths, _ = raw
    victim = rle["id"].iloc[1]
    depths["z"] = depths["z"].astype(float)
    depths.loc[depths["id"] == victim, "z"] = bad
    with pytest.raises(RawDataError, match=f"depths.csv.*{victim}"):
        validate_train_set(images, masks, rle, depths)


def test_test_image_without_depth_names_the_id(raw):
    _, _, rle, depths, test = raw
    victim = _first_id(test)
    with pytest.raises(RawDataError, match=victim):
        validate_test_set(test, depths[depths["id"] != victim], rle)


def test_a_missing_test_image_is_counted_and_named(raw):
    _, _, rle, depths, test = raw
    victims = sorted(test)[:2]
    partial = {k: v for k, v in test.items() if k not in victims}
    with pytest.raises(RawDataError, match=f"lacks 2 of the 8 test images.*{victims[0]}, {victims[1]}"):
        validate_test_set(partial, depths, rle)
    assert len(validate_test_set(test, depths, rle)) == 8


def test_the_test_set_must_match_sample_submission_when_it_is_there(raw):
    _, _, rle, depths, test = raw
    listed = pd.DataFrame({"id": sorted(test), "rle_mask": "1 1"})
    assert len(validate_test_set(test, depths, rle, listed)) == 8
    victim = sorted(test)[3]
    with pytest.raises(RawDataError, match=f"lacks 1 of the 8 test images that sample_submission.csv lists: {victim}"):
        validate_test_set({k: v for k, v in test.items() if k != victim}, depths, rle, listed)
    with pytest.raises(RawDataError, match=f"holds 1 images that sample_submission.csv does not list: {victim}"):
        validate_test_set(test, depths, rle, listed[listed["id"] != victim])


def test_an_absent_optional_file_loads_as_none_and_a_present_one_as_its_data(tmp_path):
    from explainable_salt.datasets import OptionalDataset

    config = {"type": "pandas.CSVDataset", "filepath": str(tmp_path / "sample_submission.csv")}
    assert OptionalDataset(config).load() is None
    (tmp_path / "sample_submission.csv").write_text("id,rle_mask\na,1 1\n")
    assert OptionalDataset(config).load()["id"].tolist() == ["a"]


def test_duplicated_id_in_train_csv_is_named(raw):
    images, masks, rle, depths, _ = raw
    rle = pd.concat([rle, rle.iloc[[2]]], ignore_index=True)
    with pytest.raises(RawDataError, match=f"repeats.*{rle['id'].iloc[2]}"):
        validate_train_set(images, masks, rle, depths)


def test_colour_image_with_unequal_channels_is_named(raw):
    images, masks, rle, depths, _ = raw
    victim = _first_id(images)
    images[victim][..., 1] = 0
    with pytest.raises(RawDataError, match=f"{victim}.*unequal"):
        validate_train_set(images, masks, rle, depths)


def test_missing_column_names_the_file(raw):
    images, masks, rle, depths, _ = raw
    with pytest.raises(RawDataError, match="depths.csv lacks"):
        validate_train_set(images, masks, rle, depths.rename(columns={"z": "depth"}))
