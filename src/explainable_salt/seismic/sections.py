"""A line or volume cut into the sections the model sees, and the model's per-section outputs put
back on the line's or volume's grid.

A section is an image ``(H, W)`` with the samples down and the traces across, as the TGS crops
are. A 2-D line is one section; a 3-D volume gives one section per inline (traces along the
crosslines), per crossline, or both. Each is resampled by the configured factors and, where a
side is shorter than one 101-pixel tile, padded at its bottom or right by reflection; the outputs
are cropped and resampled back (:func:`restored`), so they lie on the input's grid.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr

from explainable_salt.seismic.amplitude import resampled, resampled_back
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


def sections(values: xr.DataArray, direction: str, line_id: str) -> dict[str, np.ndarray]:
    """``{id: (n_samples, n_traces)}`` sections of a line (one, named ``line_id``) or a volume
    (one per inline and / or crossline), samples down."""
    dims = cut_dims(values, direction)
    if not dims:
        return {line_id: values.transpose("sample", "trace").to_numpy()}
    return {section_id(dim, v): values.sel({dim: v}).transpose("sample", ...).to_numpy()
            for dim in dims for v in values[dim].to_numpy()}


def section_shapes(values: xr.DataArray, direction: str, line_id: str) -> dict[str, tuple[int, int]]:
    """``{id: (n_samples, n_traces)}``: the ids and shapes :func:`sections` gives, without reading
    a sample."""
    dims = cut_dims(values, direction)
    if not dims:
        return {line_id: (values.sizes["sample"], values.sizes["trace"])}
    across = {"iline": "xline", "xline": "iline"}
    return {section_id(dim, v): (values.sizes["sample"], values.sizes[across[dim]])
            for dim in dims for v in values[dim].to_numpy()}


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


def on_grid(per_section: Mapping[str, np.ndarray], like: xr.DataArray, direction: str, line_id: str) -> np.ndarray:
    """The sections' outputs ``{id: (n_samples, n_traces, ...)}``, already :func:`restored`,
    assembled on ``like``'s grid (its dims, then any trailing axes) and averaged where two
    directions cover a sample."""
    dims = cut_dims(like, direction)
    if not dims:
        return np.moveaxis(per_section[line_id], 0, 1)  # (sample, trace) → (trace, sample)
    first = next(iter(per_section.values()))
    total = np.zeros(like.shape + first.shape[2:], np.float64)
    for dim in dims:
        axis = like.dims.index(dim)
        for k, v in enumerate(like[dim].to_numpy()):
            section = np.moveaxis(per_section[section_id(dim, v)], 0, 1)  # (sample, traces, ...) → (traces, sample, ...)
            index = [slice(None)] * like.ndim
            index[axis] = k
            total[tuple(index)] += section
    return (total / len(dims)).astype(first.dtype if first.dtype.kind == "f" else np.float32)
