"""What a user gave the project is never overwritten (storage/raw_data.py), through every path a
user has: the synthetic generator from the command line, each runner, and a notebook's catalog."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError
from kedro.runner import ParallelRunner, ThreadRunner
from kedro_datasets.pandas import CSVDataset
from kedro_project import ENV, scratch_project

from explainable_salt.datasets import OptionalDataset, PNGSetDataset
from explainable_salt.hooks import UnsafeRunnerError
from explainable_salt.storage.atomic import AtomicDataCatalog
from explainable_salt.storage.raw_data import is_raw

KEDRO = str(Path(sys.executable).parent / "kedro")
RAW_LAYER = {"kedro-viz": {"layer": "raw"}}


def _digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder``, by relative path, with its SHA-256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_raw_is_what_the_catalog_declares_raw_or_what_lies_under_01_raw(tmp_path):
    assert is_raw(CSVDataset(filepath=str(tmp_path / "a.csv"), metadata=RAW_LAYER))
    assert is_raw(CSVDataset(filepath=str(tmp_path / "data/01_raw/a.csv")))
    assert is_raw(OptionalDataset(dataset={"type": "pandas.CSVDataset", "filepath": str(tmp_path / "01_raw/s.csv")}))
    assert not is_raw(CSVDataset(filepath=str(tmp_path / "data/08_reporting/a.csv")))


def test_an_existing_raw_table_is_never_replaced_by_a_save(tmp_path):
    table = tmp_path / "train.csv"
    table.write_text("id,rle_mask\nabc,1 5\n")
    catalog = AtomicDataCatalog({"train_rle": CSVDataset(filepath=str(table), metadata=RAW_LAYER)})
    with pytest.raises(DatasetError, match=r"Refusing to write 'train_rle'.*train\.csv.*never replaced"):
        catalog.save("train_rle", pd.DataFrame({"id": ["x"], "rle_mask": [""]}))
    assert table.read_text() == "id,rle_mask\nabc,1 5\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]


def test_an_absent_raw_table_is_written(tmp_path):
    catalog = AtomicDataCatalog({"depths": CSVDataset(filepath=str(tmp_path / "01_raw/depths.csv"),
                                                      save_args={"index": False})})
    catalog.save("depths", pd.DataFrame({"id": ["a"], "z": [5]}))
    assert (tmp_path / "01_raw/depths.csv").read_text().splitlines() == ["id,z", "a,5"]


def test_a_raw_folder_is_never_replaced_even_though_saves_are_staged(tmp_path):
    # The staging folder a save writes to is empty: the folder's own guard must not be what decides.
    folder = tmp_path / "data/01_raw/train/images"
    folder.mkdir(parents=True)
    (folder / "real.png").write_bytes(b"not overwritten")
    catalog = AtomicDataCatalog({"train_images_raw": PNGSetDataset(folder=str(folder), metadata=RAW_LAYER)})
    with pytest.raises(DatasetError, match="never replaced"):
        catalog.save("train_images_raw", {"synthetic": np.zeros((101, 101), np.uint8)})
    assert _digests(folder) == {"real.png": hashlib.sha256(b"not overwritten").hexdigest()}


@pytest.fixture(scope="module")
def real_layout_project(tmp_path_factory, tgs_dir):
    """A scratch project whose data/01_raw holds the real competition files as a user extracts them:
    train/images and train/masks (no train.zip), the CSVs, and test.zip as distributed."""
    project = scratch_project(tmp_path_factory.mktemp("real_layout"))
    raw = project / "data/01_raw"
    with zipfile.ZipFile(tgs_dir / "train.zip") as archive:
        archive.extractall(raw / "train")
    for name in ("train.csv", "depths.csv", "sample_submission.csv", "test.zip"):
        shutil.copy(tgs_dir / name, raw / name)
    assert len(list((raw / "train/images").glob("*.png"))) == 3200
    return project


def test_the_synthetic_generator_refuses_real_extracted_data_and_leaves_every_byte(real_layout_project):
    raw = real_layout_project / "data/01_raw"
    before = _digests(raw)
    result = subprocess.run([KEDRO, "run", "--env", ENV, "--pipeline", "synthetic_data"], check=False,
                            cwd=real_layout_project, capture_output=True, text=True,
                            env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})
    assert result.returncode != 0
    assert "Refusing to run: this pipeline writes raw data" in result.stdout + result.stderr
    assert _digests(raw) == before
    assert not list(raw.rglob(".partial-*"))


def _session_run(project: Path, **run_args) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=ENV) as session:
        session.run(**run_args)


def test_no_runner_writes_raw_data_over_a_users(real_layout_project, monkeypatch):
    monkeypatch.chdir(real_layout_project)
    raw = real_layout_project / "data/01_raw"
    before = _digests(raw)
    with pytest.raises(DatasetError, match="Refusing to run: this pipeline writes raw data"):
        _session_run(real_layout_project, pipeline_name="synthetic_data", runner=ThreadRunner())
    with pytest.raises(UnsafeRunnerError, match="ParallelRunner.*writes outputs in place"):
        _session_run(real_layout_project, pipeline_name="synthetic_data", runner=ParallelRunner())
    assert _digests(raw) == before


def test_a_notebooks_catalog_writes_whole_and_never_over_raw_data(real_layout_project, monkeypatch):
    # What `kedro jupyter` and `kedro ipython` hand a user as `catalog`.
    monkeypatch.chdir(real_layout_project)
    bootstrap_project(real_layout_project)
    raw = real_layout_project / "data/01_raw"
    before = _digests(raw)
    with KedroSession.create(project_path=real_layout_project, env=ENV) as session:
        catalog = session.load_context().catalog
    assert isinstance(catalog, AtomicDataCatalog)
    for name, data in [("train_rle", pd.DataFrame({"id": ["x"], "rle_mask": [""]})),
                       ("depths", pd.DataFrame({"id": ["x"], "z": [1]})),
                       ("train_images_raw", {"x": np.zeros((101, 101), np.uint8)})]:
        with pytest.raises(DatasetError, match="never replaced"):
            catalog.save(name, data)
    assert _digests(raw) == before
