"""The explorer and the kedro-viz previews in a finished run (the built-in synthetic data,
`quick` settings): written to 08_reporting, logged to MLflow, previewable in kedro-viz."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import ENV

pytestmark = pytest.mark.integration

# The report's main figures and tables: kedro-viz shows each from the run's files.
FIGURES = ["channel_contributions_figure", "additive_build_up_figure", "importance_by_group_figure",
           "segmentation_examples_figure", "metric_by_coverage_figure", "deletion_curves_figure"]
TABLES = ["per_image_metrics", "global_importance", "deletion_curves", "training_history"]
JSON = ["evaluation_metrics", "importance_metrics", "explanation_checks"]


def test_the_run_writes_the_explorer_of_every_explained_image(synthetic_project):
    html = (synthetic_project / "data/08_reporting/explorer.html").read_text()
    explained = np.load(synthetic_project / "data/07_model_output/channel_contributions/ids.npy")
    assert len(explained) == 4  # fewer than n_images: all are shown
    assert all(f'"{image_id}"' in html for image_id in explained)


def test_the_explorer_is_an_artifact_of_the_runs_mlflow_run(synthetic_project):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{synthetic_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("explainable-salt")
    run = next(r for r in client.search_runs([experiment.experiment_id]) if r.info.run_name == "__default__")
    assert "explorer.html" in {a.path for a in client.list_artifacts(run.info.run_id)}


@pytest.fixture(scope="module")
def previews(synthetic_project):
    """kedro-viz's metadata panel of each dataset, as `kedro viz` builds it."""
    from kedro_viz.models.flowchart.node_metadata import DataNodeMetadata
    from kedro_viz.models.flowchart.nodes import GraphNode

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        bootstrap_project(synthetic_project)
        with KedroSession.create(project_path=synthetic_project, env=ENV) as session:
            catalog = session.load_context().catalog
            panels = {}
            for name in FIGURES + TABLES + JSON:
                node = GraphNode.create_data_node(name, name, "reporting", set(), catalog.get(name), set())
                panels[name] = (DataNodeMetadata(data_node=node), node.get_preview_args())
            return panels


@pytest.mark.parametrize("name", FIGURES)
def test_kedro_viz_previews_the_main_figures_as_images(previews, name):
    metadata, _ = previews[name]
    assert metadata.preview_type == "ImagePreview"
    assert metadata.preview.startswith("iVBORw0KGgo")  # a base64 PNG


@pytest.mark.parametrize("name", TABLES)
def test_kedro_viz_previews_the_main_tables_with_the_configured_rows(previews, name):
    metadata, args = previews[name]
    assert metadata.preview_type == "TablePreview"
    assert 0 < len(metadata.preview["data"]) <= args["nrows"] and metadata.preview["columns"]


@pytest.mark.parametrize("name", JSON)
def test_kedro_viz_previews_the_metrics_as_json(previews, name):
    metadata, _ = previews[name]
    assert metadata.preview_type == "JSONPreview" and metadata.preview
