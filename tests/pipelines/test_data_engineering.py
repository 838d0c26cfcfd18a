"""The data_engineering pipeline run with SequentialRunner on an in-memory catalog."""

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from explainable_salt.pipelines.data_engineering import create_pipeline


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read every output afterwards."""

    def _release(self) -> None:
        pass


PARAMS = {
    "coverage_classes": 10,
    "split_ratios": {"train": 0.7, "validation": 0.15, "internal_test": 0.15},
    "n_folds": 3,
    "seed": 0,
}


@pytest.fixture
def outputs(synthetic_raw):
    images, masks, rle, depths, test = synthetic_raw
    catalog = DataCatalog(
        {
            "train_images_raw": MemoryDataset(images),
            "train_masks_raw": MemoryDataset(masks),
            "train_rle": MemoryDataset(rle),
            "depths": MemoryDataset(depths),
            "test_images_raw": MemoryDataset(test),
            "sample_submission": MemoryDataset(pd.DataFrame({"id": sorted(test), "rle_mask": "1 1"})),
            "params:data_engineering": MemoryDataset(PARAMS),
            **{name: KeptDataset() for name in ("train_images", "train_masks", "test_images", "manifest")},
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return {name: catalog.load(name) for name in ("train_images", "train_masks", "test_images", "manifest")}


def test_manifest_has_one_row_per_labelled_image_with_its_split_and_fold(outputs):
    manifest = outputs["manifest"]
    assert list(manifest.columns) == ["id", "depth", "coverage", "coverage_class", "split", "fold"]
    assert list(manifest["id"]) == list(outputs["train_masks"].ids)
    assert manifest["split"].value_counts().to_dict().keys() == {"train", "validation", "internal_test"}
    assert (manifest.loc[manifest["split"] == "internal_test", "fold"] == -1).all()


def test_manifest_coverage_is_the_mask_salt_fraction(outputs):
    masks = outputs["train_masks"].data
    np.testing.assert_allclose(outputs["manifest"]["coverage"], masks.mean(axis=(1, 2)))
    assert ((outputs["manifest"]["coverage"] == 0) == (outputs["manifest"]["coverage_class"] == 0)).all()


def test_manifest_depth_comes_from_depths_csv(outputs, synthetic_raw):
    depths = synthetic_raw[3].set_index("id")["z"]
    manifest = outputs["manifest"]
    np.testing.assert_array_equal(manifest["depth"], depths.loc[manifest["id"]].to_numpy())


def test_test_images_keep_every_id_in_grey_levels(outputs, synthetic_raw):
    test = synthetic_raw[4]
    stack = outputs["test_images"]
    assert list(stack.ids) == sorted(test)
    assert np.array_equal(stack.data[0], test[stack.ids[0]][..., 0])
