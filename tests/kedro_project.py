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

# Settings small enough for a unit-test budget: a tiny U-Net, two epochs, a few explanations.
QUICK_PARAMS = {
    "synthetic_data": {"n_train": 60, "n_test": 10},
    "modelling": {
        "model": {"depth": 2, "base_filters": 4},
        "training": {
            "stages": [{"loss_weights": {"bce": 1.0, "dice": 1.0}, "epochs": 2, "learning_rate": 0.002}],
            "batch_size": 16,
        },
    },
    "explainability": {"max_images": 4, "background": {"size": 2}, "showcase": {"n_images": 3}, "pixel_maps": {"n_samples": 4}},
}


def scratch_project(root: Path) -> Path:
    """A copy of the project's configuration with an empty data tree under ``root``."""
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    (root / "src").mkdir()  # bootstrap_project wants it; the package itself is installed
    for layer in LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    return root


def kedro_run(project: Path, pipeline_name: str | None = None, params: dict | None = None, runner=None) -> None:
    """``kedro run [--pipeline NAME] [--runner R]`` in ``project`` (the caller must chdir there first)."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=params or QUICK_PARAMS) as session:
        session.run(pipeline_name=pipeline_name, runner=runner)
