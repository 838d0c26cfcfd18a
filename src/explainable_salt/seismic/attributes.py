"""The seismic-attribute registry: the one place where input channels are defined.

Every attribute is a function of the whole image stack ``(N, 101, 101)`` of grey levels returning
``(N, 101, 101) float32``, vectorised over images; its keyword parameters come from
``parameters_feature_engineering.yml`` (``attribute_settings``). The ``channels`` parameter picks
attributes by name and fixes the channel order every later stage sees.

Axes: axis 1 is vertical (depth/time along a trace), axis 2 horizontal (trace number). Filters
act on the image axes only, so neighbouring images in a stack never bleed into each other.
Trace attributes work on :func:`amplitude`, the grey level re-centred on 0.

Edges: ``mode`` parameters take scipy.ndimage's names. Defaults follow the reference
implementations the tests compare with (bruges, scipy, scikit-image): ``energy`` pads with
zeros like bruges' ``np.convolve(mode="same")``; ``similarity`` mirrors like bruges' ``np.pad(mode=
"reflect")`` (scipy ``mirror``); ``sobel`` reflects like scikit-image; the Hilbert transform is
periodic along each trace, as ``scipy.signal.hilbert`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import convolve1d, gaussian_filter1d, uniform_filter, uniform_filter1d
from scipy.signal import hilbert
from skimage.filters.rank import entropy
from skimage.morphology import disk

VERTICAL, HORIZONTAL = 1, 2
_SOBEL_DERIVATIVE = np.array([1.0, 0.0, -1.0])
_SOBEL_SMOOTHING = np.array([1.0, 2.0, 1.0]) / 4.0


def amplitude(images: np.ndarray) -> np.ndarray:
    """Seismic amplitude: grey level re-centred on 0 and scaled to [-1, 1]."""
    return (images.astype(np.float32) - 127.5) / 127.5


def energy(images: np.ndarray, window: int = 9, mode: str = "constant") -> np.ndarray:
    """Mean-squared amplitude in a ``window``-sample window along each trace (bruges' ``energy``)."""
    return uniform_filter1d(amplitude(images) ** 2, window, axis=VERTICAL, mode=mode)


def similarity(
    images: np.ndarray, window: int = 9, step_out: int = 1, sigma: float = 1.0, mode: str = "mirror"
) -> np.ndarray:
    """Gradient-structure-tensor coherence ``(λ1 − λ2) / (λ1 + λ2)`` in [0, 1].

    As bruges' ``similarity(kind="gst")`` on a 2-D section: Gaussian-derivative gradients
    (``sigma``), structure tensor summed over ``window`` samples × ``2 step_out + 1`` traces.
    1 for perfectly layered reflectors, 0 for isotropic (chaotic or flat) texture. A window whose
    gradient energy is below ``1e-10`` (far below one grey level's step, ~1e-7: rounding noise
    of a blank patch) scores 0, where bruges returns 0/0 = NaN or the coherence of that noise.
    """
    x = amplitude(images)
    g_vertical = gaussian_filter1d(x, sigma, axis=VERTICAL, order=1)
    g_horizontal = gaussian_filter1d(x, sigma, axis=HORIZONTAL, order=1)
    size = (1, window, 2 * step_out + 1)
    j_vv = uniform_filter(g_vertical * g_vertical, size, mode=mode)
    j_hh = uniform_filter(g_horizontal * g_horizontal, size, mode=mode)
    j_vh = uniform_filter(g_vertical * g_horizontal, size, mode=mode)
    trace = j_vv + j_hh
    spread = np.sqrt((j_vv - j_hh) ** 2 + 4.0 * j_vh**2)
    return np.divide(spread, trace, out=np.zeros_like(trace), where=trace > 1e-10)


def sobel(images: np.ndarray, mode: str = "reflect") -> np.ndarray:
    """Sobel edge magnitude, as ``skimage.filters.sobel`` computes it on each image."""
    x = images.astype(np.float32)

    def derivative(axis: int) -> np.ndarray:
        other = HORIZONTAL if axis == VERTICAL else VERTICAL
        d = convolve1d(x, _SOBEL_DERIVATIVE, axis=axis, mode=mode)
        return convolve1d(d, _SOBEL_SMOOTHING, axis=other, mode=mode)

    return np.sqrt((derivative(VERTICAL) ** 2 + derivative(HORIZONTAL) ** 2) / 2.0)


def _analytic(images: np.ndarray) -> np.ndarray:
    return hilbert(amplitude(images), axis=VERTICAL)


def envelope(images: np.ndarray) -> np.ndarray:
    """Instantaneous amplitude ``|x + i H(x)|`` along each trace (reflection strength)."""
    return np.abs(_analytic(images))


def cos_phase(images: np.ndarray) -> np.ndarray:
    """Cosine of the instantaneous phase along each trace: reflector continuity without amplitude."""
    return np.cos(np.angle(_analytic(images)))


def local_variance(images: np.ndarray, window: int = 7, mode: str = "reflect") -> np.ndarray:
    """Variance of amplitude in a ``window × window`` neighbourhood: a local texture measure."""
    x = amplitude(images).astype(np.float64)
    size = (1, window, window)
    mean = uniform_filter(x, size, mode=mode)
    return np.maximum(uniform_filter(x * x, size, mode=mode) - mean * mean, 0.0)


def local_entropy(images: np.ndarray, radius: int = 4) -> np.ndarray:
    """Shannon entropy (bits) of grey levels in a disk of ``radius``: scikit-image's rank entropy."""
    footprint = disk(radius)[None]  # (1, r, r): one image at a time, all images at once
    return entropy(images.astype(np.uint8), footprint)


def depth(images: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """The image's depth in feet (``depths.csv``) as a constant plane."""
    return np.broadcast_to(np.asarray(depths, dtype=np.float32)[:, None, None], images.shape)


@dataclass(frozen=True)
class Attribute:
    """A registered attribute: its function and whether it needs the images' depths."""

    function: Callable[..., np.ndarray]
    needs_depth: bool = False


ATTRIBUTES: dict[str, Attribute] = {
    "amplitude": Attribute(amplitude),
    "energy": Attribute(energy),
    "similarity": Attribute(similarity),
    "sobel": Attribute(sobel),
    "envelope": Attribute(envelope),
    "cos_phase": Attribute(cos_phase),
    "local_variance": Attribute(local_variance),
    "local_entropy": Attribute(local_entropy),
    "depth": Attribute(depth, needs_depth=True),
}


def compute_attributes(
    images: np.ndarray,
    channels: list[str],
    settings: dict[str, dict] | None = None,
    depths: np.ndarray | None = None,
) -> np.ndarray:
    """Stack the named attributes of ``images`` ``(N, H, W)`` into ``(N, H, W, C) float32``.

    ``settings`` maps an attribute name to its keyword parameters; ``depths`` ``(N,)`` feeds
    attributes that need them. Raises ``ValueError`` for an unknown name or missing depths.
    """
    unknown = [c for c in channels if c not in ATTRIBUTES]
    if unknown:
        raise ValueError(f"Unknown attribute(s) {unknown}; the registry has {sorted(ATTRIBUTES)}")
    settings = settings or {}
    out = np.empty((*images.shape, len(channels)), dtype=np.float32)
    for c, name in enumerate(channels):
        attribute = ATTRIBUTES[name]
        extra = {}
        if attribute.needs_depth:
            if depths is None:
                raise ValueError(f"Attribute {name!r} needs the images' depths")
            extra["depths"] = depths
        out[..., c] = attribute.function(images, **extra, **settings.get(name, {}))
    return out


def require_finite(channels: np.ndarray, ids: np.ndarray, names: list[str]) -> None:
    """Raise naming the first image and channel of ``channels`` ``(n, H, W, C)`` that holds a NaN
    or an infinity, and how many images do."""
    bad = ~np.isfinite(channels).all(axis=(1, 2))  # (n, C)
    if bad.any():
        image, channel = np.argwhere(bad)[0]
        raise ValueError(
            f"Attribute {names[channel]!r} of image {ids[image]} is NaN or infinite "
            f"({int(bad.any(axis=1).sum())} image(s) affected)"
        )


def checked_attributes(
    grey: np.ndarray, ids: np.ndarray, depths: np.ndarray | None, names: list[str], settings: dict | None
) -> np.ndarray:
    """:func:`compute_attributes` of ``grey`` ``(n, H, W) uint8``, refused if any is not finite."""
    channels = compute_attributes(grey, names, settings, depths)
    require_finite(channels, ids, names)
    return channels
