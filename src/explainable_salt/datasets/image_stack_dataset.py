"""``ImageStackDataset``: an :class:`~explainable_salt.stacks.ImageStack` as one ``.npz`` file."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from explainable_salt.stacks import ImageStack

logger = logging.getLogger(__name__)


class ImageStackDataset(AbstractDataset[ImageStack, ImageStack]):
    """Saves ids, data and channel names together, so they cannot drift apart.

    Writes to a temporary file and renames it, so a failed save leaves the previous file intact.
    ``compress: true`` suits sparse data such as masks.
    """

    def __init__(self, filepath: str, compress: bool = False, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._compress = compress
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "compress": self._compress}

    def load(self) -> ImageStack:
        if not self._filepath.is_file():
            raise DatasetError(f"{self._filepath} does not exist: run the pipeline that writes it")
        with np.load(self._filepath, allow_pickle=False) as npz:
            return ImageStack(ids=npz["ids"], data=npz["data"], channels=tuple(npz["channels"]))

    def save(self, data: ImageStack) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._filepath.with_name(self._filepath.name + ".tmp.npz")
        writer = np.savez_compressed if self._compress else np.savez
        writer(tmp, ids=data.ids, data=data.data, channels=np.asarray(data.channels, dtype=str))
        os.replace(tmp, self._filepath)
        logger.info("Wrote %s %s to %s", data.data.shape, data.data.dtype, self._filepath)

    def _exists(self) -> bool:
        return self._filepath.is_file()
