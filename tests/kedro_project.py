"""Helpers that run the project's pipelines through a real KedroSession in a scratch copy."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import REPO
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from explainable_salt.storage.atomic import STAGING_PREFIX

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


def _assert_whole(path: Path) -> None:
    """``path`` reads back completely in its format."""
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".csv":
        pd.read_csv(path)
    elif path.suffix == ".parquet":
        pd.read_parquet(path)
    elif path.suffix == ".png":
        with Image.open(path) as image:
            image.load()
    elif path.suffix == ".html":
        assert path.read_text().rstrip().endswith("</html>"), path
    elif path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None, path
    elif path.name == "data.npy":
        data = np.load(path, mmap_mode="r")
        assert len(np.load(path.parent / "ids.npy")) == len(data), path


def assert_every_output_whole(project: Path) -> None:
    for path in sorted((project / "data").rglob("*")):
        outside_staging = not any(part.startswith(STAGING_PREFIX) for part in path.parts)
        if path.is_file() and "01_raw" not in path.parts and "checkpoints" not in path.parts and outside_staging:
            _assert_whole(path)


def assert_run_complete(project: Path) -> None:
    """After a finished ``kedro run --env quick``: every output whole, a submission row for every
    test id, explanations that add up, and no lock, staging folder or finished checkpoint left."""
    assert_every_output_whole(project)
    data = project / "data"
    submission = pd.read_csv(data / "07_model_output/submission.csv")
    test_ids = {p.stem for p in (data / "01_raw/test/images").glob("*.png")}
    assert set(submission["id"]) == test_ids and len(submission) == len(test_ids)
    checks = json.loads((data / "08_reporting/explanation_checks.json").read_text())
    assert checks["shapley.max_additivity_error"] < 1e-5
    assert not (data / ".kedro_run.lock").exists()
    assert not list(data.rglob(f"{STAGING_PREFIX}*"))
    assert not list((data / "06_models/checkpoints").rglob("state.json"))  # the finished run removed them
