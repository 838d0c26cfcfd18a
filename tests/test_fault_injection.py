"""A small end-to-end run killed with SIGKILL at several points, then rerun (issue: nothing lost).

Each kill comes the moment the run logs a given step (a dataset starting to be written, an epoch
beginning), so it lands in the middle of real work. After every kill each output in data/ is whole
(an earlier version or a complete new one, never half written); the rerun of the same command
resumes the training from its checkpoint, and the last rerun finishes with every output complete
and consistent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kedro_project import assert_every_output_whole, assert_run_complete

pytestmark = pytest.mark.integration

KEDRO = [str(Path(sys.executable).parent / "kedro"), "run", "--env", "quick"]

# (what is running when the kill comes, the log line that triggers it)
KILL_POINTS = [
    ("attributes", "Saving data to model_inputs_test"),
    ("training", "Epoch 2/2"),
    ("prediction", "Saving data to test_masks_predicted"),
    ("explanations", "Saving data to channel_contributions"),
    ("reporting", "Saving data to report"),
]


def _run_until(project: Path, trigger: str | None) -> str:
    """Run ``kedro run --env quick`` in ``project``; with a ``trigger``, SIGKILL it as soon as a line
    of its output contains it. Returns the output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(KEDRO, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if trigger and trigger in line:
            process.send_signal(signal.SIGKILL)
            break
    process.stdout.close()
    code = process.wait(timeout=900)
    output = "".join(lines)
    if trigger:
        assert code == -signal.SIGKILL, f"the run ended ({code}) before {trigger!r}:\n{output[-3000:]}"
    else:
        assert code == 0, output[-5000:]
    return output


def test_a_run_killed_at_each_stage_and_rerun_loses_nothing(tmp_path):
    from kedro_project import scratch_project

    project = scratch_project(tmp_path)
    # In a process of its own, like every run here (an untracked pipeline run in a process that has
    # tracked another project's run trips kedro-mlflow's per-process state).
    subprocess.run([*KEDRO, "--pipeline", "synthetic_data"], cwd=project, check=True, capture_output=True,
                   env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"})

    for stage, trigger in KILL_POINTS:
        output = _run_until(project, trigger)
        assert_every_output_whole(project)
        if stage == "training":  # killed after the first epoch: a checkpoint is there to resume
            state = json.loads((project / "data/06_models/checkpoints/quick/salt_model/state.json").read_text())
            assert state["epoch"] == 1 and not state["complete"]
        if stage == "prediction":  # the rerun after the training kill resumed instead of starting over
            assert "Resuming training from the checkpoint" in output and "stage 1 after 1 of its epochs" in output

    _run_until(project, None)
    assert_run_complete(project)
    # `--env quick` alone shapes the pipelines: conf/quick's four definitions of absence each wrote theirs.
    for definition in ("baseline", "blur", "conditional"):
        assert (project / "data/07_model_output" / definition / "channel_contributions/data.npy").is_file()
    # The MLflow runs of the killed runs were marked KILLED when the next run took over the lock.
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    statuses = sorted(r.info.status for r in runs if r.info.run_name == "__default__")
    assert statuses == ["FINISHED"] + ["KILLED"] * len(KILL_POINTS)
