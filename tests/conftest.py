"""Shared fixtures: small synthetic raw data, and the real TGS copy beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from explainable_salt.tgs import synthetic

REPO = Path(__file__).resolve().parents[1]
# The real competition files: $TGS_DATA_DIR, by default ../shared/tgs beside the repository (what CI has).
TGS_DIR = Path(os.environ.get("TGS_DATA_DIR", REPO.parent / "shared" / "tgs"))
# Small real SEG-Y files and a raw salt section (its README gives sources and terms): ../shared/seismic.
SEISMIC_DIR = Path(os.environ.get("SEISMIC_DATA_DIR", REPO.parent / "shared" / "seismic"))
# The salt-shape frequencies of the built-in dataset, as configured.
SHAPES = yaml.safe_load((REPO / "conf/base/parameters_synthetic_data.yml").read_text())["synthetic_data"][
    "shape_probabilities"]

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _shared_folder(folder: Path, marker: str, what: str, variable: str) -> Path:
    """``folder`` when it holds ``marker``; else a failure under CI=true, a skip elsewhere."""
    if (folder / marker).is_file():
        return folder
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but the {what} is missing at {folder} (set {variable})")
    pytest.skip(f"{what} not found at {folder} (set {variable})")


@pytest.fixture(scope="session")
def tgs_dir() -> Path:
    """The real competition files; a failure under CI=true when absent, a skip elsewhere."""
    return _shared_folder(TGS_DIR, "train.zip", "real TGS data", "TGS_DATA_DIR")


@pytest.fixture(scope="session")
def seismic_dir() -> Path:
    """The real seismic files; a failure under CI=true when absent, a skip elsewhere."""
    return _shared_folder(SEISMIC_DIR, "f3.sgy", "real seismic data", "SEISMIC_DATA_DIR")


@pytest.fixture(scope="session")
def synthetic_raw():
    """The five raw datasets of a 40 + 8 image synthetic set, as the catalog loads them."""
    train = synthetic.generate(40, seed=1, shape_probabilities=SHAPES)
    test = synthetic.generate(8, seed=2, shape_probabilities=SHAPES)
    return synthetic.competition_layout(train, test)


@pytest.fixture
def raw(synthetic_raw):
    """A fresh, mutable copy of :func:`synthetic_raw` for tests that corrupt it."""
    images, masks, rle, depths, test = synthetic_raw
    return (
        {k: v.copy() for k, v in images.items()},
        {k: v.copy() for k, v in masks.items()},
        rle.copy(),
        depths.copy(),
        {k: v.copy() for k, v in test.items()},
    )



@pytest.fixture(scope="session")
def synthetic_project(tmp_path_factory):
    """A scratch project after ``kedro run --pipeline synthetic_data`` and a default ``kedro run``
    with the quick test settings: shared by the tests that read a finished run."""
    from kedro_project import kedro_run, scratch_project

    project = scratch_project(tmp_path_factory.mktemp("synthetic"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        kedro_run(project, "synthetic_data")
        kedro_run(project)
    return project
