"""One kedro run at a time per project: the lock names its holder, and a stale one is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from explainable_salt.runtime.run_lock import RunLockedError, acquire, release


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_run_is_refused_with_the_holders_pid_start_and_command(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock = tmp_path / "data/.kedro_run.lock"
        lock.parent.mkdir()
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                                    "started": "2026-11-30 09:00:00", "command": "kedro run --env gpu"}))
        with pytest.raises(RunLockedError, match=rf"PID {holder.pid} .*started 2026-11-30 09:00:00.*kedro run --env gpu"):
            acquire(lock)
        assert json.loads(lock.read_text())["pid"] == holder.pid  # left to its holder
    finally:
        holder.kill()


def test_a_stale_lock_of_a_dead_process_is_taken_over_and_released(tmp_path, caplog):
    lock = tmp_path / ".kedro_run.lock"
    dead = _dead_pid()
    lock.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "x", "command": "kedro run"}))
    record = acquire(lock)
    assert record["pid"] == os.getpid() and json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"stale run lock {lock} of PID {dead}" in caplog.text
    release(lock)
    assert not lock.exists()


def test_release_leaves_a_lock_that_another_process_holds(tmp_path):
    lock = tmp_path / ".kedro_run.lock"
    lock.write_text(json.dumps({"pid": 1, "host": socket.gethostname()}))
    release(lock)
    assert lock.exists()


def test_taking_over_the_lock_of_a_killed_run_marks_its_mlflow_run_killed(tmp_path):
    import mlflow

    from explainable_salt.runtime.run_lock import record_mlflow_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    killed = client.create_run(client.create_experiment("project")).info.run_id  # left RUNNING
    lock = tmp_path / ".kedro_run.lock"
    acquire(lock)
    record_mlflow_run(lock, killed, uri)
    assert json.loads(lock.read_text())["mlflow_run_id"] == killed
    # As if this process had been killed: the lock names a PID that no longer runs.
    lock.write_text(json.dumps({**json.loads(lock.read_text()), "pid": _dead_pid()}))
    acquire(lock)
    assert client.get_run(killed).info.status == "KILLED"
    release(lock)
