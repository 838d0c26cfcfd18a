"""Lineage through whole runs (storage/lineage.py): a partial rerun that leaves older artifacts
beside newer ones stops the node where they meet, naming the node whose rerun mends it.

Each scenario starts from a copy of the finished quick run (``synthetic_project``) and reruns only
part of it, as a user (or a crash) would."""

from __future__ import annotations

import shutil

import pytest
from kedro_project import kedro_run

from explainable_salt.storage.lineage import StaleArtifactError

pytestmark = pytest.mark.integration

RETRAIN = {"modelling": {"training": {"seed": 7}}}


def _run(project, pipeline_name, node_names, params=None):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        kedro_run(project, pipeline_name, params=params, node_names=node_names)


def _copy(project, tmp_path_factory, name):
    return shutil.copytree(project, tmp_path_factory.mktemp(name) / "project")


@pytest.fixture(scope="module")
def refitted(synthetic_project, tmp_path_factory):
    """The finished run after the normaliser was refitted (standard instead of robust scaling) and
    only the test split's channels rebuilt with it: the model is older than the normaliser."""
    project = _copy(synthetic_project, tmp_path_factory, "refitted")
    _run(project, "feature_engineering", ["fit_channel_normaliser", "build_model_inputs_test"],
         params={"feature_engineering": {"normalisation": "standard"}})
    return project


@pytest.fixture(scope="module")
def retrained(synthetic_project, tmp_path_factory):
    """The finished run after the model was retrained with another seed and its decision rule
    retuned: every explanation is of the older model."""
    project = _copy(synthetic_project, tmp_path_factory, "retrained")
    _run(project, "modelling", ["train_model", "tune_decision_rule"], params=RETRAIN)
    return project


def test_test_predictions_from_a_model_older_than_the_normaliser_name_the_channels_to_rebuild(refitted):
    # The model and the test channels share no input directly: they meet through the normaliser.
    with pytest.raises(StaleArtifactError, match=r"--from-nodes build_model_inputs`") as error:
        _run(refitted, "modelling", ["predict_test_masks"])
    assert "salt_model" in error.value.stale
    assert error.value.rerun == ("build_model_inputs",)


def test_section_predictions_from_a_model_older_than_the_normaliser_name_the_channels_to_rebuild(refitted):
    # predict_sections reads the new normaliser itself and a model made (two steps back) from the old one.
    with pytest.raises(StaleArtifactError, match=r"(?s)'salt_model'.*--from-nodes build_model_inputs`") as error:
        _run(refitted, "inference", None)
    assert error.value.rerun == ("build_model_inputs",)


def test_figures_of_old_explanations_with_a_new_decision_rule_name_the_explanations_to_redo(retrained):
    # The location maps and the probabilities drawn with them both come from the old model: rerunning
    # map_salt_locations alone would leave the probabilities stale, so explain_channels is named.
    with pytest.raises(StaleArtifactError, match=r"--from-nodes explain_channels`") as error:
        _run(retrained, "reporting", ["plot_salt_location_maps"])
    assert {"salt_location_maps", "explained_probabilities"} <= set(error.value.stale)
    assert error.value.rerun == ("explain_channels",)


def test_re_explaining_after_retraining_stops_only_what_was_made_from_the_old_explanations(
    retrained, tmp_path_factory
):
    project = _copy(retrained, tmp_path_factory, "re_explained")
    _run(project, "explainability", ["explain_channels"])
    # The global importance (a table) still ranks the channels of the old explanations.
    with pytest.raises(StaleArtifactError, match=r"(?s)'global_importance'.*--from-nodes analyse_importance`") as error:
        _run(project, "explainability", ["compute_deletion_curves"])
    assert error.value.stale == ("global_importance",) and error.value.rerun == ("analyse_importance",)
    # The per-image metrics (a table) still score the old model with the old rule.
    with pytest.raises(StaleArtifactError, match=r"(?s)'per_image_metrics'.*--from-nodes evaluate_model`") as error:
        _run(project, "reporting", ["plot_segmentation_examples"])
    assert error.value.stale == ("per_image_metrics",) and error.value.rerun == ("evaluate_model",)
    # The new explanations with the new rule, and what is remade from them, go through.
    _run(project, "explainability", ["analyse_importance", "compute_deletion_curves"])
