"""Where a dataset keeps its data on the local disk: one answer for the atomic writes
(``storage/atomic.py``), the raw-data guard (``storage/raw_data.py``) and the lineage's fingerprints
(``storage/lineage.py``).

Kedro's datasets name their location in one of a few private attributes (``_filepath`` for
kedro-datasets, ``_path`` and ``_folder`` for this project's); wrappers (Kedro's ``CachedDataset``,
:class:`~explainable_salt.datasets.OptionalDataset`) hold the real dataset as ``_dataset``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WRITTEN_TO = ("_filepath", "_path", "_folder")
READ_FROM = ("_filepath", "_path", "_archive", "_folder")  # a PNG set reads its archive first


def local_target(dataset: Any, attributes: tuple[str, ...] = WRITTEN_TO) -> tuple[Any, str, Path] | None:
    """``(dataset holding the path, attribute name, path)`` of a dataset stored on the local file
    system, looking through wrappers; ``None`` for memory, remote and versioned datasets (Kedro's
    versioning writes a new path each time)."""
    inner = getattr(dataset, "_dataset", None)
    if inner is not None and not any(hasattr(dataset, attribute) for attribute in attributes):
        return local_target(inner, attributes)
    if getattr(dataset, "_protocol", "file") not in ("file", "local"):
        return None
    if getattr(dataset, "_version", None) is not None:
        return None
    for attribute in attributes:
        value = getattr(dataset, attribute, None)
        if isinstance(value, (str, os.PathLike)):
            return dataset, attribute, Path(value)
    return None


def local_path(dataset: Any) -> Path | None:
    """The local file or folder a dataset writes, or ``None`` (:func:`local_target`)."""
    target = local_target(dataset)
    return target[2] if target is not None else None


def read_path(dataset: Any) -> Path | None:
    """The local file or folder a dataset reads now (a PNG set's archive when there, else its
    folder), or ``None`` when there is none."""
    inner = getattr(dataset, "_dataset", None)
    if inner is not None and not any(hasattr(dataset, attribute) for attribute in READ_FROM):
        return read_path(inner)
    for attribute in READ_FROM:
        target = local_target(dataset, (attribute,))
        if target is not None and target[2].exists():
            return target[2]
    return None
