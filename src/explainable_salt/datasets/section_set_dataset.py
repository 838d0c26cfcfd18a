"""``SectionSetDataset``: one file per section, ``<id>.png``, ``<id>.npy`` or ``<id>.npz``, in a folder.

Sections of different sizes cannot share an :class:`~explainable_salt.stacks.ImageStack`, so the
inference pipeline writes each one to a file of its own: masks as 8-bit PNGs (0 / 255), which any
image viewer opens; probabilities as ``.npy``; explanations as ``.npz`` holding several named
arrays. A save writes a staging folder that replaces the previous one only when complete
(:func:`~explainable_salt.storage.atomic.publish`, as every output), so a failed run leaves the
earlier output intact.
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
    """

    stages_its_own_writes = True  # AtomicDataCatalog need not stage it again

    def __init__(self, path: str, format: str = "npy", metadata: dict[str, Any] | None = None):
        if format not in FORMATS:
            raise DatasetError(f"SectionSetDataset format must be one of {FORMATS}, not {format!r}")
        self._path = Path(path)
        self._format = format
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "format": self._format}

    def load(self) -> dict[str, Any]:
        if not self._path.is_dir():
            raise DatasetError(f"{self._path}/ does not exist: run the pipeline that writes it")
        return {path.stem: self._read(path) for path in sorted(self._path.glob(f"*.{self._format}"))}

    def _read(self, path: Path) -> Any:
        if self._format == "png":
            with Image.open(path) as image:
                return np.asarray(image)
        if self._format == "npz":
            with np.load(path, allow_pickle=False) as archive:
                return dict(archive)
        return np.load(path, allow_pickle=False)

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
