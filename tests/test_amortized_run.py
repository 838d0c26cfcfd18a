"""``explainability.estimator: amortized`` end to end on the quick configuration: the explainer's
labels and training in the explainability pipeline, its values in the report and the explorer with
their measured error, and the inference pipeline's sections explained by it."""

import html
import json
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro_project import kedro_run
from PIL import Image

from explainable_salt.attribution.amortized import explainer_expected_value
from explainable_salt.datasets import ImageStackDataset
from explainable_salt.segmentation.tiling import blend, plan_tiles
from explainable_salt.tgs import synthetic

pytestmark = pytest.mark.integration

AMORTIZED = {"explainability": {"estimator": "amortized"}}


@pytest.fixture(scope="module")
def amortized_run(synthetic_project, tmp_path_factory):
    """A copy of the default quick run, its explainability and reporting run again amortized."""
    project = tmp_path_factory.mktemp("amortized") / "project"
    shutil.copytree(synthetic_project, project, ignore=shutil.ignore_patterns("mlflow.db", ".run.lock"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        kedro_run(project, "explainability", params=AMORTIZED)
        kedro_run(project, "reporting", params=AMORTIZED)
    return project


def _stack(project, name):
    return ImageStackDataset(str(project / "data" / name)).load()


def test_the_explainer_is_trained_on_independent_draw_labels_and_saved(amortized_run):
    labels = _stack(amortized_run, "05_model_input/amortized_explainer_labels")
    validation = _stack(amortized_run, "05_model_input/amortized_explainer_validation_labels")
    channels = json.loads((amortized_run / "data/06_models/salt_model_channels.json").read_text())
    assert labels.data.shape == (8, 101, 101, len(channels)) and labels.channels == tuple(channels)
    assert validation.data.shape == (4, 101, 101, 2 * len(channels))
    assert validation.channels == tuple(f"{c}@{d}" for d in (1, 2) for c in channels)
    first, second = np.split(validation.data, 2, axis=-1)
    assert np.abs(first - second).mean() > 1e-4  # two independent draws, not one label twice
    explainer = keras.models.load_model(amortized_run / "data/06_models/amortized_explainer.keras", compile=False)
    assert explainer.output_shape == (None, 101, 101, len(channels))
    metrics = json.loads((amortized_run / "data/08_reporting/amortized_explainer_metrics.json").read_text())
    assert metrics["amortized.n_labels"] == 8 and metrics["amortized.n_validation"] == 4
    assert metrics["amortized.n_references"] == 2  # conf/quick: background.size
    assert metrics["amortized.relative_error"] > 0 and metrics["amortized.label_relative_error"] > 0
    assert {f"amortized.{c}.{name}" for c in channels for name in ("rmse", "rmse_high", "label_rmse")} <= set(metrics)
    for c in channels:
        assert metrics[f"amortized.{c}.rmse_high"] >= metrics[f"amortized.{c}.rmse"]


def test_the_primary_values_are_the_explainers_additive_and_carry_its_measured_error(amortized_run):
    output, reporting = amortized_run / "data/07_model_output", amortized_run / "data/08_reporting"
    phi = _stack(amortized_run, "07_model_output/channel_contributions")
    expected = _stack(amortized_run, "07_model_output/expected_value_map").data[0]
    probabilities = _stack(amortized_run, "07_model_output/explained_probabilities").data
    explainer = keras.models.load_model(amortized_run / "data/06_models/amortized_explainer.keras", compile=False)
    np.testing.assert_array_equal(expected, explainer_expected_value(explainer))  # the explainer's v(∅)
    assert np.abs(expected + phi.data.sum(axis=-1) - probabilities).max() <= 1e-5
    checks = json.loads((reporting / "explanation_checks.json").read_text())
    assert checks["shapley.amortized"] == 1 and checks["shapley.exact"] == 0
    assert checks["shapley.n_references"] == 4  # the error's sample: the validation images
    metrics = json.loads((reporting / "amortized_explainer_metrics.json").read_text())
    error = ImageStackDataset(str(output / "contribution_standard_error")).load()
    assert error.data.shape == phi.data.shape
    for c, channel in enumerate(phi.channels):  # each channel's measured error (its interval's top), at every pixel
        np.testing.assert_allclose(error.data[..., c], metrics[f"amortized.{channel}.rmse_high"], rtol=1e-6)
    assert _stack(amortized_run, "07_model_output/channel_interactions").channels == ()
    # the other definitions of conf/quick stay exact
    baseline = json.loads((reporting / "baseline/explanation_checks.json").read_text())
    assert baseline["shapley.baseline.exact"] == 1


def test_the_report_and_explorer_label_the_values_amortized_with_their_error(amortized_run):
    reporting = amortized_run / "data/08_reporting"
    significance = pd.read_csv(reporting / "explanation_significance.csv")
    primary = significance[significance["definition"] == "background"]
    assert primary["sampling_error"].str.startswith("amortized explainer").all()
    assert (primary["t_quantile"].round(2) == 3.18).all()  # 4 validation images: 3 degrees of freedom
    metrics = json.loads((reporting / "amortized_explainer_metrics.json").read_text())
    percent = f"{100 * metrics['amortized.relative_error']:.0f} % of mean |φ|"
    assert percent in primary["sampling_error"].iloc[0]
    report = html.unescape((reporting / "report.html").read_text())
    assert "amortized explainer: root-mean-square error" in report
    explorer = (reporting / "explorer.html").read_text()
    assert "amortized explainer: root-mean-square error" in explorer


def test_the_inference_pipeline_explains_sections_with_the_amortized_explainer(amortized_run, tmp_path):
    section = synthetic.generate(1, seed=4, shape_probabilities={"dome": 1.0}, size=(202, 303))
    Image.fromarray(section.images[0]).save(tmp_path / "line_3.png")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(amortized_run)
        kedro_run(amortized_run, "inference", params={**AMORTIZED, "inference": {"sections": str(tmp_path)}})
    output = amortized_run / "data/07_model_output/inference"
    explanation = np.load(output / "explanations/line_3.npz")
    explainer = keras.models.load_model(amortized_run / "data/06_models/amortized_explainer.keras", compile=False)
    # every tile shares the explainer's v(∅) (no background drawn): the stitched map is its blend
    overlap = yaml.safe_load((amortized_run / "conf/base/parameters_inference.yml").read_text())["inference"]
    tiling = plan_tiles((202, 303), overlap["tile_overlap"])
    v0 = np.broadcast_to(explainer_expected_value(explainer), (len(tiling.origins), 101, 101))
    assert explanation["contributions"].shape[:2] == (202, 303)
    np.testing.assert_allclose(explanation["expected_value"], blend(v0, tiling)[0], atol=1e-6)
    residual = explanation["expected_value"] + explanation["contributions"].sum(axis=-1) - explanation["probability"]
    assert np.abs(residual).max() <= 1e-5
    checks = json.loads((output / "explanation_checks.json").read_text())
    assert checks["inference.amortized"] == 1



def test_labels_made_for_another_model_or_draw_stop_the_fit_and_leave_the_explainer_as_it_was(amortized_run, tmp_path):
    """``kedro run --from-nodes fit_amortized_explainer`` resumes from saved labels; labels drawn
    with another K, pool or seed are refused by their own settings, and labels of a model saved
    since by the lineage hook; each time naming what to rerun, the explainer on disk unchanged."""
    from explainable_salt.storage.lineage import StaleArtifactError

    project = tmp_path / "project"
    shutil.copytree(amortized_run, project, ignore=shutil.ignore_patterns("mlflow.db", ".run.lock"))
    explainer_path = project / "data/06_models/amortized_explainer.keras"
    explainer_before = explainer_path.read_bytes()
    settings = json.loads((project / "data/05_model_input/amortized_explainer_label_settings.json").read_text())
    assert settings == {"pool": 16, "references": 2, "seed": 29}  # conf/quick, and base's seed
    fit = ["fit_amortized_explainer"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        for changed, name in [({"background": {"size": 3}}, "references"), ({"amortized": {"pool": 12}}, "pool"),
                              ({"amortized": {"seed": 30}}, "seed")]:
            params = {"explainability": {"estimator": "amortized", **changed}}
            with pytest.raises(ValueError, match=rf"other .*{name}.* run label_amortized_explainer again"):
                kedro_run(project, "explainability", params=params, node_names=fit)
        model_path = project / "data/06_models/salt_model.keras"  # saved again, as a retraining would
        keras.models.load_model(model_path, compile=False).save(model_path)
        with pytest.raises(StaleArtifactError) as error:
            kedro_run(project, "explainability", params=AMORTIZED, node_names=fit)
        assert "amortized_explainer_labels" in error.value.stale and tuple(error.value.rerun) == ("label_amortized_explainer",)
    assert explainer_path.read_bytes() == explainer_before
