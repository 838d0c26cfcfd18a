"""One kedro run at a time per project: a kernel lock that names its holder and ends with it
(storage/run_lock.py)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from explainable_salt.storage import run_lock
from explainable_salt.storage.run_lock import (
    LOCK_NAME,
    RunLockedError,
    acquire,
    release,
)

# A run reduced to its lock: acquire, record an MLflow run, hold, release. With a pause point it
# announces PAUSED at that point and waits there to be killed; otherwise it says HELD <record>
# once it holds the lock.
HOLDER = r'''
import json, os, sys, time
from pathlib import Path
from explainable_salt.storage.run_lock import acquire, record_mlflow_run, release

lock, pause_at, run_id, uri = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def pause_at_first_call(*targets):
    originals = {target: getattr(*target) for target in targets}
    def pausing(target):
        def paused(*args, **kwargs):
            for (module, name), function in originals.items():
                setattr(module, name, function)
            print("PAUSED", flush=True)
            time.sleep(60)
            return originals[target](*args, **kwargs)
        return paused
    for target in targets:
        setattr(*target, pausing(target))

if pause_at == "acquiring":  # the lock file is this process's; its record is serialised next
    pause_at_first_call((json, "dump"), (json, "dumps"))
record = acquire(lock)
if pause_at == "recording":  # the record with the MLflow run is being put in place
    pause_at_first_call((os, "ftruncate"), (os, "replace"))
record_mlflow_run(lock, run_id, uri)
print("HELD", json.dumps(record), flush=True)
if pause_at == "holding":
    time.sleep(60)
if pause_at == "releasing":  # between removing the file and letting the lock go
    pause_at_first_call((os, "close"),)
release(lock)
'''


@pytest.fixture
def start_holder(tmp_path):
    """Starts :data:`HOLDER` processes: ``start_holder(lock, pause_at, run_id, uri)``; any still
    running at the end of the test is killed."""
    script, holders = tmp_path / "holder.py", []
    script.write_text(HOLDER)

    def start(lock: Path, pause_at: str = "holding", run_id: str = "run-of-the-holder",
              uri: str = "sqlite:///nowhere.db") -> subprocess.Popen:
        holders.append(subprocess.Popen([sys.executable, str(script), str(lock), pause_at, run_id, uri],
                                        stdout=subprocess.PIPE, text=True))
        return holders[-1]

    yield start
    for holder in holders:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def _wait_for(holder: subprocess.Popen, word: str) -> str:
    """The holder's first line starting with ``word``; ``""`` if it ended first."""
    for line in holder.stdout:
        if line.startswith(word):
            return line
    return ""


def _held_by(start_holder, lock: Path) -> tuple[subprocess.Popen, dict]:
    holder = start_holder(lock)
    line = _wait_for(holder, "HELD")
    assert line, "the holder ended before it held the lock"
    return holder, json.loads(line.split(" ", 1)[1])


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_second_run_is_refused_with_the_holders_pid_start_and_command(tmp_path, start_holder):
    lock = tmp_path / "data" / LOCK_NAME
    holder, record = _held_by(start_holder, lock)
    with pytest.raises(RunLockedError) as refusal:
        acquire(lock)
    message = str(refusal.value)
    assert f"PID {holder.pid} on {record['host']}, started {record['started']}" in message
    assert f"command `{record['command']}`" in message and "holder.py" in record["command"]
    assert json.loads(lock.read_text())["pid"] == holder.pid  # left to its holder


def test_a_record_left_by_a_dead_run_is_taken_over_and_the_file_removed_on_release(tmp_path, caplog):
    lock = tmp_path / LOCK_NAME
    dead = _dead_pid()
    lock.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "started": "x", "command": "kedro run"}))
    record = acquire(lock)
    assert record["pid"] == os.getpid() and json.loads(lock.read_text())["pid"] == os.getpid()
    assert f"stale run lock {lock} of PID {dead}" in caplog.text
    release(lock)
    assert not lock.exists()


def test_a_record_naming_a_live_process_that_holds_no_lock_is_taken_over(tmp_path):
    # The PID of a killed run is reused by an unrelated process: only the kernel lock counts.
    lock = tmp_path / LOCK_NAME
    lock.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "started": "x", "command": "k"}))
    assert acquire(lock)["pid"] == os.getpid()
    release(lock)


def test_release_leaves_a_lock_that_another_process_holds(tmp_path, start_holder):
    lock = tmp_path / LOCK_NAME
    holder, _ = _held_by(start_holder, lock)
    release(lock)
    assert json.loads(lock.read_text())["pid"] == holder.pid
    with pytest.raises(RunLockedError):
        acquire(lock)


def test_a_lock_file_replaced_between_open_and_lock_is_opened_again(tmp_path, monkeypatch):
    lock = tmp_path / LOCK_NAME
    real_flock, locked = fcntl.flock, []

    def flock_after_a_release(descriptor, operation):
        if not locked:  # as if the holder removed the file and a third run created it anew
            lock.unlink()
            lock.write_text("")
        locked.append(descriptor)
        return real_flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_a_release)
    acquire(lock)
    assert len(locked) == 2 and json.loads(lock.read_text())["pid"] == os.getpid()
    release(lock)


def test_taking_over_the_lock_of_a_killed_run_marks_its_mlflow_run_killed(tmp_path, start_holder):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    killed = client.create_run(client.create_experiment("project")).info.run_id  # left RUNNING
    lock = tmp_path / LOCK_NAME
    holder = start_holder(lock, run_id=killed, uri=uri)
    assert _wait_for(holder, "HELD")
    assert json.loads(lock.read_text())["mlflow_run_id"] == killed
    holder.kill()
    holder.wait()
    acquire(lock)
    assert client.get_run(killed).info.status == "KILLED"
    release(lock)


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("pause_at", ["starting", "acquiring", "recording", "holding", "releasing"])
def test_a_holder_killed_at_any_point_leaves_the_lock_free_at_once(tmp_path, start_holder, monkeypatch, pause_at,
                                                                    kill):
    lock = tmp_path / "data" / LOCK_NAME
    lock.parent.mkdir()
    taken_over = []
    monkeypatch.setattr(run_lock, "_end_killed_mlflow_run", taken_over.append)
    holder = start_holder(lock, pause_at)
    if pause_at != "starting":  # "starting": killed at once, wherever it is
        assert _wait_for(holder, "PAUSED" if pause_at != "holding" else "HELD")
    if pause_at in ("acquiring", "recording", "holding"):
        with pytest.raises(RunLockedError, match=f"PID {holder.pid} |has not written its record"):
            acquire(lock)  # while it lives, it holds the lock
    holder.send_signal(kill)
    holder.wait(timeout=10)
    start = time.perf_counter()
    acquire(lock)
    assert time.perf_counter() - start < 1.0
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    if pause_at in ("recording", "holding"):  # the holder's MLflow run is the one marked KILLED
        assert [record["mlflow_run_id"] for record in taken_over] == ["run-of-the-holder"]
    release(lock)
    assert not lock.exists()


@pytest.mark.integration
def test_a_kedro_run_interrupted_in_its_first_node_lets_the_next_run_start_at_once(tmp_path):
    from kedro_project import scratch_project

    project = scratch_project(tmp_path)
    kedro = [str(Path(sys.executable).parent / "kedro"), "run", "--env", "quick"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KEDRO_DISABLE_TELEMETRY": "true"}
    # 300 test images: the first node loads them for a few tenths of a second, time for the
    # interrupt to land inside it.
    subprocess.run([*kedro, "--pipeline", "synthetic_data", "--params", "synthetic_data.n_test=300"], cwd=project,
                   env=env, check=True, capture_output=True)
    run = subprocess.Popen([*kedro, "--pipeline", "data_engineering"], cwd=project, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = ""
    for line in run.stdout:
        output += line
        if "Loading data from test_images_raw" in line:  # the first node has started
            run.send_signal(signal.SIGINT)
            break
    output += run.stdout.read()
    assert run.wait(timeout=60) != 0, output[-3000:]
    assert "Pipeline execution completed" not in output
    rerun = subprocess.run([*kedro, "--pipeline", "data_engineering"], check=False, cwd=project, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert f"stale run lock {project / 'data' / LOCK_NAME} of PID {run.pid}" in rerun.stdout
    assert "Another kedro run" not in rerun.stdout and not (project / "data" / LOCK_NAME).exists()
    # The interrupted run's MLflow run says KILLED, not FINISHED.
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert sorted(r.info.status for r in runs if r.info.run_name == "data_engineering") == ["FINISHED", "KILLED"]
