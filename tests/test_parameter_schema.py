"""One schema checks every parameter of every environment at the start of a run (configuration/schema.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_project import scratch_project

from explainable_salt.configuration.loader import EnvironmentConfigLoader
from explainable_salt.configuration.schema import ParameterError, check_parameters, parameter_files
from explainable_salt.segmentation.models import build_configured_model
from explainable_salt.settings import CONFIG_LOADER_ARGS

ENVIRONMENTS = sorted(p.name for p in (REPO / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local"))


def _parameters(env: str) -> dict:
    return EnvironmentConfigLoader(str(REPO / "conf"), env=env, **CONFIG_LOADER_ARGS)["parameters"]


@pytest.mark.parametrize("env", ["base", *ENVIRONMENTS])
def test_every_environment_fits_the_schema(env):
    check_parameters(_parameters(env), parameter_files(REPO / "conf", env))


def _leaves(tree: dict, prefix: tuple = ()) -> dict[tuple, object]:
    leaves = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            leaves |= _leaves(value, (*prefix, key))
        else:
            leaves[(*prefix, key)] = value
    return leaves


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_an_environment_holds_only_what_differs_from_base(env):
    base = _leaves(_parameters("base"))
    for path in sorted((REPO / "conf" / env).glob("parameters*.yml")):
        for key, value in _leaves(yaml.safe_load(path.read_text()) or {}).items():
            assert key in base, f"{path}: {'.'.join(key)} is not a base parameter"
            assert value != base[key], f"{path}: {'.'.join(key)} repeats the base value {value!r}"


def test_the_amortized_estimator_needs_the_background_game_first_and_a_pool_for_its_draws():
    params = _parameters("base")
    explainability = params["explainability"]
    explainability["absence"] = ["baseline", "background"]
    check_parameters(params)  # exact: any primary but blur
    explainability["estimator"] = "amortized"
    with pytest.raises(ParameterError, match="background first"):
        check_parameters(params)
    explainability["absence"] = ["background"]
    explainability["background"]["size"] = explainability["amortized"]["pool"] + 1
    with pytest.raises(ParameterError, match="amortized.pool"):
        check_parameters(params)
    explainability["background"]["size"] = 8
    explainability["background"]["method"] = "kmeans"
    with pytest.raises(ParameterError, match="background.method must be random"):
        check_parameters(params)
    explainability["background"]["method"] = "random"
    assert check_parameters(params).explainability.estimator == "amortized"
    explainability["estimator"] = "fast"
    with pytest.raises(ParameterError, match="estimator"):
        check_parameters(params)


def _context(project: Path, env: str | None = None, params: dict | None = None):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env, runtime_params=params) as session:
        return session.load_context()


def test_a_misspelt_key_stops_the_run_naming_the_file_and_the_key(tmp_path, monkeypatch):
    project = scratch_project(tmp_path)
    monkeypatch.chdir(project)
    (project / "conf/local/parameters_modelling.yml").write_text("modelling:\n  training:\n    batch_sise: 8\n")
    with pytest.raises(ParameterError) as refused:
        _context(project)
    assert f"{project / 'conf/local/parameters_modelling.yml'}: modelling.training.batch_sise: unknown key" in str(
        refused.value)


def test_a_wrong_type_stops_the_run_naming_the_file_and_the_key(tmp_path, monkeypatch):
    project = scratch_project(tmp_path)
    monkeypatch.chdir(project)
    (project / "conf/quick/parameters_explainability.yml").write_text("explainability:\n  max_images: many\n")
    with pytest.raises(ParameterError, match=r"conf/quick/parameters_explainability\.yml: explainability\.max_images"):
        _context(project, env="quick")


def test_a_value_given_with_params_is_named_as_given_there(tmp_path, monkeypatch):
    project = scratch_project(tmp_path)
    monkeypatch.chdir(project)
    with pytest.raises(ParameterError, match=r"--params: modelling\.training\.batch_size"):
        _context(project, params={"modelling": {"training": {"batch_size": 0}}})
    with pytest.raises(ParameterError, match=r"--params: explainability\.absence"):
        _context(project, params={"explainability": {"absence": ["blur", "background"]}})  # blur cannot be primary


def test_kedro_run_refuses_a_misspelt_param_before_any_node(tmp_path):
    project = scratch_project(tmp_path)
    result = subprocess.run([str(Path(sys.executable).parent / "kedro"), "run", "--env", "quick", "--params",
                             "explainability.max_imagse=3"], check=False, cwd=project, capture_output=True, text=True,
                            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "--params: explainability.max_imagse: unknown key (misspelt?)" in output
    assert "Running node" not in output


@pytest.mark.parametrize(("architecture", "block"), [
    ("unet", {"depth": 1, "base_filters": 2, "batch_norm": True, "dropout": 0.0, "kernel_size": 3, "padding": "zero"}),
    ("residual_unet", {"depth": 1, "base_filters": 2, "batch_norm": True, "dropout": 0.0, "kernel_size": 3,
                       "padding": "reflect", "use_scse": True}),
    ("vgg16_unet", {"weights_path": None, "batch_norm": False, "padding": "reflect", "decoder_filters": 2}),
])
def test_each_architecture_builds_from_its_own_block(architecture, block):
    modelling = {**_parameters("base")["modelling"], "architecture": architecture, "dtype_policy": "float32"}
    modelling["model"] = {**modelling["model"], architecture: block}
    check_parameters({**_parameters("base"), "modelling": modelling})
    model = build_configured_model(modelling, input_channels=4, seed=0)
    assert model.name.startswith(architecture.split("_unet")[0]) and model.output_shape == (None, 101, 101, 1)


def test_a_plateau_stage_needs_its_patience_and_a_cosine_stage_refuses_one():
    params = _parameters("base")
    stage = {"loss_weights": {"bce": 1.0}, "epochs": 2, "learning_rate": 0.01}
    for wrong in ({**stage, "schedule": "plateau"}, {**stage, "schedule": "cosine", "patience": 3}):
        params["modelling"]["training"]["stages"] = [wrong]
        with pytest.raises(ParameterError, match=r"modelling\.training\.stages\.0: Value error, patience"):
            check_parameters(params)
