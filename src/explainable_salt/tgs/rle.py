"""The competition's run-length encoding: the one codec used everywhere in the project.

Pixels are numbered from 1, top to bottom then left to right (column-major, NumPy ``order="F"``);
an encoding is a space-separated string of ``start length`` pairs, empty for an empty mask.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainable_salt.stacks import IMAGE_SIZE, ImageStack


def rle_encode(mask: np.ndarray) -> str:
    """Encode a binary mask ``(H, W)`` as the competition's RLE string ('' when empty)."""
    pixels = np.asarray(mask, dtype=bool).flatten(order="F")
    padded = np.concatenate([[False], pixels, [False]])
    changes = np.flatnonzero(padded[1:] != padded[:-1]) + 1
    starts, ends = changes[0::2], changes[1::2]
    return " ".join(f"{s} {e - s}" for s, e in zip(starts, ends))


def rle_decode(rle: str | float | None, shape: tuple[int, int] = (IMAGE_SIZE, IMAGE_SIZE)) -> np.ndarray:
    """Decode an RLE string into a ``uint8`` mask of ``shape`` with values 0/1.

    An empty string, ``None`` or NaN (an empty CSV cell) is an empty mask. Raises ``ValueError``
    for odd-length, non-positive, overlapping or out-of-range runs.
    """
    size = shape[0] * shape[1]
    flat = np.zeros(size, dtype=np.uint8)
    if rle is None or (isinstance(rle, float) and np.isnan(rle)) or not str(rle).strip():
        return flat.reshape(shape, order="F")
    try:
        numbers = np.asarray(str(rle).split(), dtype=np.int64)
    except ValueError as err:
        raise ValueError(f"RLE contains non-integer tokens: {err}") from None
    if numbers.size % 2:
        raise ValueError("RLE has an odd number of values (start/length pairs expected)")
    starts, lengths = numbers[0::2] - 1, numbers[1::2]
    ends = starts + lengths
    if (starts < 0).any() or (lengths <= 0).any() or (ends > size).any():
        raise ValueError(f"RLE runs fall outside the 1..{size} pixel range or have length <= 0")
    if (starts[1:] < ends[:-1]).any():
        raise ValueError("RLE runs overlap or are not in increasing order")
    # Mark run boundaries and integrate: +1 at each start, -1 at each end.
    steps = np.zeros(size + 1, dtype=np.int64)
    np.add.at(steps, starts, 1)
    np.add.at(steps, ends, -1)
    flat[:] = np.cumsum(steps[:-1]) > 0
    return flat.reshape(shape, order="F")


def rle_encode_stack(masks: np.ndarray) -> list[str]:
    """Encode every mask of a ``(N, H, W)`` stack."""
    return [rle_encode(mask) for mask in masks]


def make_submission(masks: ImageStack) -> pd.DataFrame:
    """The competition submission: ``id,rle_mask`` for every image of ``masks`` ``(N, 101, 101)``."""
    return pd.DataFrame({"id": masks.ids, "rle_mask": rle_encode_stack(masks.data)})
