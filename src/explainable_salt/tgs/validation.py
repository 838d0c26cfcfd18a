"""Checks of the raw competition data. Each violation raises :class:`RawDataError` naming the
file or id; nothing is dropped or repaired silently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from explainable_salt.stacks import IMAGE_SIZE
from explainable_salt.tgs.rle import rle_decode

SHAPE = (IMAGE_SIZE, IMAGE_SIZE)


class RawDataError(ValueError):
    """The raw data breaks one of the competition layout's guarantees."""


def _listing(ids: Iterable[str], limit: int = 5) -> str:
    ids = sorted(ids)
    more = f" … and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def require_columns(table: pd.DataFrame, columns: list[str], name: str) -> None:
    """Raise unless ``table`` (the file ``name``) has ``columns`` and unique, non-null ids."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise RawDataError(f"{name} lacks column(s) {missing}; it has {list(table.columns)}")
    ids = table["id"]
    if ids.isna().any():
        raise RawDataError(f"{name} has {int(ids.isna().sum())} row(s) without an id")
    duplicated = ids[ids.duplicated()].astype(str)
    if len(duplicated):
        raise RawDataError(f"{name} repeats id(s): {_listing(set(duplicated))}")


def require_same_ids(expected: Iterable[str], found: Iterable[str], what: str) -> None:
    """Raise naming the ids of ``expected`` absent from ``found`` (``what`` says where)."""
    missing = set(expected) - set(found)
    if missing:
        raise RawDataError(f"{len(missing)} id(s) have no {what}: {_listing(missing)}")


def require_complete_test_set(
    test_ids: Iterable[str], depth_ids: Iterable[str], train_ids: Iterable[str],
    submission_ids: Iterable[str] | None = None,
) -> None:
    """Raise unless the test images are exactly those expected: the ids of
    ``sample_submission.csv`` when given, else those of ``depths.csv`` (the depth of every train and
    test image) minus those of ``train.csv``. A half-extracted test set would otherwise give a
    short submission."""
    if submission_ids is not None:
        expected, source = set(map(str, submission_ids)), "sample_submission.csv"
    else:
        expected = set(map(str, depth_ids)) - set(map(str, train_ids))
        source = "depths.csv (its ids minus train.csv's)"
    found = set(map(str, test_ids))
    missing, extra = expected - found, found - expected
    if missing:
        raise RawDataError(
            f"test/images lacks {len(missing)} of the {len(expected)} test images that {source} lists: "
            f"{_listing(missing)}"
        )
    if extra:
        raise RawDataError(f"test/images holds {len(extra)} images that {source} does not list: {_listing(extra)}")


def grayscale_images(images: Mapping[str, np.ndarray], source: str) -> np.ndarray:
    """Stack ``{id: PNG array}`` into ``(N, 101, 101) uint8`` in ``sorted(ids)`` order.

    Accepts grey PNGs and RGB(A) PNGs whose colour channels are equal, as the competition's are.
    """
    stack = np.empty((len(images), *SHAPE), dtype=np.uint8)
    for i, image_id in enumerate(sorted(images)):
        image = images[image_id]
        if image.shape[:2] != SHAPE or image.ndim not in (2, 3):
            raise RawDataError(
                f"{source}: image {image_id} has shape {image.shape}, expected {SHAPE}"
            )
        stack[i] = grey_image(image, f"{source}: image {image_id}")
    return stack


def grey_image(image: np.ndarray, source: str) -> np.ndarray:
    """An 8-bit grey ``(H, W)`` array from a decoded PNG: grey, or RGB(A) whose colour channels are
    equal, as the competition's are. ``source`` names the file in the error."""
    if image.dtype != np.uint8:
        raise RawDataError(f"{source} is {image.dtype}, expected an 8-bit grey image")
    if image.ndim == 3:
        colours = image[..., :3]
        if not (colours == colours[..., :1]).all():
            raise RawDataError(f"{source} is a colour image (unequal colour channels), expected grey")
        image = colours[..., 0]
    if image.ndim != 2:
        raise RawDataError(f"{source} has shape {image.shape}, expected a grey image")
    return image


def binary_masks(masks: Mapping[str, np.ndarray], source: str) -> np.ndarray:
    """Stack ``{id: PNG array}`` into ``(N, 101, 101) uint8`` 0/1 masks in ``sorted(ids)`` order.

    A mask PNG must hold 0 for sediment and one other value (1, 255 or 65535) for salt.
    """
    stack = np.empty((len(masks), *SHAPE), dtype=np.uint8)
    for i, image_id in enumerate(sorted(masks)):
        mask = masks[image_id]
        if mask.shape != SHAPE:
            raise RawDataError(
                f"{source}: mask {image_id} has shape {mask.shape}, expected {SHAPE}"
            )
        values = np.unique(mask)
        if len(values) > 2 or (len(values) == 2 and values[0] != 0) or (
            len(values) == 1 and values[0] not in (0, np.iinfo(mask.dtype).max, 1, 255)
        ):
            raise RawDataError(
                f"{source}: mask {image_id} is not binary (values {values[:6].tolist()})"
            )
        stack[i] = mask > 0
    return stack


def require_rle_matches_masks(rle: pd.Series, masks: np.ndarray, ids: np.ndarray) -> None:
    """Raise naming the ids whose RLE (``rle`` indexed by id) does not decode to their mask."""
    mismatched = []
    for image_id, mask in zip(ids, masks):
        try:
            decoded = rle_decode(rle[image_id])
        except ValueError as err:
            raise RawDataError(f"train.csv: rle_mask of {image_id} is malformed: {err}") from err
        if not np.array_equal(decoded, mask):
            mismatched.append(image_id)
    if mismatched:
        raise RawDataError(
            f"train.csv: rle_mask disagrees with the mask PNG for {len(mismatched)} id(s): "
            f"{_listing(mismatched)}"
        )


def depth_by_id(depths: pd.DataFrame) -> pd.Series:
    """The depth ``z`` (feet) of each id of ``depths.csv``, indexed by id as text."""
    require_columns(depths, ["id", "z"], "depths.csv")
    return depths.set_index(depths["id"].astype(str))["z"]


def require_finite_depths(depths: pd.Series, ids: Iterable[str], suffix: str = "") -> np.ndarray:
    """The depths ``(n,) float64`` (feet) of ``ids`` from ``depths`` (:func:`depth_by_id`); raise
    naming the ids (each followed by ``suffix``, e.g. ``.png`` to name files) whose depth is
    missing, NaN, infinite or negative."""
    ids = [str(i) for i in ids]
    values = pd.to_numeric(depths.reindex(ids), errors="coerce").to_numpy(np.float64)
    bad = [f"{i}{suffix}" for i, v in zip(ids, values) if not (np.isfinite(v) and v >= 0)]
    if bad:
        raise RawDataError(f"depths.csv: no valid depth (z) for {len(bad)} id(s): {_listing(bad)}")
    return values
