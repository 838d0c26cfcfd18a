import numpy as np
import pandas as pd

from explainable_salt.pipelines.modelling.nodes import make_submission
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.rle import rle_decode


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
