"""``make run`` decides from ``raw_state`` whether to generate data, run, or stop."""

import subprocess
import sys

from explainable_salt.tgs.raw_layout import raw_state


def test_an_empty_raw_folder_is_empty_even_with_its_gitkeep(tmp_path):
    (tmp_path / ".gitkeep").touch()
    assert raw_state(tmp_path) == ("empty", [])
    assert raw_state(tmp_path / "absent") == ("empty", [])


def test_zips_or_extracted_folders_make_a_complete_layout(tmp_path):
    for name in ("train.csv", "depths.csv", "train.zip"):
        (tmp_path / name).touch()
    (tmp_path / "test/images").mkdir(parents=True)
    assert raw_state(tmp_path) == ("complete", [])


def test_a_partial_layout_lists_what_is_missing_and_make_run_stops_on_it(tmp_path):
    (tmp_path / "train.csv").touch()
    (tmp_path / "train/images").mkdir(parents=True)
    state, missing = raw_state(tmp_path)
    assert state == "partial"
    assert missing == ["depths.csv", "train.zip or train/masks", "test.zip or test/images"]
    run = subprocess.run([sys.executable, "-m", "explainable_salt.tgs.raw_layout", str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 1 and "depths.csv, train.zip or train/masks" in run.stderr and not run.stdout
