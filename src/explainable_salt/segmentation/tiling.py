"""Overlapping 101 × 101 tiles of a larger section, and per-tile maps blended back into it.

The model sees 101 × 101 inputs only. A section ``(H, W)`` of any size from 101 × 101 up is cut
into tiles whose origins are spread evenly along each axis, neighbours overlapping by at least
``overlap`` pixels; the first tile starts at the top-left corner and the last one ends at the
bottom-right, so every pixel is covered.

Blending uses ONE set of weights: for each tile a ``(101, 101)`` map, the tile's window (a
pyramid, highest at the tile's centre, where the model sees most context, and small but positive
at its edges) divided by the sum of the windows of all tiles covering each pixel. At every pixel
the weights of the covering tiles therefore sum to exactly 1, so blending is an affine average:
any linear identity between per-tile maps, such as ``expected + Σ φ = prediction`` of Shapley
values, holds on the stitched section too. A 101 × 101 section is one tile of weight 1.0
everywhere, and blending gives back the tile's values bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from explainable_salt.stacks import IMAGE_SIZE

DEFAULT_OVERLAP = 67
"""Pixels shared by neighbouring tiles (at least): two thirds of a tile, so every pixel away from
the section's border is covered by two or three tiles along each axis, and what the model does
differently near a tile's edges averages out of the stitched maps instead of repeating with the
tiles (measured by ``benchmarks/tile_grid.py``; half a tile, 50, left a grid)."""


@dataclass(frozen=True)
class Tiling:
    """How a section of ``shape`` ``(H, W)`` is cut: ``origins`` ``(T, 2)`` (row, column) of the
    tiles' top-left pixels and ``weights`` ``(T, 101, 101) float64``, which sum to 1 at every
    pixel of the section."""

    shape: tuple[int, int]
    origins: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.origins)


def tile_starts(length: int, overlap: int = DEFAULT_OVERLAP, tile: int = IMAGE_SIZE) -> np.ndarray:
    """Start offsets along one axis of ``length`` pixels: as few tiles as keep neighbours
    overlapping by at least ``overlap`` pixels, spread evenly from ``0`` to ``length − tile``."""
    if length < tile:
        raise ValueError(f"an axis of {length} pixels is shorter than a {tile}-pixel tile")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, {tile}), not {overlap}")
    count = 1 + int(np.ceil((length - tile) / (tile - overlap)))
    return np.rint(np.linspace(0, length - tile, count)).astype(np.int64)


def window(tile: int = IMAGE_SIZE) -> np.ndarray:
    """The ``(tile, tile)`` pyramid window: 1 at the centre, ``1 / ceil(tile / 2)`` at the edges."""
    ramp = np.minimum(np.arange(1, tile + 1), np.arange(tile, 0, -1)) / np.ceil(tile / 2)
    return np.outer(ramp, ramp)


def plan_tiles(shape: tuple[int, int], overlap: int = DEFAULT_OVERLAP) -> Tiling:
    """The tiles of a section of ``shape`` ``(H, W)`` and their blending weights."""
    height, width = int(shape[0]), int(shape[1])
    origins = np.array([(r, c) for r in tile_starts(height, overlap) for c in tile_starts(width, overlap)])
    windows = np.broadcast_to(window(), (len(origins), IMAGE_SIZE, IMAGE_SIZE))
    total = blend_sum(windows, origins, (height, width))
    weights = np.stack([w / _crop(total, o) for w, o in zip(windows, origins)])
    return Tiling((height, width), origins, weights)


def _crop(section: np.ndarray, origin: np.ndarray) -> np.ndarray:
    r, c = origin
    return section[r : r + IMAGE_SIZE, c : c + IMAGE_SIZE]


def blend_sum(tiles: np.ndarray, origins: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The sum of ``tiles`` ``(T, 101, 101, ...)`` placed at ``origins`` on a float64 section."""
    out = np.zeros((*shape, *tiles.shape[3:]))
    for tile, origin in zip(tiles, origins):
        _crop(out, origin)[...] += tile
    return out


def cut(sections: np.ndarray, tiling: Tiling) -> np.ndarray:
    """Tiles ``(n × T, 101, 101, ...)`` of sections ``(n, H, W, ...)``: the tiles of the first
    section, then of the second, and so on (none for no section)."""
    if tuple(sections.shape[1:3]) != tiling.shape:
        raise ValueError(f"sections of {sections.shape[1:3]} cut with a tiling of {tiling.shape}")
    tiles = np.empty((len(sections), len(tiling), IMAGE_SIZE, IMAGE_SIZE, *sections.shape[3:]), sections.dtype)
    for t, (r, c) in enumerate(tiling.origins):
        tiles[:, t] = sections[:, r : r + IMAGE_SIZE, c : c + IMAGE_SIZE]
    return tiles.reshape(-1, *tiles.shape[2:])


def blend(tiles: np.ndarray, tiling: Tiling) -> np.ndarray:
    """Sections ``(n, H, W, ...) float64`` from per-tile maps ``(n × T, 101, 101, ...)`` (as
    :func:`cut` orders them), each pixel the weighted mean of the tiles covering it (none for no
    tile)."""
    per_section = tiles.reshape(-1, len(tiling), *tiles.shape[1:])
    weights = tiling.weights.reshape(tiling.weights.shape + (1,) * (tiles.ndim - 3))
    out = np.zeros((len(per_section), *tiling.shape, *tiles.shape[3:]))
    for t, (r, c) in enumerate(tiling.origins):  # in blend_sum's order: the same sums, bit for bit
        out[:, r : r + IMAGE_SIZE, c : c + IMAGE_SIZE] += weights[t] * per_section[:, t]
    return out


def tile_period_power(maps: np.ndarray, tiling: Tiling, axis: int = 2, harmonics: int = 10) -> float:
    """How strongly stitched ``maps`` ``(n, H, W)`` or ``(n, H, W, T)`` repeat with the tiles
    along ``axis`` (1: rows, 2: columns): the power of their mean profile along that axis at the
    tile period and its harmonics below the Nyquist frequency (each the largest of the three
    nearest frequency bins, as tile origins are rounded), over the median power of all
    frequencies. Noise gives about 2.6; a pattern repeated with every tile, far more. A section
    of one tile along ``axis`` has no tile period: ``ValueError``."""
    starts = np.unique(tiling.origins[:, axis - 1])
    if len(starts) < 2:
        raise ValueError(f"one tile along axis {axis}: no tile period")
    values = maps if maps.ndim == 4 else maps[..., None]
    profile = values.mean(axis=(0, 3 - axis))  # (length, T)
    power = (np.abs(np.fft.rfft(profile - profile.mean(axis=0), axis=0)) ** 2).sum(axis=1)
    cycles = values.shape[axis] / np.diff(starts).mean()
    bins = [round(k * cycles) for k in range(1, harmonics + 1) if round(k * cycles) + 1 < len(power)]
    return float(np.mean([power[b - 1 : b + 2].max() for b in bins]) / np.median(power[1:]))
