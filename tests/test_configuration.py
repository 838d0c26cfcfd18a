"""Named configurations are Kedro environments that override single parameters of conf/base."""

import pytest
from conftest import REPO
from kedro.config import OmegaConfigLoader

from explainable_salt.settings import CONFIG_LOADER_ARGS


def _modelling(env: str) -> dict:
    loader = OmegaConfigLoader(str(REPO / "conf"), env=env, **{k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"})
    return loader["parameters"]["modelling"]


@pytest.mark.parametrize("env", ["quick", "gpu"])
def test_an_environment_keeps_the_base_parameters_it_does_not_name(env):
    base, named = _modelling("local"), _modelling(env)
    assert named["inference"] == base["inference"] and named["channels"] == base["channels"]
    assert named["training"]["stages"] != base["training"]["stages"]


def test_gpu_configuration_is_the_residual_unet_with_a_lovasz_stage():
    gpu = _modelling("gpu")
    assert gpu["architecture"] == "residual_unet" and gpu["model"]["residual_unet"]["use_scse"]
    assert [list(s["loss_weights"]) for s in gpu["training"]["stages"]] == [["bce", "dice"], ["lovasz"]]


def test_float32_cpu_configuration_halves_the_filters_and_keeps_the_default_training():
    base, cpu = _modelling("local"), _modelling("cpu_float32")
    assert cpu["model"]["unet"]["base_filters"] == 8 and base["model"]["unet"]["base_filters"] == 16
    assert cpu["model"]["unet"]["depth"] == base["model"]["unet"]["depth"]
    assert cpu["training"] == base["training"] and cpu["architecture"] == base["architecture"]


def test_cross_validation_has_one_fold_pipeline_per_configured_fold(tmp_path, monkeypatch):
    from kedro_project import scratch_project

    from explainable_salt.pipeline_registry import configured_n_folds, register_pipelines

    project = scratch_project(tmp_path)
    (project / "conf/local/parameters_data_engineering.yml").write_text("data_engineering:\n  n_folds: 3\n")
    assert configured_n_folds(project / "conf") == 3  # conf/local, the default run environment
    assert configured_n_folds(project / "conf", env="quick") == 5  # conf/base
    monkeypatch.chdir(project)
    namespaces = {n.namespace for n in register_pipelines()["cross_validation"].nodes if n.namespace}
    assert namespaces == {"fold_0", "fold_1", "fold_2"}


def test_the_synthetic_environment_trains_the_default_model_for_minutes():
    base, synthetic = _modelling("local"), _modelling("synthetic")
    assert synthetic["model"] == base["model"] and synthetic["architecture"] == base["architecture"]
    minutes = [s["max_minutes"] for s in synthetic["training"]["stages"]]
    assert sum(minutes) <= 5 < sum(s["max_minutes"] for s in base["training"]["stages"])


def _shaped_pipelines(project, env: str | None = None, params: dict | None = None) -> dict:
    """The pipelines as `kedro run [--env ENV] [--params ...]` builds them in ``project``."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        session.load_context()
        return dict(pipelines)


def _definitions(pipeline) -> set[str]:
    return {n.namespace for n in pipeline.nodes if n.name.endswith("explain_channels") and n.namespace}


def test_the_runs_environment_and_params_shape_the_pipelines_without_kedro_env(tmp_path, monkeypatch):
    from kedro_project import scratch_project

    monkeypatch.delenv("KEDRO_ENV", raising=False)
    project = scratch_project(tmp_path)
    monkeypatch.chdir(project)
    base = _shaped_pipelines(project)
    assert _definitions(base["explainability"]) == set()  # conf/base: the background game alone
    quick = _shaped_pipelines(project, env="quick")  # conf/quick lists four definitions
    assert _definitions(quick["explainability"]) == {"baseline", "blur", "conditional"}
    assert _definitions(quick["__default__"]) == {"baseline", "blur", "conditional"}
    given = _shaped_pipelines(project, env="quick", params={"explainability": {"absence": ["baseline", "background"]},
                                                             "data_engineering": {"n_folds": 2}})
    assert _definitions(given["explainability"]) == {"background"}  # baseline is the primary here
    assert {n.namespace for n in given["cross_validation"].nodes if n.namespace} == {"fold_0", "fold_1"}
    (project / "conf/local/parameters_explainability.yml").write_text("explainability:\n  absence: [baseline, blur]\n")
    assert _definitions(_shaped_pipelines(project)["explainability"]) == {"blur"}  # conf/local, the default env
