"""Outputs are written whole or not at all (storage/atomic.py, the catalog of every run)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset

from explainable_salt.datasets import PNGSetDataset
from explainable_salt.settings import DATA_CATALOG_CLASS
from explainable_salt.storage.atomic import STAGING_PREFIX, AtomicDataCatalog, publish, staging_path


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


def _saver(folder, name: str, hold: bool) -> subprocess.Popen:
    """A live process that stages ``name`` in ``folder``; with ``hold``, it says ``staged`` and waits
    for a line on its standard input before it writes and publishes."""
    code = f"""
import sys
from pathlib import Path
from explainable_salt.storage.atomic import publish, staging_path
target = Path({str(folder)!r}) / {name!r}
staged = staging_path(target)
print("staged", flush=True)
if {hold}:
    sys.stdin.readline()
staged.write_text("whole")
publish(staged, target)
print("published", flush=True)
"""
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            stderr=subprocess.DEVNULL)


def _said(output: str) -> list[str]:
    """The saver's own words in ``output`` (importing the package may log a line first)."""
    return [line for line in output.split() if line in ("staged", "published")]


def test_two_live_processes_saving_into_one_folder_keep_each_others_staging(tmp_path):
    first = _saver(tmp_path, "a.json", hold=True)
    while (line := first.stdout.readline()) and line.strip() != "staged":
        pass
    second = _saver(tmp_path, "b.json", hold=False)  # its staging_path sweeps the folder
    assert _said(second.communicate(timeout=60)[0]) == ["staged", "published"]
    out, _ = first.communicate("go\n", timeout=60)
    assert first.returncode == 0 and _said(out) == ["published"]
    assert (tmp_path / "a.json").read_text() == "whole" and (tmp_path / "b.json").read_text() == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_staging_of_a_reused_pid_is_removed_and_a_live_owners_is_kept(tmp_path):
    from explainable_salt.storage.atomic import owner_alive, process_start

    mine = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-{process_start(os.getpid())}-live0000"
    reused = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-1-deadbeef"  # this PID, another process's start
    for folder in (mine, reused):
        folder.mkdir()
    assert owner_alive(mine) and not owner_alive(reused)
    staging_path(tmp_path / "x.json")
    assert mine.exists() and not reused.exists()


def test_a_stack_written_short_is_refused_where_it_is_read_and_at_the_end_of_the_run(tmp_path):
    from kedro.framework.hooks.manager import _create_hook_manager
    from kedro.pipeline import Pipeline, node
    from kedro.runner import SequentialRunner

    from explainable_salt.datasets import ImageStackDataset
    from explainable_salt.hooks import DataProtectionHook
    from explainable_salt.stacks import ImageStack, StackChunk

    def chunks(total: int, yielded: int):
        """A generator node (Kedro streams only generator functions) yielding ``yielded`` of ``total``."""
        def write():
            for start in range(yielded):
                yield StackChunk(ImageStack(np.array([str(start)]), np.full((1, 2, 2), start, np.float32)), start, total)
        return write

    def stack_of(n: int) -> ImageStack:
        return ImageStack(np.array([str(i) for i in range(n)]), np.full((n, 2, 2), 9, np.float32))

    path = tmp_path / "stack"
    ImageStackDataset(str(path)).save(stack_of(3))  # the previous output
    hooks = _create_hook_manager()
    hooks.register(DataProtectionHook())

    def run(*nodes):
        catalog = AtomicDataCatalog({"stack": ImageStackDataset(str(path))})
        hooks.hook.before_pipeline_run(run_params={}, pipeline=Pipeline(list(nodes)), catalog=catalog)
        try:
            SequentialRunner().run(Pipeline(list(nodes)), catalog, hooks)
        except Exception as error:
            hooks.hook.on_pipeline_error(error=error, run_params={}, pipeline=None, catalog=catalog)
            raise
        hooks.hook.after_pipeline_run(run_params={}, run_result={}, pipeline=None, catalog=catalog)

    short = node(chunks(4, 2), None, "stack", name="write_short")
    with pytest.raises(DatasetError, match=r"stopped after 2 of 4 images"):
        run(short, node(lambda stack: len(stack), "stack", "count", name="read"))
    with pytest.raises(DatasetError, match=r"writing 'stack' stopped after 2 of its 4 images"):
        run(short)
    previous = ImageStackDataset(str(path)).load()
    assert len(previous) == 3 and float(previous.data.max()) == 9.0
    run(node(chunks(2, 2), None, "stack", name="write_whole"))
    assert ImageStackDataset(str(path)).load().ids.tolist() == ["0", "1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack"]
