"""Outputs are written whole or not at all (runtime/atomic.py, the catalog of every run)."""

import os

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset

from explainable_salt.datasets import PNGSetDataset
from explainable_salt.runtime.atomic import STAGING_PREFIX, AtomicDataCatalog, publish, staging_path
from explainable_salt.settings import DATA_CATALOG_CLASS


def test_the_project_runs_with_the_atomic_catalog():
    assert DATA_CATALOG_CLASS is AtomicDataCatalog


def test_a_saved_file_replaces_the_previous_one_and_leaves_no_staging(tmp_path):
    catalog = AtomicDataCatalog({"table": CSVDataset(filepath=str(tmp_path / "table.csv"))})
    catalog.save("table", pd.DataFrame({"a": [1, 2]}))
    catalog.save("table", pd.DataFrame({"a": [3, 4, 5]}))
    assert catalog.load("table")["a"].tolist() == [3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_a_save_that_fails_half_way_leaves_the_previous_output_intact(tmp_path):
    report = tmp_path / "report.html"
    catalog = AtomicDataCatalog({"report": TextDataset(filepath=str(report))})
    catalog.save("report", "<p>first run</p>")
    # TextDataset opens the file, then fails on writing bytes: a plain save would leave it empty.
    with pytest.raises(DatasetError):
        catalog.save("report", b"not text")
    assert report.read_text() == "<p>first run</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_folder_output_is_replaced_whole(tmp_path):
    folder = tmp_path / "masks"
    catalog = AtomicDataCatalog({"masks": PNGSetDataset(folder=str(folder))})
    catalog.save("masks", {"a": np.zeros((5, 5), np.uint8), "b": np.full((5, 5), 255, np.uint8)})
    catalog.save("masks", {"c": np.zeros((5, 5), np.uint8)})
    assert sorted(p.name for p in folder.iterdir()) == ["c.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["masks"]


def test_staging_keeps_the_file_name_and_removes_what_killed_runs_left(tmp_path):
    left_by_a_killed_run = tmp_path / f"{STAGING_PREFIX}999999999-deadbeef"
    (left_by_a_killed_run / "x.json").parent.mkdir()
    (left_by_a_killed_run / "x.json").write_text("{")
    staged = staging_path(tmp_path / "x.json")
    assert staged.name == "x.json" and staged.parent.name.startswith(f"{STAGING_PREFIX}{os.getpid()}-")
    assert not left_by_a_killed_run.exists()
    staged.write_text("{}")
    publish(staged, tmp_path / "x.json")
    assert (tmp_path / "x.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
