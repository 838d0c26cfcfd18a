"""``ImageStackDataset``: an :class:`~explainable_salt.stacks.ImageStack` as a folder of ``.npy``.

The folder holds ``ids.npy``, ``data.npy`` and ``channels.npy``. ``data.npy`` can be loaded as a
read-only memory map (``mmap: true``), so stacks larger than memory are read lazily, and it can be
saved from a generator node yielding :class:`~explainable_salt.stacks.StackChunk`s, so they are
written without ever being whole in memory. A save arrives in pieces, so the dataset stages its
own writes: a temporary folder replaces the previous one only when complete
(:func:`~explainable_salt.storage.atomic.publish`), and a failed run leaves the earlier output intact.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from explainable_salt.stacks import ImageStack, StackChunk
from explainable_salt.storage.atomic import publish, staging_path

logger = logging.getLogger(__name__)


class ImageStackDataset(AbstractDataset[ImageStack, ImageStack | StackChunk]):
    """Saves ids, data and channel names together, so they cannot drift apart.

    Example catalog entry::

        model_inputs_test:
          type: explainable_salt.datasets.ImageStackDataset
          path: data/05_model_input/model_inputs_test
          mmap: true
    """

    stages_its_own_writes = True  # AtomicDataCatalog leaves its pieces alone

    def __init__(self, path: str, mmap: bool = False, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self._mmap = mmap
        self._pending: dict[str, Any] | None = None
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "mmap": self._mmap}

    def load(self) -> ImageStack:
        if self._pending is not None:  # read while a write stopped short: the node yielded too few chunks
            raise DatasetError(f"{self._path}/ was being written and stopped after {self._pending['written']} of "
                               f"{self._pending['shape'][0]} images; its previous version is left as it was")
        if not (self._path / "data.npy").is_file():
            raise DatasetError(f"{self._path}/ does not exist: run the pipeline that writes it")
        return ImageStack(
            ids=np.load(self._path / "ids.npy"),
            data=np.load(self._path / "data.npy", mmap_mode="r" if self._mmap else None),
            channels=tuple(np.load(self._path / "channels.npy")),
        )

    def save(self, data: ImageStack | StackChunk) -> None:
        piece = data if isinstance(data, StackChunk) else StackChunk(data, 0, len(data))
        if piece.start == 0:
            self._begin(piece)
        pending = self._pending
        if pending is None or piece.start != pending["written"]:
            raise DatasetError(f"{self._path}: chunk at {piece.start} arrives out of order")
        stop = piece.start + len(piece.chunk)
        chunk = np.ascontiguousarray(piece.chunk.data, dtype=pending["dtype"])
        if chunk.shape[1:] != pending["shape"][1:]:
            raise DatasetError(f"{self._path}: chunk of shape {chunk.shape} in a stack of {pending['shape']}")
        pending["file"].write(chunk.tobytes())
        pending["ids"].extend(piece.chunk.ids.tolist())
        pending["written"] = stop
        if stop == piece.total:
            self._commit()

    def _begin(self, piece: StackChunk) -> None:
        self.abandon()  # a write that stopped short before this one
        staging = staging_path(self._path)
        staging.mkdir()
        sample = piece.chunk.data
        shape = (piece.total, *sample.shape[1:])
        # Plain sequential writes after an .npy header: no memory map, so memory holds one chunk.
        data_file = open(staging / "data.npy", "wb")  # noqa: SIM115 - closed in _commit
        header = {"descr": np.lib.format.dtype_to_descr(sample.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_2_0(data_file, header)
        np.save(staging / "channels.npy", np.asarray(piece.chunk.channels, dtype=str))
        self._pending = {"staging": staging, "file": data_file, "shape": shape, "dtype": sample.dtype, "ids": [], "written": 0}

    def abandon(self) -> None:
        """Drop a write that stopped short (its staging folder), leaving the previous version."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending["file"].close()
            shutil.rmtree(pending["staging"].parent, ignore_errors=True)

    def _commit(self) -> None:
        pending, self._pending = self._pending, None
        pending["file"].close()
        shape, dtype = pending["shape"], pending["dtype"]
        np.save(pending["staging"] / "ids.npy", np.asarray(pending["ids"], dtype=str))
        publish(pending["staging"], self._path)
        logger.info("Wrote %s %s to %s/", shape, dtype, self._path)

    def _exists(self) -> bool:
        return (self._path / "data.npy").is_file()
