"""``PNGSetDataset``: a set of PNG images named ``<id>.png``, in a zip archive or a folder.

The competition ships ``train.zip`` (``images/``, ``masks/``) and ``test.zip`` (``images/``);
users may also extract them to ``train/images`` etc. Loading reads the archive when it exists,
else the folder; saving writes the folder.
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from PIL import Image
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def _decode_png(payload: bytes, source: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(payload)) as image:
            return np.asarray(image)
    except Exception as err:  # PIL raises several types for a corrupt file
        raise DatasetError(f"Cannot decode PNG {source}: {err}") from err


class PNGSetDataset(AbstractDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Loads ``{id: array}`` from ``<archive>/<member_dir>/<id>.png`` or ``<folder>/<id>.png``.

    Arrays come as PIL decodes them (``(H, W)`` or ``(H, W, 3)`` ``uint8``); validation of
    shapes and values is the data_engineering pipeline's job.

    Example catalog entry::

        train_images_raw:
          type: explainable_salt.datasets.PNGSetDataset
          archive: data/01_raw/train.zip
          member_dir: images
          folder: data/01_raw/train/images
    """

    def __init__(
        self,
        folder: str,
        archive: str | None = None,
        member_dir: str = "",
        metadata: dict[str, Any] | None = None,
    ):
        self._folder = Path(folder)
        self._archive = Path(archive) if archive else None
        self._member_dir = member_dir.strip("/")
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {
            "archive": str(self._archive),
            "member_dir": self._member_dir,
            "folder": str(self._folder),
        }

    def load(self) -> dict[str, np.ndarray]:
        if self._archive is not None and self._archive.is_file():
            return self._load_archive()
        if self._folder.is_dir():
            return self._load_folder()
        where = f"{self._archive} or {self._folder}/" if self._archive else f"{self._folder}/"
        raise DatasetError(
            f"No images found: expected {where}. Copy the competition files into data/01_raw "
            "or run `kedro run --pipeline synthetic_data` for the built-in dataset."
        )

    def _load_archive(self) -> dict[str, np.ndarray]:
        images = {}
        try:
            archive = zipfile.ZipFile(self._archive)
        except zipfile.BadZipFile as err:
            raise DatasetError(f"{self._archive} is not a readable zip archive: {err}") from err
        with archive:
            members = [
                m
                for m in archive.namelist()
                if PurePosixPath(m).parent == PurePosixPath(self._member_dir)
                and m.lower().endswith(".png")
            ]
            if not members:
                raise DatasetError(f"{self._archive} holds no {self._member_dir}/*.png")
            logger.info("Reading %d PNGs from %s:%s/", len(members), self._archive, self._member_dir)
            for member in tqdm(members, desc=f"{self._archive.name}:{self._member_dir}", leave=False):
                source = f"{self._archive}:{member}"
                try:
                    payload = archive.read(member)
                except (zipfile.BadZipFile, OSError) as err:
                    raise DatasetError(f"Cannot read {source}: {err}") from err
                images[PurePosixPath(member).stem] = _decode_png(payload, source)
        return images

    def _load_folder(self) -> dict[str, np.ndarray]:
        paths = sorted(self._folder.glob("*.png"))
        if not paths:
            raise DatasetError(f"{self._folder}/ holds no *.png")
        logger.info("Reading %d PNGs from %s/", len(paths), self._folder)
        return {
            path.stem: _decode_png(path.read_bytes(), str(path))
            for path in tqdm(paths, desc=str(self._folder), leave=False)
        }

    def save(self, data: dict[str, np.ndarray]) -> None:
        if self._archive is not None and self._archive.is_file():
            raise DatasetError(
                f"Refusing to write {self._folder}/: {self._archive} exists and would be read instead"
            )
        self._folder.mkdir(parents=True, exist_ok=True)
        for image_id, array in data.items():
            Image.fromarray(np.asarray(array, dtype=np.uint8)).save(self._folder / f"{image_id}.png")
        logger.info("Wrote %d PNGs to %s/", len(data), self._folder)

    def _exists(self) -> bool:
        return bool(self._archive and self._archive.is_file()) or self._folder.is_dir()
