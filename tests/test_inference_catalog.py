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


@pytest.mark.parametrize(("sections", "kind", "first_node", "last_nodes"), [
    (None, "png", "prepare_sections", set()),
    ("survey.SGY", "segy", "arrange_segy", {"seismic_volume", "seismic_quicklooks", "segy_outputs"}),
    ("volume.zarr", "xarray", "arrange_xarray", {"seismic_volume", "seismic_quicklooks"}),
    ("volume.nc", "xarray", "arrange_xarray", {"seismic_volume", "seismic_quicklooks"}),
])
def test_the_sections_suffix_chooses_the_inference_pipelines_first_and_last_nodes(sections, kind, first_node,
                                                                                 last_nodes):
    from explainable_salt.pipelines import inference

    assert inference.sections_kind(sections) == kind
    names = {n.name for n in inference.create_pipeline(kind=kind).nodes}
    assert first_node in names and last_nodes <= names
    assert not ({"prepare_sections", "arrange_segy", "arrange_xarray"} - {first_node}) & names
    assert not ({"seismic_volume", "seismic_quicklooks", "segy_outputs"} - last_nodes) & names


def test_every_dataset_of_the_seismic_pipelines_is_declared_with_a_layer(project):
    from explainable_salt.pipelines import inference

    catalog = _catalog(project)
    for kind in ("segy", "xarray"):
        used = {d for d in inference.create_pipeline(kind=kind).datasets() if not d.startswith("params:")}
        assert not sorted(d for d in used if d not in catalog)
        assert all(catalog.get(d).metadata["kedro-viz"]["layer"] for d in used if not d.endswith("_tracked"))


@pytest.mark.parametrize("name", ["survey.sgy", "volume.zarr"])
def test_a_users_seismic_file_is_raw_data_that_is_never_replaced(project, tmp_path, name):
    from kedro.io import DatasetError

    source = tmp_path / name
    source.mkdir() if name.endswith(".zarr") else source.write_bytes(b"the user's survey")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    catalog = _catalog(project, {"inference": {"sections": str(source)}})
    entry = "seismic_segy_raw" if name.endswith(".sgy") else "seismic_xarray_raw"
    with pytest.raises(DatasetError, match="raw data that already exists"):
        catalog.save(entry, np.zeros((2, 3), np.float32))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    if name.endswith(".sgy"):
        assert source.read_bytes() == b"the user's survey"
