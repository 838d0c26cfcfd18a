"""The inference pipeline's catalog: every dataset declared with a layer, the sections chosen by
``--params inference.sections=PATH``, and the registry's pipelines."""

import numpy as np
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import scratch_project
from PIL import Image

from explainable_salt.pipeline_registry import register_pipelines


def _catalog(project, runtime_params=None):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
            return session.load_context().catalog


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return scratch_project(tmp_path_factory.mktemp("inference_catalog"))


def test_every_dataset_of_the_inference_pipeline_is_declared_with_a_layer(project):
    catalog = _catalog(project)
    used = {d for d in register_pipelines()["inference"].datasets() if not d.startswith("params:")}
    assert not sorted(d for d in used if d not in catalog)
    assert all(catalog.get(d).metadata["kedro-viz"]["layer"] for d in used if not d.endswith("_tracked"))


def test_by_default_the_sections_are_the_competition_test_set(project):
    described = _catalog(project).get("inference_images_raw")._describe()
    assert described["archive"] == "data/01_raw/test.zip" and described["folder"] == "data/01_raw/test/images"


def test_a_folder_named_by_a_parameter_is_read_instead(project, tmp_path):
    Image.fromarray(np.full((300, 400), 7, np.uint8)).save(tmp_path / "section_1.png")
    catalog = _catalog(project, {"inference": {"sections": str(tmp_path)}})
    sections = catalog.load("inference_images_raw")
    assert list(sections) == ["section_1"] and sections["section_1"].shape == (300, 400)


def test_the_default_run_is_the_five_stages_and_inference_is_apart():
    pipelines = register_pipelines()
    stages = ["data_engineering", "feature_engineering", "modelling", "explainability", "reporting"]
    assert set(pipelines["__default__"].nodes) == set().union(*(pipelines[s].nodes for s in stages))
    assert not set(pipelines["inference"].nodes) & set(pipelines["__default__"].nodes)
