"""``ImageStack``: an array of images that carries its ids and, for inputs, its channel names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageStack:
    """Images with the ids (and channel names) that say what each index is.

    Attributes:
        ids: ``(N,)`` image ids, in the order of ``data``.
        data: ``(N, H, W)`` single-channel images or ``(N, H, W, C)`` channel stacks.
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

    def select(self, ids) -> ImageStack:
        """The images with the given ids, in that order; a missing id raises ``KeyError``."""
        position = {image_id: i for i, image_id in enumerate(self.ids)}
        missing = [i for i in ids if i not in position]
        if missing:
            raise KeyError(f"ids not in the stack: {missing[:5]} ({len(missing)} in all)")
        index = np.fromiter((position[i] for i in ids), dtype=np.int64, count=len(ids))
        return ImageStack(self.ids[index], self.data[index], self.channels)
