"""Helpers that run the project's pipelines through a real KedroSession in a scratch copy."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import REPO
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

LAYERS = (
    "01_raw", "02_intermediate", "03_primary", "04_feature",
    "05_model_input", "06_models", "07_model_output", "08_reporting",
)

# Every run of the tests uses the named configuration `quick` (conf/quick): a tiny U-Net, two
# epochs, a few explanations.
ENV = "quick"


def scratch_project(root: Path) -> Path:
    """A copy of the project's configuration with an empty data tree under ``root``."""
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    return root


def kedro_run(project: Path, pipeline_name: str | None = None, params: dict | None = None, runner=None,
              node_names: list[str] | None = None) -> None:
    """``kedro run --env quick [--pipeline NAME] [--params P] [--runner R] [--nodes N]`` in
    ``project`` (the caller must chdir there first)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV, runtime_params=params) as session:
        session.run(pipeline_name=pipeline_name, runner=runner, node_names=node_names)
