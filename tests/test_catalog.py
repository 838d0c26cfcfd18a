"""Every dataset the pipelines use is declared in conf/base/catalog: nothing falls back silently
to an in-memory dataset, and every entry carries its kedro-viz layer."""

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import scratch_project

from explainable_salt.pipeline_registry import register_pipelines


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    project = scratch_project(tmp_path_factory.mktemp("catalog"))  # keeps the repo free of run files
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        bootstrap_project(project)
        with KedroSession.create(project_path=project) as session:
            return session.load_context().catalog


@pytest.mark.parametrize("pipeline", ["__default__", "synthetic_data"])
def test_every_dataset_of_the_pipelines_is_declared(catalog, pipeline):
    used = {d for d in register_pipelines()[pipeline].datasets() if not (d == "parameters" or d.startswith("params:"))}
    undeclared = sorted(d for d in used if d not in catalog)
    assert not undeclared, f"not in conf/base/catalog (would be in-memory only): {undeclared}"


def test_every_dataset_has_a_kedro_viz_layer(catalog):
    used = {d for d in register_pipelines()["__default__"].datasets() if not (d == "parameters" or d.startswith("params:"))}
    unlayered = sorted(d for d in used if not (catalog.get(d).metadata or {}).get("kedro-viz", {}).get("layer"))
    assert not unlayered
