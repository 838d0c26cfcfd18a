"""Short content hashes of artifacts that cost little whatever their size (used by the lineage).

A file or folder on disk (:func:`path_fingerprint`): every file's name and size, the whole of small
files, and of larger ones :data:`SAMPLES` chunks spread from the header to the end, so a volume
larger than memory is never read whole. A value in memory (:func:`fingerprint`): a model's weights,
an image stack's ids and sampled images, a table's row hashes, JSON's text.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from explainable_salt.stacks import ImageStack

SAMPLES = 17  # chunks of a large file, files of a folder, images of a stack: first and last included
CHUNK_BYTES = 1 << 16
WHOLE_FILE_BYTES = 1 << 22  # a file up to 4 MiB is hashed whole, so an edit anywhere in a table shows
SAMPLED_ROWS = 100_000  # rows of a larger in-memory DataFrame hashed, spread over it



def _spread(count: int, samples: int = SAMPLES) -> np.ndarray:
    """Up to ``samples`` indices spread evenly over ``range(count)``, the first and last included."""
    return np.unique(np.linspace(0, count - 1, samples).astype(np.int64)) if count > 0 else np.empty(0, np.int64)


def path_fingerprint(path: str | os.PathLike) -> str | None:
    """A short hash of a file or folder (``None`` if there is none), reading at most ``SAMPLES``
    chunks of ``CHUNK_BYTES`` from each of at most ``SAMPLES`` files: every file's name and size,
    the whole of small files, and of larger ones chunks spread from the header to the end (a zip's
    or a Parquet file's directory included). Hidden entries (staging folders) are left out."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
    else:
        return None
    sizes = [f.stat().st_size for f in files]
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps([[f.relative_to(path).as_posix() if f != path else f.name, s]
                              for f, s in zip(files, sizes)]).encode())
    for index in _spread(len(files)):
        with open(files[index], "rb") as handle:
            if sizes[index] <= WHOLE_FILE_BYTES:
                digest.update(handle.read())
                continue
            for offset in _spread(sizes[index] - CHUNK_BYTES + 1):
                handle.seek(int(offset))
                digest.update(handle.read(CHUNK_BYTES))
    return digest.hexdigest()


def fingerprint(value: Any) -> str | None:
    """A short hash of an in-memory artifact, or ``None`` for what is not fingerprinted. A model:
    its weights. An image stack: ids, channels, shape, dtype and 17 images spread over it (cheap on
    a memory map). A DataFrame: columns, dtypes, shape and the rows' hashes (of 100 000 rows spread
    over a larger one). JSON-like values: their JSON."""
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(value, ImageStack):
        digest.update(json.dumps([list(map(str, value.ids)), list(value.channels), value.data.shape,
                                  str(value.data.dtype)]).encode())
        for index in _spread(len(value.data)):
            digest.update(np.ascontiguousarray(value.data[index]).data)
    elif isinstance(value, pd.DataFrame):
        digest.update(json.dumps([list(map(str, value.columns)), list(map(str, value.dtypes)), value.shape]).encode())
        rows = value if len(value) <= SAMPLED_ROWS else value.iloc[_spread(len(value), SAMPLED_ROWS)]
        try:
            digest.update(pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes())
        except TypeError:  # cells that cannot be hashed (lists, dicts)
            return None
    elif isinstance(value, (dict, list, str, int, float)):
        try:
            digest.update(json.dumps(value, sort_keys=True).encode())
        except TypeError:
            return None
    elif hasattr(value, "get_weights") and hasattr(value, "save"):  # a Keras model
        for weight in value.get_weights():
            digest.update(np.ascontiguousarray(weight).data)
    else:
        return None
    return digest.hexdigest()
