"""Nodes of the data_engineering pipeline: raw files → validated stacks and a manifest."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from explainable_salt.stacks import ImageStack
from explainable_salt.tgs import validation
from explainable_salt.tgs.splits import coverage_class, stratified_split

logger = logging.getLogger(__name__)


def validate_train_set(
    train_images_raw: dict[str, np.ndarray],
    train_masks_raw: dict[str, np.ndarray],
    train_rle: pd.DataFrame,
    depths: pd.DataFrame,
) -> tuple[ImageStack, ImageStack]:
    """Check the labelled set and stack it, in id order.

    Every id of train.csv must have an image, a mask and a depth, every image and mask must have
    a train.csv row, and each RLE must decode to its mask PNG.

    Returns:
        ``train_images`` ``(N, 101, 101) uint8`` and ``train_masks`` ``(N, 101, 101) uint8`` 0/1.
    """
    validation.require_columns(train_rle, ["id", "rle_mask"], "train.csv")
    rle = train_rle.set_index(train_rle["id"].astype(str))["rle_mask"]
    validation.require_same_ids(rle.index, train_images_raw, "train image (train/images/<id>.png)")
    validation.require_same_ids(rle.index, train_masks_raw, "train mask (train/masks/<id>.png)")
    validation.require_same_ids(train_images_raw, rle.index, "row in train.csv (image without label)")
    validation.require_same_ids(train_masks_raw, rle.index, "row in train.csv (mask without label)")
    validation.require_finite_depths(validation.depth_by_id(depths), rle.index)

    ids = np.asarray(sorted(rle.index))
    images = validation.grayscale_images(train_images_raw, "train/images")
    masks = validation.binary_masks(train_masks_raw, "train/masks")
    validation.require_rle_matches_masks(rle, masks, ids)
    logger.info("Validated %d labelled images (image, mask, RLE and depth each)", len(ids))
    return ImageStack(ids, images), ImageStack(ids, masks)


def validate_test_set(
    test_images_raw: dict[str, np.ndarray], depths: pd.DataFrame, train_rle: pd.DataFrame,
    sample_submission: pd.DataFrame | None = None,
) -> ImageStack:
    """Check and stack the competition test images ``(N, 101, 101) uint8``: each needs a depth,
    and the test ids must be those of ``sample_submission.csv`` when it is there, else those of
    depths.csv minus train.csv's."""
    ids = np.asarray(sorted(test_images_raw))
    depth_by_id = validation.depth_by_id(depths)
    validation.require_finite_depths(depth_by_id, ids)
    listed = None if sample_submission is None else sample_submission["id"].astype(str)
    validation.require_complete_test_set(ids, depth_by_id.index, train_rle["id"].astype(str), listed)
    images = validation.grayscale_images(test_images_raw, "test/images")
    logger.info("Validated %d test images", len(ids))
    return ImageStack(ids, images)


def build_manifest(train_masks: ImageStack, depths: pd.DataFrame, params: dict) -> pd.DataFrame:
    """One row per labelled image: id, depth, coverage, coverage_class, split, fold."""
    coverage = train_masks.data.reshape(len(train_masks), -1).mean(axis=1)
    manifest = pd.DataFrame(
        {
            "id": train_masks.ids,
            "depth": validation.depth_by_id(depths).reindex(train_masks.ids).to_numpy(np.float64),
            "coverage": coverage,
            "coverage_class": coverage_class(coverage, params["coverage_classes"]),
        }
    )
    assignment = stratified_split(
        manifest.set_index("id")["coverage_class"],
        params["split_ratios"],
        params["n_folds"],
        params["seed"],
    )
    manifest = manifest.join(assignment, on="id")
    counts = manifest["split"].value_counts().to_dict()
    logger.info("Split %d labelled images by coverage class: %s", len(manifest), counts)
    return manifest
