"""Seismic amplitudes into the model's domain: 8-bit grey levels distributed like the TGS
training images'.

The TGS crops are 8-bit images whose clip and gain were never published; salt shows there as a
zone of weak, chaotic reflections, so how a survey's amplitudes are clipped decides what looks
like salt. The clip is therefore chosen from the data: the amplitudes of the whole line or
volume are mapped so that their grey-level distribution matches the training images'
(:func:`grey_quantiles`), either linearly through two matched quantiles (``linear``: amplitude
ratios are kept, the tails clip) or quantile by quantile (``histogram``: the whole distribution
matches, the map bends).
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

from explainable_salt.seismic.segy import trace_blocks

PROBABILITIES = np.linspace(0.0, 1.0, 1001)  # the quantiles a distribution is described by
SAMPLED = 10_000_000  # amplitudes the quantiles are computed from: every k-th trace's of larger volumes


def grey_quantiles(images: np.ndarray) -> np.ndarray:
    """The grey-level quantiles ``(1001,)`` at :data:`PROBABILITIES` of a ``uint8`` image stack
    (any shape), from its histogram."""
    counts = np.bincount(np.asarray(images, dtype=np.uint8).ravel(), minlength=256)
    cumulative = np.cumsum(counts) / counts.sum()
    return np.searchsorted(cumulative, np.clip(PROBABILITIES, 1e-12, 1 - 1e-12)).astype(np.float64)


def sampled_amplitudes(amplitude) -> np.ndarray:
    """The amplitudes of a whole line ``(trace, sample)`` or volume ``(iline, xline, sample)``
    (NumPy, Dask or xarray) the scaling is computed from, flat: every sample when there are at most
    :data:`SAMPLED`, else every k-th trace's, read block by block so the volume is never held whole."""
    n_traces, n_samples = int(np.prod(amplitude.shape[:-1])), amplitude.shape[-1]
    every = max(1, -(-n_traces * n_samples // SAMPLED))
    picked = [block[(-start) % every::every] for start, block in trace_blocks(amplitude)]
    return np.concatenate(picked).ravel()


def amplitude_quantiles(amplitude: np.ndarray) -> np.ndarray:
    """The amplitude quantiles ``(1001,)`` at :data:`PROBABILITIES` of a whole line or volume
    (:func:`sampled_amplitudes` of larger ones)."""
    flat = np.asarray(amplitude, dtype=np.float32).ravel()
    step = max(1, flat.size // SAMPLED)
    return np.quantile(flat[::step], PROBABILITIES)


def grey_map(amplitude_q: np.ndarray, reference_q: np.ndarray, method: str,
             matched: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(amplitudes, grey levels)`` of the monotone map from amplitude to grey level,
    linear between knots and clipped at 0 and 255 beyond: through the quantiles ``matched`` of
    both distributions (``linear``), or through every quantile (``histogram``)."""
    if method == "histogram":
        amplitudes, greys = np.unique(amplitude_q, return_index=True)
        return amplitudes, reference_q[greys]
    if method != "linear":
        raise ValueError(f"amplitude scaling method {method!r}: one of linear, histogram")
    at = [round(q * (len(PROBABILITIES) - 1)) for q in matched]
    (a0, a1), (g0, g1) = amplitude_q[at], reference_q[at]
    if not a1 > a0:
        raise ValueError(f"the amplitudes' {matched[0]:g} and {matched[1]:g} quantiles are equal ({a0:g}): "
                         "a constant section has no grey levels to match")
    slope = (g1 - g0) / (a1 - a0)
    return np.array([a0 - g0 / slope, a0 + (255 - g0) / slope]), np.array([0.0, 255.0])


def to_grey(amplitude: np.ndarray, knots: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``uint8`` grey levels of ``amplitude`` (any shape) by the map of :func:`grey_map`."""
    return np.rint(np.interp(amplitude, *knots, left=0.0, right=255.0)).astype(np.uint8)


def resampled(section: np.ndarray, factors: tuple[float, float]) -> np.ndarray:
    """A section ``(H, W)`` resampled by ``factors`` (vertical, horizontal; 2 doubles the
    samples), bilinear, in its own dtype; the identity when both are 1."""
    if tuple(factors) == (1, 1):
        return section
    shape = tuple(max(1, round(n * f)) for n, f in zip(section.shape, factors))
    out = resize(section.astype(np.float32), shape, order=1, mode="edge", anti_aliasing=min(factors) < 1,
                 preserve_range=True)
    return np.rint(out).astype(section.dtype) if section.dtype == np.uint8 else out.astype(section.dtype)


def resampled_back(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``values`` ``(h, w, ...)`` bilinearly resampled to ``shape`` ``(H, W)`` (the first two
    axes): a section's outputs back on its input's grid; unchanged when already that size."""
    if values.shape[:2] == tuple(shape):
        return values
    return resize(values, tuple(shape) + values.shape[2:], order=1, mode="edge", anti_aliasing=False,
                  preserve_range=True).astype(values.dtype)
