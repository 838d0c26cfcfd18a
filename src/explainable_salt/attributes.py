"""The seismic-attribute registry: the one place where input channels are defined.

Every attribute is a function of the whole image stack ``(N, 101, 101)`` (grey levels as float32)
returning ``(N, 101, 101) float32``, vectorised over images, with keyword parameters taken from
``parameters_feature_engineering.yml``. The channel list, and so the channel order the model,
the explanations and the report see, is the ``channels`` parameter.

Axis convention: axis 1 is vertical (depth/time along a trace), axis 2 horizontal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import convolve1d

Attribute = Callable[..., np.ndarray]

_SOBEL_DERIVATIVE = np.array([1.0, 0.0, -1.0])
_SOBEL_SMOOTHING = np.array([1.0, 2.0, 1.0]) / 4.0


def amplitude(images: np.ndarray) -> np.ndarray:
    """Seismic amplitude: grey level re-centred on 0 and scaled to [-1, 1]."""
    return (images.astype(np.float32) - 127.5) / 127.5


def sobel_magnitude(images: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Sobel edge magnitude of each image, as ``skimage.filters.sobel`` computes it.

    Only the two image axes are filtered, so images never bleed into each other; edges are
    extended by ``mode`` (scipy.ndimage's names; skimage's default is ``reflect``).
    """
    x = images.astype(np.float32)

    def derivative(axis: int) -> np.ndarray:
        other = 2 if axis == 1 else 1
        d = convolve1d(x, _SOBEL_DERIVATIVE, axis=axis, mode=mode)
        return convolve1d(d, _SOBEL_SMOOTHING, axis=other, mode=mode)

    return np.sqrt((derivative(1) ** 2 + derivative(2) ** 2) / 2.0).astype(np.float32)


ATTRIBUTES: dict[str, Attribute] = {
    "amplitude": amplitude,
    "sobel": sobel_magnitude,
}


def compute_attributes(
    images: np.ndarray, channels: list[str], settings: dict[str, dict] | None = None
) -> np.ndarray:
    """Stack the named attributes of ``images`` ``(N, H, W)`` into ``(N, H, W, C) float32``.

    ``settings`` maps an attribute name to its keyword parameters. Raises ``ValueError`` for an
    unknown channel name.
    """
    unknown = [c for c in channels if c not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"Unknown attribute(s) {unknown}; the registry has {sorted(ATTRIBUTES)}")
    settings = settings or {}
    out = np.empty((*images.shape, len(channels)), dtype=np.float32)
    for c, name in enumerate(channels):
        out[..., c] = ATTRIBUTES[name](images, **settings.get(name, {}))
    return out
