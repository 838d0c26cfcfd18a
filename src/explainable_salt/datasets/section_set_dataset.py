"""``SectionSetDataset``: one file per section, ``<id>.png``, ``<id>.npy`` or ``<id>.npz``, in a folder.

Sections of different sizes cannot share an :class:`~explainable_salt.stacks.ImageStack`, so the
inference pipeline writes each one to a file of its own: masks as 8-bit PNGs (0 / 255), which any
image viewer opens; probabilities as ``.npy``; explanations as ``.npz`` holding several named
arrays. A save writes a staging folder that replaces the previous one only when complete
(:func:`~explainable_salt.storage.atomic.publish`, as every output), so a failed run leaves the
earlier output intact. A save writes the items one by one as the mapping yields them, so a
:class:`~explainable_salt.compute.execution.StreamedMapping` is computed and written a chunk at a
time; with ``lazy: true`` a load returns a mapping that reads each file when looked up (``.npy``
memory-mapped), so sections larger than memory together are read one at a time.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from PIL import Image

from explainable_salt.storage.atomic import publish, staging_path

logger = logging.getLogger(__name__)

FORMATS = ("png", "npy", "npz")


class SectionSetDataset(AbstractDataset[dict[str, Any], Mapping[str, Any]]):
    """Saves and loads ``{id: value}``: a ``(H, W) uint8`` array (``png``), an array (``npy``)
    or a dict of arrays (``npz``).

    Example catalog entry::

        inference_masks:
          type: explainable_salt.datasets.SectionSetDataset
          path: data/07_model_output/inference/masks
          format: png

        seismic_section_probabilities:
          type: explainable_salt.datasets.SectionSetDataset
          path: data/07_model_output/inference/seismic_sections
          lazy: true
    """

    stages_its_own_writes = True  # AtomicDataCatalog need not stage it again

    def __init__(self, path: str, format: str = "npy", lazy: bool = False, metadata: dict[str, Any] | None = None):
        if format not in FORMATS:
            raise DatasetError(f"SectionSetDataset format must be one of {FORMATS}, not {format!r}")
        self._path = Path(path)
        self._format = format
        self._lazy = bool(lazy)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "format": self._format, "lazy": self._lazy}

    def load(self) -> dict[str, Any]:
        if not self._path.is_dir():
            raise DatasetError(f"{self._path}/ does not exist: run the pipeline that writes it")
        paths = {path.stem: path for path in sorted(self._path.glob(f"*.{self._format}"))}
        if self._lazy:
            return LazySections(paths, self._read)
        return {section_id: self._read(path) for section_id, path in paths.items()}

    def _read(self, path: Path) -> Any:
        if self._format == "png":
            with Image.open(path) as image:
                return np.asarray(image)
        if self._format == "npz":
            with np.load(path, allow_pickle=False) as archive:
                return dict(archive)
        return np.load(path, allow_pickle=False, mmap_mode="r" if self._lazy else None)

    def save(self, data: Mapping[str, Any]) -> None:
        staging = staging_path(self._path)
        staging.mkdir()
        try:
            for section_id, value in data.items():
                self._write(staging / f"{section_id}.{self._format}", value)
        except Exception:
            shutil.rmtree(staging.parent, ignore_errors=True)
            raise
        publish(staging, self._path)
        logger.info("Wrote %d %s files to %s/", len(data), self._format, self._path)

    def _write(self, target: Path, value: Any) -> None:
        if self._format == "png":
            Image.fromarray(np.asarray(value, dtype=np.uint8)).save(target)
        elif self._format == "npz":
            np.savez_compressed(target, **{k: np.asarray(v) for k, v in value.items()}, allow_pickle=False)
        else:
            np.save(target, np.asarray(value), allow_pickle=False)

    def _exists(self) -> bool:
        return self._path.is_dir()


class LazySections(Mapping):
    """``{id: value}`` read from its file when looked up (a lazy :class:`SectionSetDataset`)."""

    def __init__(self, paths: Mapping[str, Path], read):
        self._paths, self._read = dict(paths), read

    def __getitem__(self, section_id: str) -> Any:
        return self._read(self._paths[section_id])

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)
