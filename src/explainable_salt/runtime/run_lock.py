"""One ``kedro run`` at a time per project: a lock file in ``data/`` that names its holder.

Two runs on one ``data/`` would overwrite each other's outputs and interleave their MLflow runs.
The first run writes ``data/.kedro_run.lock`` (PID, host, start time, command, and then its MLflow
run) before its first node; a second one refuses at once and names the first. A lock left by a
process that no longer exists on this host (a crash, a kill) is stale: the next run says so, marks
the killed run's MLflow run KILLED, and takes the lock over.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

LOCK_NAME = ".kedro_run.lock"


class RunLockedError(RuntimeError):
    """Another run holds this project's ``data/``."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def acquire(lock: Path) -> dict[str, Any]:
    """Take ``lock`` for this process, taking over a stale one; raise :class:`RunLockedError`
    naming the holder when a live process holds it. Returns what the lock file records."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(sys.argv)}
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _holder(lock)
            if holder.get("host") == record["host"] and not _alive(int(holder.get("pid", -1))):
                logger.warning("Taking over the stale run lock %s of PID %s (started %s), which no longer runs",
                               lock, holder.get("pid"), holder.get("started"))
                _end_killed_mlflow_run(holder)
                lock.unlink(missing_ok=True)
                continue
            raise RunLockedError(
                f"Another kedro run is using {lock.parent}/: PID {holder.get('pid')} on {holder.get('host')}, "
                f"started {holder.get('started')}, command `{holder.get('command')}`. Wait for it to finish, or "
                f"delete {lock} if that process is gone."
            ) from None
        with os.fdopen(descriptor, "w") as file:
            json.dump(record, file)
        return record
    raise RunLockedError(f"Could not take the run lock {lock}: another run took it at the same moment")


def _holder(lock: Path) -> dict[str, Any]:
    try:
        return json.loads(lock.read_text())
    except (OSError, ValueError):  # being written, or garbled: treat as held by an unknown process
        return {"pid": "unknown", "host": "unknown", "started": "unknown", "command": "unknown"}


def record_mlflow_run(lock: Path, run_id: str, tracking_uri: str) -> None:
    """Add the MLflow run of the holder to ``lock``, so that a run that takes over the lock of a
    killed one can mark that MLflow run KILLED instead of leaving it RUNNING for ever."""
    holder = _holder(lock)
    if holder.get("pid") == os.getpid() and holder.get("mlflow_run_id") != run_id:
        staged = lock.with_name(f"{lock.name}.{os.getpid()}")
        staged.write_text(json.dumps({**holder, "mlflow_run_id": run_id, "mlflow_tracking_uri": tracking_uri}))
        os.replace(staged, lock)


def _end_killed_mlflow_run(holder: dict[str, Any]) -> None:
    run_id, uri = holder.get("mlflow_run_id"), holder.get("mlflow_tracking_uri")
    if not run_id:
        return
    import mlflow

    try:
        client = mlflow.MlflowClient(tracking_uri=uri)
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status="KILLED")
            logger.warning("Marked the MLflow run %s of the killed run KILLED", run_id)
    except Exception as error:  # noqa: BLE001 - tracking must not stop the new run
        logger.warning("Could not mark the MLflow run %s of the killed run KILLED: %s", run_id, error)


def release(lock: Path) -> None:
    """Remove ``lock`` if this process holds it."""
    if _holder(lock).get("pid") == os.getpid():
        lock.unlink(missing_ok=True)


class RunLockHook:
    """Kedro hooks that hold the project's run lock from before the first node to the end."""

    def __init__(self) -> None:
        self._lock: Path | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._lock = Path(context.project_path) / "data" / LOCK_NAME

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a refusal would leave open
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        acquire(self._lock)

    @hook_impl
    def before_node_run(self) -> None:
        import mlflow

        run = mlflow.active_run()  # opened by kedro-mlflow before the first node
        if run is not None and self._lock is not None:
            record_mlflow_run(self._lock, run.info.run_id, mlflow.get_tracking_uri())

    @hook_impl
    def after_pipeline_run(self) -> None:
        release(self._lock)

    @hook_impl
    def on_pipeline_error(self) -> None:
        release(self._lock)
