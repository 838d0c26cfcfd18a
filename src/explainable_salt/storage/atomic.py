"""Every output is written whole or not at all.

A dataset is saved under a staging folder beside its target, ``<parent>/.partial-<pid>-<start>-<token>/``,
with the target's own file name (so an MLflow artifact logged during the save keeps its name), and
only a complete file or folder is renamed into place. A run killed at any moment leaves the
previous version of every output intact, plus a staging folder that the next save to the same
folder removes once its owner (the process with that PID and start time) is dead.

:class:`AtomicDataCatalog` (``DATA_CATALOG_CLASS`` in ``settings.py``) applies this to every local
file dataset of the catalog, whatever its type; :func:`publish` is also what the datasets that
stage their own writes (chunked image stacks) and the training checkpoints use.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from kedro.framework.context import CatalogCommandsMixin, KedroContext
from kedro.framework.context.context import compose_classes
from kedro.io import DataCatalog

from explainable_salt.storage.dataset_paths import local_target
from explainable_salt.storage.raw_data import refuse_to_replace

logger = logging.getLogger(__name__)

STAGING_PREFIX = ".partial-"


def staging_path(target: Path) -> Path:
    """A fresh location to write ``target`` to: same folder (so the final rename stays on one file
    system, hence atomic), same file name, unique per process and save. Its folder's name records
    the owner, ``.partial-<pid>-<process start>-<token>``, so that only a dead owner's is removed."""
    target = Path(target)
    remove_stale_staging(target.parent)
    staging = target.parent / f"{STAGING_PREFIX}{os.getpid()}-{process_start(os.getpid())}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    return staging / target.name


def process_start(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (``/proc/<pid>/stat``, field 22), or
    ``"0"`` where that cannot be read (another OS, or no such process). A PID is reused after its
    process dies; the pair (PID, start) is not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name, which may hold spaces


def owner_alive(staging_folder: Path) -> bool:
    """Whether the process that made ``staging_folder`` still runs: its PID exists and, where the
    name records it, started when it did. Names it cannot parse are treated as alive (kept)."""
    parts = staging_folder.name[len(STAGING_PREFIX):].split("-")
    try:
        pid = int(parts[0])
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    recorded = parts[1] if len(parts) == 3 else "0"  # the older two-part names carry no start time
    return recorded == "0" or process_start(pid) in (recorded, "0")


def remove_stale_staging(folder: Path) -> None:
    """Remove the staging folders in ``folder`` whose owner is dead (a killed run). Those of live
    processes, such as Dask workers or fold processes saving beside this one, are left alone."""
    for leftover in Path(folder).glob(f"{STAGING_PREFIX}*"):
        if not owner_alive(leftover):
            logger.info("Removing %s, left by an interrupted run", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def publish(staged: Path, target: Path) -> None:
    """Move the complete ``staged`` file or folder to ``target``, replacing what was there.

    A file is replaced with one atomic ``os.replace``. A folder cannot be replaced in one step: the
    previous one is first renamed to ``<target>.previous``, so that a kill between the two renames
    leaves it there to recover by hand, never a mix of two versions.
    """
    staged, target = Path(staged), Path(target)
    if staged.is_dir() and target.exists():
        previous = target.with_name(target.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        target.rename(previous)
        staged.rename(target)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.replace(staged, target)
    if staged.parent.name.startswith(STAGING_PREFIX):
        shutil.rmtree(staged.parent, ignore_errors=True)


class AtomicDataCatalog(DataCatalog):
    """Kedro's catalog, with every local file or folder output written to a staging name and
    renamed into place when complete (:func:`publish`), and raw data never replaced
    (:func:`~explainable_salt.storage.raw_data.refuse_to_replace`)."""

    def save(self, ds_name: str, data: Any) -> None:
        dataset = self[ds_name]
        refuse_to_replace(ds_name, dataset)
        target = None if getattr(dataset, "stages_its_own_writes", False) else local_target(dataset)
        if target is None:  # memory, tracking and remote datasets, and those that stage their own writes
            return super().save(ds_name, data)
        holder, attribute, path = target
        original = getattr(holder, attribute)
        staged = staging_path(path)
        setattr(holder, attribute, type(original)(staged))
        try:
            super().save(ds_name, data)
        except BaseException:
            shutil.rmtree(staged.parent, ignore_errors=True)
            raise
        finally:
            setattr(holder, attribute, original)
        publish(staged, path)
        return None


class AtomicCatalogContext(KedroContext):
    """Kedro's context, whose ``catalog`` (what ``kedro jupyter``, ``kedro ipython`` and
    ``session.load_context().catalog`` hand a user) is an :class:`AtomicDataCatalog` too: Kedro
    gives the plain ``DataCatalog`` there, which would write outputs in place and raw data over
    a user's."""

    @property
    def catalog(self) -> AtomicDataCatalog:
        return self._get_catalog(catalog_class=compose_classes(AtomicDataCatalog, CatalogCommandsMixin))
