"""``ImageStack``: an array of images that carries its ids and, for inputs, its channel names."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 101
"""Side of a TGS image in pixels: the size every model input and explained map has."""


def first_ids(ids: Sequence[str], limit: int | None, parameter: str) -> list[str]:
    """The first ``limit`` of ``ids``, or all of them for ``None``; ``ValueError`` naming the
    ``parameter`` for 0 or fewer (which ``ids[:0 or None]`` would silently read as all)."""
    if limit is None:
        return list(ids)
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise ValueError(f"{parameter} must be a positive number of images, or null for all of them, not {limit!r}")
    return list(ids)[:limit]


@dataclass(frozen=True)
class ImageStack:
    """Images with the ids (and channel names) that say what each index is.

    Attributes:
        ids: ``(N,)`` image ids, in the order of ``data``.
        data: ``(N, H, W)`` single-channel images or ``(N, H, W, C)`` channel stacks; may be a
            read-only memory map for large stacks.
        channels: the ``C`` channel names for 4-D data, empty for 3-D data.
    """

    ids: np.ndarray
    data: np.ndarray
    channels: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=str))
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        if len(self.ids) != len(self.data):
            raise ValueError(f"{len(self.ids)} ids for {len(self.data)} images")
        if self.data.ndim == 4 and len(self.channels) != self.data.shape[-1]:
            raise ValueError(
                f"{len(self.channels)} channel names for {self.data.shape[-1]} channels"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def select(self, ids: Sequence[str]) -> ImageStack:
        """The images with the given ids, in that order; a missing id raises ``KeyError``."""
        position = {image_id: i for i, image_id in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise KeyError(f"ids not in the stack: {missing[:5]} ({len(missing)} in all)")
        index = np.fromiter((position[i] for i in ids), dtype=np.int64, count=len(ids))
        return ImageStack(self.ids[index], np.asarray(self.data[index]), self.channels)

    def select_channels(self, names: Sequence[str]) -> ImageStack:
        """The named channels, in that order; an unknown name raises ``KeyError``."""
        missing = [n for n in names if n not in self.channels]
        if missing:
            raise KeyError(f"channels {missing} not in the stack's {list(self.channels)}")
        if list(names) == list(self.channels):
            return self
        index = [self.channels.index(n) for n in names]
        return ImageStack(self.ids, np.asarray(self.data[..., index]), tuple(names))


@dataclass(frozen=True)
class StackChunk:
    """Images ``[start, start + len(chunk))`` of a stack of ``total`` images written in chunks.

    A node that yields ``StackChunk``s lets :class:`~explainable_salt.datasets.ImageStackDataset`
    write a stack larger than memory, one chunk at a time.
    """

    chunk: ImageStack
    start: int
    total: int
