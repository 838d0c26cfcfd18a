"""A line or volume cut into the sections the model sees (:class:`PreparedSections`, read when
indexed), and the model's per-section outputs brought back to the line's or volume's grid.

A section is an image ``(H, W)`` with the samples down and the traces across, as the TGS crops
are. A 2-D line is one section; a 3-D volume gives one section per inline (traces along the
crosslines), per crossline, or both. Each is resampled by the configured factors and, where a
side is shorter than one 101-pixel tile, padded at its bottom or right by reflection; the outputs
are cropped and resampled back (:func:`restored`), so they lie on the input's grid.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from explainable_salt.seismic.amplitude import resampled, resampled_back, to_grey
from explainable_salt.stacks import IMAGE_SIZE

DIRECTIONS = {"inline": ["iline"], "crossline": ["xline"], "both": ["iline", "xline"]}


def section_id(dim: str, value) -> str:
    """``iline_000111``: the id of the section at ``value`` of ``dim``, zero-padded so that ids
    sort in line order."""
    return f"{dim}_{int(value):06d}"


def cut_dims(values: xr.DataArray, direction: str) -> list[str]:
    """The dimensions a line or volume is cut along: none for a 2-D line (one section), else those
    of ``direction`` (``inline``, ``crossline`` or ``both``)."""
    if "trace" in values.dims:
        return []
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r}: one of {sorted(DIRECTIONS)}")
    return DIRECTIONS[direction]


def section_shapes(values: xr.DataArray, direction: str, line_id: str) -> dict[str, tuple[int, int]]:
    """``{id: (n_samples, n_traces)}``: the id and shape on the input's grid of each section of a
    line (one, named ``line_id``) or volume (one per inline and / or crossline), samples down."""
    dims = cut_dims(values, direction)
    if not dims:
        return {line_id: (values.sizes["sample"], values.sizes["trace"])}
    across = {"iline": "xline", "xline": "iline"}
    return {section_id(dim, v): (values.sizes["sample"], values.sizes[across[dim]])
            for dim in dims for v in values[dim].to_numpy()}


class PreparedSections:
    """The sections of a line or volume along one direction as the model reads them, computed
    when indexed: a stack ``(n, H, W) uint8`` that reads only the sections asked for, so a volume
    larger than memory is predicted a chunk of sections at a time (an
    :class:`~explainable_salt.stacks.ImageStack`'s ``data``).

    Each section is read from ``amplitude`` (NumPy-, Dask- or zarr-backed), multiplied by
    ``polarity``, mapped to grey levels by ``knots``
    (:func:`~explainable_salt.seismic.amplitude.to_grey`) and :func:`prepared` by ``factors``.
    ``dim`` is the dimension cut along (``iline`` or ``xline``), ``None`` for a 2-D line's one
    section; ``section_shape`` is a section's shape on the input's grid ``(n_samples, n_traces)``.
    """

    dtype = np.dtype(np.uint8)
    ndim = 3

    def __init__(self, amplitude: xr.DataArray, dim: str | None, knots: tuple[np.ndarray, np.ndarray],
                 polarity: float, factors: tuple[float, float]):
        self.amplitude, self.dim, self.knots = amplitude, dim, knots
        self.polarity, self.factors = float(polarity), tuple(factors)
        across = "trace" if dim is None else {"iline": "xline", "xline": "iline"}[dim]
        self.section_shape = (amplitude.sizes["sample"], amplitude.sizes[across])
        count = 1 if dim is None else amplitude.sizes[dim]
        self.shape = (count, *prepared(np.zeros(self.section_shape, np.uint8), self.factors).shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if self.dim is None:
            picked = np.arange(1)[index]
            values = self.amplitude.transpose("sample", "trace").to_numpy()[None][np.atleast_1d(picked) * 0]
        else:
            picked = np.arange(len(self))[index]
            values = self.amplitude.isel({self.dim: np.atleast_1d(picked)}).transpose(self.dim, "sample", ...).to_numpy()
        grey = np.stack([prepared(to_grey(self.polarity * v, self.knots), self.factors) for v in values])
        return grey if np.ndim(picked) else grey[0]


def prepared(section: np.ndarray, factors: tuple[float, float]) -> np.ndarray:
    """A section resampled by ``factors`` and, where a side is under 101 pixels, padded at the
    bottom or right by reflection to 101."""
    out = resampled(section, factors)
    short = [(0, max(0, IMAGE_SIZE - n)) for n in out.shape]
    return np.pad(out, short, mode="reflect") if any(p for _, p in short) else out


def restored(values: np.ndarray, shape: tuple[int, int], factors: tuple[float, float]) -> np.ndarray:
    """A prepared section's output ``(h, w, ...)`` on the section's own grid ``shape``: the
    padding cropped, the resampling undone."""
    scaled = resampled(np.zeros(shape, np.float32), factors).shape
    return resampled_back(values[: scaled[0], : scaled[1]], shape)
