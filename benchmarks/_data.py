"""Shared by the benchmarks: the real TGS images, decoded once."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# The real competition files, found as the tests find them: $TGS_DATA_DIR, else ../shared/tgs.
DEFAULT_TGS = Path(os.environ.get("TGS_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "tgs"))


def load_grey_images(tgs_dir: Path, limit: int | None = None) -> tuple[np.ndarray, float]:
    """All train and test images of ``tgs_dir`` (the first ``limit``, when given) as
    ``(N, 101, 101) uint8``, and the decode time."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: {limit} images; at least 1 needed (None: all)")
    start = time.perf_counter()
    images = []
    for archive_name in ("train.zip", "test.zip"):
        with zipfile.ZipFile(tgs_dir / archive_name) as archive:
            names = [n for n in archive.namelist() if n.startswith("images/") and n.endswith(".png")]
            for name in names:
                images.append(np.asarray(Image.open(io.BytesIO(archive.read(name))))[..., 0])
                if limit is not None and len(images) >= limit:
                    return np.stack(images), time.perf_counter() - start
    return np.stack(images), time.perf_counter() - start
