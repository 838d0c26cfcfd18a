"""``kedro run --pipeline inference`` through a KedroSession, after a default run on the built-in data."""

import json

import numpy as np
import pandas as pd
import pytest
from kedro_project import kedro_run
from PIL import Image

from explainable_salt.tgs import synthetic

pytestmark = pytest.mark.integration

OUTPUT = "data/07_model_output/inference"


@pytest.fixture(scope="module")
def test_set_run(synthetic_project):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "inference")
    return synthetic_project


def test_the_inference_submission_of_the_test_set_is_the_default_runs(test_set_run):
    default = pd.read_csv(test_set_run / "data/07_model_output/submission.csv", keep_default_na=False)
    inferred = pd.read_csv(test_set_run / OUTPUT / "submission.csv", keep_default_na=False)
    assert len(inferred) == 10
    pd.testing.assert_frame_equal(inferred, default.sort_values("id", ignore_index=True))


def test_the_first_max_images_test_images_are_explained(test_set_run):
    explained = sorted(p.stem for p in (test_set_run / OUTPUT / "explanations").glob("*.npz"))
    test_ids = sorted(p.stem for p in (test_set_run / "data/01_raw/test/images").glob("*.png"))
    assert explained == test_ids[:10]  # 64 by default: all ten
    checks = json.loads((test_set_run / OUTPUT / "explanation_checks.json").read_text())
    assert checks["inference.max_additivity_error"] <= 1e-5


def test_a_folder_with_a_300_by_400_section_gets_a_stitched_mask_and_additive_contributions(
    test_set_run, tmp_path
):
    section = synthetic.generate(1, seed=4, shape_probabilities={"dome": 1.0}, size=(300, 400))
    Image.fromarray(section.images[0]).save(tmp_path / "line_7.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(test_set_run)
        kedro_run(test_set_run, "inference", params={"inference": {"sections": str(tmp_path)}})
    mask = np.asarray(Image.open(test_set_run / OUTPUT / "masks/line_7.png"))
    explanation = np.load(test_set_run / OUTPUT / "explanations/line_7.npz")
    assert mask.shape == (300, 400) and set(np.unique(mask)) <= {0, 255}
    assert explanation["contributions"].shape[:2] == (300, 400)
    residual = explanation["expected_value"] + explanation["contributions"].sum(axis=-1) - explanation["probability"]
    assert np.abs(residual).max() <= 1e-5
    submission = pd.read_csv(test_set_run / OUTPUT / "submission.csv", keep_default_na=False)
    assert list(submission["id"]) == ["line_7"]
