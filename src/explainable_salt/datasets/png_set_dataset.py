"""``PNGSetDataset``: a set of PNG images named ``<id>.png``, in a zip archive or a folder.

The competition ships ``train.zip`` (``images/``, ``masks/``) and ``test.zip`` (``images/``);
users may also extract them to ``train/images`` etc. Loading reads the archive when it exists,
else the folder; saving writes the folder.

Raw data is untrusted, so loading is bounded and strict, and every refusal names the file:

- a zip may hold at most ``max_entries`` entries, each PNG member at most ``max_member_bytes``
  uncompressed and all of them at most ``max_total_bytes`` (checked from the zip's directory,
  then again while reading, in case it lies); encrypted or unsupported members are refused;
- a PNG's dimensions are read from its header, and more than ``max_pixels`` pixels are refused
  before it is decoded;
- all the PNGs of an archive or folder may hold at most ``max_total_pixels`` pixels together,
  summed from every header before any is decoded: a PNG compresses a plain image a
  thousandfold, so the bytes allowed say little about the memory the decoded images take;
- in a folder, only regular files are read: symbolic links, FIFOs and devices are refused;
- two PNGs whose ids differ only in case (``a.png``, ``A.png``) are refused;
- colour modes follow one rule: palette images are expanded to their colours; an alpha channel
  must be fully opaque and is then dropped; 1-bit grey becomes 0 / 255; 8- and 16-bit grey and
  RGB pass as they are
  (the data_engineering checks then refuse what is not 8-bit grey or 0/1 masks); any other mode
  (CMYK, YCbCr, floating point, ...) is refused.
"""

from __future__ import annotations

import io
import logging
import stat
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from PIL import Image
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

PASSED_MODES = {"L", "I;16", "I;16B", "I;16L", "I", "RGB"}
WITH_ALPHA = {"LA": "L", "RGBA": "RGB", "La": "L", "RGBa": "RGB"}


def _decode_png(payload: bytes, source: str, max_pixels: int) -> np.ndarray:
    """The pixels of one PNG, by the colour-mode rule of this module; ``DatasetError`` naming
    ``source`` for a corrupt, oversized or unsupported image."""
    try:
        with Image.open(io.BytesIO(payload)) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > max_pixels:
                raise DatasetError(f"{source} is {width} x {height} pixels, more than the {max_pixels:,} allowed "
                                   "(max_pixels)")
            if image.format != "PNG":
                raise DatasetError(f"{source} is not a PNG but {image.format}")
            if image.mode == "1":  # 1-bit: 0 / 255, as an 8-bit mask would hold it
                image = image.convert("L")
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            if image.mode in WITH_ALPHA:
                alpha = np.asarray(image.getchannel("A"))
                if (alpha != 255).any():
                    raise DatasetError(f"{source} has transparent pixels ({int((alpha != 255).sum())}); "
                                       "an alpha channel must be fully opaque")
                image = image.convert(WITH_ALPHA[image.mode])
            if image.mode not in PASSED_MODES:
                raise DatasetError(f"{source} has colour mode {image.mode!r}; expected grey, RGB or palette")
            return np.asarray(image)
    except DatasetError:
        raise
    except Exception as err:  # PIL raises several types for a corrupt file
        raise DatasetError(f"Cannot decode PNG {source}: {err}") from err


def _header_pixels(stream: IO[bytes], source: str) -> int:
    """Width × height of the image in ``stream``, read from its header (nothing is decoded);
    ``DatasetError`` naming ``source`` when there is no readable header."""
    try:
        with Image.open(stream) as image:
            width, height = image.size
    except Exception as err:  # PIL raises several types for a corrupt file
        raise DatasetError(f"Cannot decode PNG {source}: {err}") from err
    return width * height


def _require_unique_ids(names: Iterable[str], where: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        stem = PurePosixPath(name).stem
        if stem.lower() in seen:
            raise DatasetError(f"{where} holds {seen[stem.lower()]} and {name}: ids must differ in more than case")
        seen[stem.lower()] = name


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
          max_member_bytes: 67108864   # optional limits, see the module docstring
          max_total_pixels: 1000000000
    """

    def __init__(
        self,
        folder: str,
        archive: str | None = None,
        member_dir: str = "",
        max_entries: int = 100_000,
        max_member_bytes: int = 64 * 2**20,
        max_total_bytes: int = 8 * 2**30,
        max_pixels: int = 50_000_000,
        max_total_pixels: int = 1_000_000_000,  # the competition's 22,000 images of 101 × 101: 224 million
        metadata: dict[str, Any] | None = None,
    ):
        self._folder = Path(folder)
        self._archive = Path(archive) if archive else None
        self._member_dir = member_dir.strip("/")
        self._max_entries, self._max_member_bytes = int(max_entries), int(max_member_bytes)
        self._max_total_bytes, self._max_pixels = int(max_total_bytes), int(max_pixels)
        self._max_total_pixels = int(max_total_pixels)
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
        try:
            archive = zipfile.ZipFile(self._archive)
        except (zipfile.BadZipFile, OSError) as err:
            raise DatasetError(f"{self._archive} is not a readable zip archive: {err}") from err
        with archive:
            entries = archive.infolist()
            if len(entries) > self._max_entries:
                raise DatasetError(f"{self._archive} has {len(entries):,} entries, more than the "
                                   f"{self._max_entries:,} allowed (max_entries)")
            members = [
                info for info in entries
                if PurePosixPath(info.filename).parent == PurePosixPath(self._member_dir)
                and info.filename.lower().endswith(".png") and not info.is_dir()
            ]
            if not members:
                raise DatasetError(f"{self._archive} holds no {self._member_dir}/*.png")
            _require_unique_ids((m.filename for m in members), f"{self._archive}:{self._member_dir}/")
            self._require_sizes(members)
            self._require_total_pixels(
                (self._member_header_pixels(archive, info) for info in members), f"{self._archive}:{self._member_dir}/"
            )
            logger.info("Reading %d PNGs from %s:%s/", len(members), self._archive, self._member_dir)
            return {
                PurePosixPath(info.filename).stem: _decode_png(self._read_member(archive, info),
                                                               f"{self._archive}:{info.filename}", self._max_pixels)
                for info in tqdm(members, desc=f"{self._archive.name}:{self._member_dir}", leave=False)
            }

    def _require_sizes(self, members: list[zipfile.ZipInfo]) -> None:
        for info in members:
            if info.file_size > self._max_member_bytes:
                raise DatasetError(f"{self._archive}:{info.filename} is {info.file_size:,} bytes uncompressed, "
                                   f"more than the {self._max_member_bytes:,} allowed (max_member_bytes)")
        total = sum(info.file_size for info in members)
        if total > self._max_total_bytes:
            raise DatasetError(f"{self._archive}:{self._member_dir}/ holds {total:,} bytes uncompressed, more than "
                               f"the {self._max_total_bytes:,} allowed (max_total_bytes)")

    def _require_total_pixels(self, pixels: Iterable[int], where: str) -> None:
        total = sum(pixels)
        if total > self._max_total_pixels:
            raise DatasetError(f"{where} holds {total:,} pixels once decoded, more than the "
                               f"{self._max_total_pixels:,} allowed (max_total_pixels)")

    @contextmanager
    def _open_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[IO[bytes]]:
        """The member, open for reading; every failure to read it a ``DatasetError`` naming it."""
        source = f"{self._archive}:{info.filename}"
        if info.flag_bits & 0x1:
            raise DatasetError(f"{source} is encrypted; the raw data must be readable without a password")
        try:
            with archive.open(info) as member:
                yield member
        except NotImplementedError as err:
            raise DatasetError(f"{source} uses an unsupported compression: {err}") from err
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as err:
            raise DatasetError(f"Cannot read {source}: {err}") from err

    def _member_header_pixels(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
        with self._open_member(archive, info) as member:  # only the header's first bytes are inflated
            return _header_pixels(member, f"{self._archive}:{info.filename}")

    def _read_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
        source = f"{self._archive}:{info.filename}"
        with self._open_member(archive, info) as member:
            payload = member.read(self._max_member_bytes + 1)  # a lying header stops here
        if len(payload) > self._max_member_bytes:
            raise DatasetError(f"{source} unpacks to more than {self._max_member_bytes:,} bytes (max_member_bytes)")
        return payload

    def _load_folder(self) -> dict[str, np.ndarray]:
        paths = sorted(p for p in self._folder.iterdir() if p.name.lower().endswith(".png"))
        if not paths:
            raise DatasetError(f"{self._folder}/ holds no *.png")
        for path in paths:
            mode = path.lstat().st_mode
            if not stat.S_ISREG(mode):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file (FIFO, device, folder)"
                raise DatasetError(f"{path} is {kind}; a raw folder may hold only regular files")
        _require_unique_ids((p.name for p in paths), f"{self._folder}/")
        for path in paths:
            size = path.stat().st_size
            if size > self._max_member_bytes:
                raise DatasetError(f"{path} is {size:,} bytes, more than the "
                                   f"{self._max_member_bytes:,} allowed (max_member_bytes)")
        self._require_total_pixels((self._file_header_pixels(path) for path in paths), f"{self._folder}/")
        logger.info("Reading %d PNGs from %s/", len(paths), self._folder)
        return {
            path.stem: _decode_png(path.read_bytes(), str(path), self._max_pixels)
            for path in tqdm(paths, desc=str(self._folder), leave=False)
        }

    @staticmethod
    def _file_header_pixels(path: Path) -> int:
        with path.open("rb") as stream:
            return _header_pixels(stream, str(path))

    def save(self, data: dict[str, np.ndarray]) -> None:
        if self._archive is not None and self._archive.is_file():
            raise DatasetError(
                f"Refusing to write {self._folder}/: {self._archive} exists and would be read instead"
            )
        if self._folder.is_dir() and any(self._folder.iterdir()):
            raise DatasetError(f"Refusing to write {self._folder}/: it already holds files, which would be mixed "
                               "with the new ones (raw data is never overwritten)")
        self._folder.mkdir(parents=True, exist_ok=True)
        for image_id, array in data.items():
            Image.fromarray(np.asarray(array, dtype=np.uint8)).save(self._folder / f"{image_id}.png")
        logger.info("Wrote %d PNGs to %s/", len(data), self._folder)

    def _exists(self) -> bool:
        return bool(self._archive and self._archive.is_file()) or self._folder.is_dir()
