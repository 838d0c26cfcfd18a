"""One ``kedro run`` at a time per project: a kernel lock on ``data/.kedro_run.lock``, whose file
names the run that holds it.

Two runs on one ``data/`` would overwrite each other's outputs and interleave their MLflow runs.
Before its first node a run takes an exclusive ``flock`` on ``data/.kedro_run.lock`` and writes
into it its PID, host, start time and command (JSON), then its MLflow run; a second run finds the
lock taken, refuses at once and names the first. The kernel releases a ``flock`` when its holder
ends, however it ends (SIGKILL, Ctrl-C at any moment), so a lock never outlives its run and nothing
needs deleting by hand. A run that ends normally removes the file; a killed one leaves its record,
from which the next run learns which run died: it says so, marks that MLflow run KILLED, and
writes its own record in its place.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOCK_NAME = ".kedro_run.lock"

# The locks this process holds: absolute path -> (open descriptor holding the flock, its record).
_held: dict[Path, tuple[int, dict[str, Any]]] = {}


class RunLockedError(RuntimeError):
    """Another run holds this project's ``data/``."""


def acquire(lock: Path) -> dict[str, Any]:
    """Take ``lock`` for this process, or raise :class:`RunLockedError` naming the process that
    holds it. A record left by a holder that died is taken over (and its MLflow run marked
    KILLED). Returns what the lock file now records."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(sys.argv)}
    lock = Path(os.path.abspath(lock))
    lock.parent.mkdir(parents=True, exist_ok=True)
    if lock in _held:
        # A run of this process stopped without releasing it (Ctrl-C in a notebook skips Kedro's
        # error hooks): let go, and take its record over below like that of a dead process.
        os.close(_held.pop(lock)[0])
    for _ in range(5):
        descriptor = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLockedError(_refusal(lock, _holder_record(descriptor))) from None
            if not _is_current(lock, descriptor):
                # The holder removed the file (its release) between our open and our lock: the lock
                # we got is on a file nobody else will open. Start again on the path's new file.
                os.close(descriptor)
                continue
            previous = _read(descriptor)
            if previous:  # its writer held the lock; the kernel let it go, so that process has ended
                logger.warning("Taking over the stale run lock %s of PID %s (started %s, command `%s`), whose "
                               "run ended without releasing it", lock, previous.get("pid"), previous.get("started"),
                               previous.get("command"))
                _end_killed_mlflow_run(previous)
            _write(descriptor, record)
        except BaseException:
            # Refused, or interrupted: closing drops any lock taken; a record left in the file is
            # taken over by the next run like a dead process's.
            os.close(descriptor)
            raise
        _held[lock] = (descriptor, record)
        return record
    raise RunLockedError(f"Could not take the run lock {lock}: other runs kept taking and releasing it")


def _is_current(lock: Path, descriptor: int) -> bool:
    """Whether ``lock`` still names the file open as ``descriptor`` (same device and inode)."""
    try:
        on_disk = os.stat(lock)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (on_disk.st_dev, on_disk.st_ino) == (opened.st_dev, opened.st_ino)


def _read(descriptor: int) -> dict[str, Any]:
    """The record in the open lock file, or ``{}`` (empty: a new file, or a holder killed before
    writing it). Only the first JSON object counts (see :func:`_write`)."""
    text = os.pread(descriptor, 1 << 16, 0).decode(errors="replace").strip()
    try:
        record, _ = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _write(descriptor: int, record: dict[str, Any]) -> None:
    # Written over the previous record, then cut to length: never truncated first, so a kill in
    # between leaves a whole record (followed by the old one's tail, which _read ignores), never an
    # empty file that would hide which run died.
    data = json.dumps(record).encode()
    os.pwrite(descriptor, data, 0)
    os.ftruncate(descriptor, len(data))
    os.fsync(descriptor)


def _holder_record(descriptor: int) -> dict[str, Any]:
    """The record of the process holding the lock; it writes it just after taking the lock, so an
    empty file is given a moment to fill."""
    for _ in range(10):
        record = _read(descriptor)
        if record:
            return record
        time.sleep(0.05)
    return {}


def _refusal(lock: Path, holder: dict[str, Any]) -> str:
    who = (f"PID {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}, "
           f"command `{holder.get('command')}`") if holder else "a process that has not written its record yet"
    return (f"Another kedro run is using {lock.parent}/: {who}. Wait for it to finish: the lock is released "
            f"the moment that process ends, even if it is killed.")


def record_mlflow_run(lock: Path, run_id: str, tracking_uri: str) -> None:
    """Add the MLflow run of this process's run to ``lock`` (if it holds it), so that a run that
    takes over after a kill can mark that MLflow run KILLED instead of leaving it RUNNING for ever.
    The file is rewritten in place: replacing it would move the path to a file nobody has locked."""
    lock = Path(os.path.abspath(lock))
    if lock not in _held:
        return
    descriptor, record = _held[lock]
    if record.get("mlflow_run_id") != run_id:  # called before every node: written once
        record = {**record, "mlflow_run_id": run_id, "mlflow_tracking_uri": tracking_uri}
        _write(descriptor, record)
        _held[lock] = (descriptor, record)


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
    """Remove ``lock`` and let it go, if this process holds it."""
    lock = Path(os.path.abspath(lock))
    held = _held.pop(lock, None)
    if held is None:
        return
    descriptor, _ = held
    try:
        # Removed while still locked, so that no other run can lock this file and then find our
        # record in it; one that opened it just before locks a removed file, which it notices.
        if _is_current(lock, descriptor):
            os.unlink(lock)
    finally:
        os.close(descriptor)


def end_interrupted_mlflow_run() -> None:
    """End the active MLflow run KILLED: for a run interrupted with Ctrl-C (``KeyboardInterrupt``,
    which Kedro's error hooks never see), which MLflow's own exit handler would end FINISHED."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.end_run(status="KILLED")


def record_active_mlflow_run(lock: Path | None) -> None:
    """Write the MLflow run kedro-mlflow opened into ``lock``, so that the next run can mark it
    KILLED if this process dies."""
    import mlflow

    run = mlflow.active_run()
    if run is not None and lock is not None:
        record_mlflow_run(lock, run.info.run_id, mlflow.get_tracking_uri())
