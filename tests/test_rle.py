import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.rle import make_submission, rle_decode, rle_encode


@settings(max_examples=200, deadline=None)
@given(arrays(np.uint8, (101, 101), elements=st.integers(0, 1)))
def test_rle_round_trip_is_identity(mask):
    assert np.array_equal(rle_decode(rle_encode(mask)), mask)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 50), st.integers(1, 50), st.integers(0, 30), st.integers(0, 30))
def test_rle_round_trip_of_rectangles_on_small_shapes(h, w, top, left):
    mask = np.zeros((60, 80), dtype=np.uint8)
    mask[top : top + h, left : left + w] = 1
    assert np.array_equal(rle_decode(rle_encode(mask), shape=(60, 80)), mask)


def test_rle_is_column_major_and_one_indexed():
    mask = np.zeros((101, 101), dtype=np.uint8)
    mask[0:3, 0] = 1  # first three pixels of the first column
    mask[0, 1] = 1  # first pixel of the second column: pixel 102
    assert rle_encode(mask) == "1 3 102 1"


def test_empty_mask_encodes_to_empty_string_and_back():
    assert rle_encode(np.zeros((101, 101))) == ""
    for empty in ("", None, float("nan"), "  "):
        assert rle_decode(empty).sum() == 0


def test_full_mask_is_one_run():
    assert rle_encode(np.ones((101, 101))) == "1 10201"


@pytest.mark.parametrize(
    "rle, message",
    [("1 2 3", "odd"), ("0 5", "range"), ("10200 5", "range"), ("5 10 8 2", "overlap"), ("a b", "non-integer")],
)
def test_malformed_rle_raises(rle, message):
    with pytest.raises(ValueError, match=message):
        rle_decode(rle)


def test_rle_decodes_real_train_csv_rows(tgs_dir):
    rows = pd.read_csv(tgs_dir / "train.csv", keep_default_na=False).head(200)
    for rle in rows["rle_mask"]:
        assert rle_encode(rle_decode(rle)) == rle


def test_submission_has_every_test_id_and_column_major_rle():
    masks = np.zeros((3, 101, 101), dtype=np.uint8)
    masks[1, :2, 0] = 1
    submission = make_submission(ImageStack(["a", "b", "c"], masks))
    assert list(submission.columns) == ["id", "rle_mask"]
    assert submission["id"].tolist() == ["a", "b", "c"]
    assert submission["rle_mask"].tolist() == ["", "1 2", ""]
    for rle, mask in zip(submission["rle_mask"], masks):
        assert np.array_equal(rle_decode(rle), mask)


def test_submission_round_trips_through_csv(tmp_path):
    masks = (np.random.default_rng(0).random((4, 101, 101)) > 0.7).astype(np.uint8)
    make_submission(ImageStack(list("wxyz"), masks)).to_csv(tmp_path / "s.csv", index=False)
    loaded = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert all(np.array_equal(rle_decode(r), m) for r, m in zip(loaded["rle_mask"], masks))
