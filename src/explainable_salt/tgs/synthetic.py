"""A synthetic, geophysically plausible TGS-like dataset: the project's built-in default data.

Each image is a 101 × 101 seismic section built like a real one, vectorised over the stack:

1. a layered reflectivity model: a random sparse reflection-coefficient series laid along a
   relative-geological-time surface with dip and folds, so layers dip and undulate;
2. salt bodies of several shapes (domes, sheets, diapirs, massive salt filling most of the image,
   or none in about 40 % of images) replace the layers with weak chaotic reflectivity, a strong
   positive top-of-salt and a negative base-of-salt reflection;
3. convolution with a Ricker wavelet along the vertical (time/depth) axis, plus noise;
4. scaling to 8-bit grey levels centred on 128, as the competition's images are.

Depth in feet is drawn per image, with salt a little more likely deeper down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import convolve1d, gaussian_filter

from explainable_salt.stacks import IMAGE_SIZE
from explainable_salt.tgs.rle import rle_encode_stack

SALT_SHAPES = ("none", "dome", "sheet", "diapir", "massive")


@dataclass(frozen=True)
class SyntheticSet:
    """Generated images ``(N, H, W) uint8`` (101 × 101 unless asked otherwise), masks ``(N, H, W)``
    0/1, ids and depths."""

    ids: list[str]
    images: np.ndarray
    masks: np.ndarray
    depths: np.ndarray
    shapes: list[str]


def ricker(peak_frequency: float, half_length: int) -> np.ndarray:
    """Ricker wavelet sampled at integer lags; ``peak_frequency`` in cycles per pixel."""
    t = np.arange(-half_length, half_length + 1, dtype=np.float64)
    arg = (np.pi * peak_frequency * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


SQUARE = (IMAGE_SIZE, IMAGE_SIZE)


def _grid(n: int, size: tuple[int, int] = SQUARE) -> tuple[np.ndarray, np.ndarray]:
    z = np.arange(size[0], dtype=np.float64)[None, :, None]
    x = np.arange(size[1], dtype=np.float64)[None, None, :]
    return np.broadcast_to(z, (n, *size)), np.broadcast_to(x, (n, *size))


def _per_image(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, size=(n, 1, 1))


def layered_reflectivity(rng: np.random.Generator, n: int, size: tuple[int, int] = SQUARE) -> np.ndarray:
    """Sediment reflectivity ``(N, H, W)``: sparse layers with dips and folds."""
    z, x = _grid(n, size)
    dip = _per_image(rng, -0.5, 0.5, n)
    fold_amplitude = _per_image(rng, 0.0, 12.0, n)
    fold_length = _per_image(rng, 40.0, 200.0, n)
    fold_phase = _per_image(rng, 0.0, 2 * np.pi, n)
    # Relative geological time: constant along each layer.
    time = z + dip * (x - size[1] / 2) + fold_amplitude * np.sin(2 * np.pi * x / fold_length + fold_phase)
    offset = 200
    series_length = 2 * offset + max(size)
    series = rng.laplace(0.0, 0.12, size=(n, series_length))
    series *= rng.random((n, series_length)) < 0.35  # sparse reflectors
    series = gaussian_filter(series, sigma=(0, 0.6))
    index = np.clip(np.rint(time).astype(np.int64) + offset, 0, series_length - 1)
    return np.take_along_axis(series, index.reshape(n, -1), axis=1).reshape(n, *size)


def salt_masks(
    rng: np.random.Generator, n: int, shape_probabilities: dict[str, float], depths: np.ndarray,
    size: tuple[int, int] = SQUARE,
) -> tuple[np.ndarray, list[str]]:
    """Salt masks ``(N, H, W) bool`` and the shape drawn for each image."""
    names = list(shape_probabilities)
    p = np.asarray([shape_probabilities[k] for k in names], dtype=np.float64)
    # Deeper images carry salt a little more often: tilt the no-salt odds by depth.
    depth_tilt = (depths - depths.mean()) / (depths.std() + 1e-9)
    logits = np.log(p + 1e-12)[None, :].repeat(n, axis=0)
    if "none" in names:
        logits[:, names.index("none")] -= 0.35 * depth_tilt
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    choice = (probs.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    shapes = [names[i] for i in choice]

    z, x = _grid(n, size)
    centre = _per_image(rng, 10, 90, n)
    wobble = _per_image(rng, 0, 4, n) * np.sin(x / _per_image(rng, 6, 15, n) + _per_image(rng, 0, 6, n))
    dome_top = _per_image(rng, 15, 80, n) + _per_image(rng, 0.01, 0.06, n) * (x - centre) ** 2 + wobble
    sheet_top = _per_image(rng, 10, 70, n) + _per_image(rng, -0.3, 0.3, n) * (x - centre) + wobble
    sheet_base = sheet_top + _per_image(rng, 12, 35, n)
    stem_top = _per_image(rng, 0, 50, n)
    stem_centre = centre + _per_image(rng, -0.3, 0.3, n) * z
    stem_width = _per_image(rng, 6, 20, n) + _per_image(rng, 0.0, 0.25, n) * (z - stem_top)
    massive_top = _per_image(rng, -10, 25, n) + wobble

    candidates = {
        "none": np.zeros((n, *size), dtype=bool),
        "dome": z >= dome_top,
        "sheet": (z >= sheet_top) & (z <= sheet_base),
        "diapir": (z >= stem_top) & (np.abs(x - stem_centre) <= stem_width),
        "massive": z >= massive_top,
    }
    stacked = np.stack([candidates[k] for k in names], axis=1)  # (N, K, H, W)
    masks = np.take_along_axis(stacked, choice[:, None, None, None], axis=1)[:, 0]
    return masks, shapes


def seismic_from_model(
    rng: np.random.Generator,
    sediments: np.ndarray,
    masks: np.ndarray,
    wavelet_frequency: float,
    noise_level: float,
) -> np.ndarray:
    """Seismic amplitude ``(N, H, W)`` float: salt reflectivity, wavelet, noise."""
    n, height, width = masks.shape
    chaotic = gaussian_filter(rng.normal(0.0, 1.0, size=(n, height, width)), sigma=(0, 1.2, 1.2))
    chaotic *= 0.03 / (chaotic.std() + 1e-9)  # weak chaotic reflectivity inside salt
    reflectivity = np.where(masks, chaotic, sediments)
    above = np.concatenate([np.zeros((n, 1, width), dtype=bool), masks[:, :-1]], axis=1)
    top_of_salt = masks & ~above
    base_of_salt = ~masks & above
    reflectivity = reflectivity + 0.6 * top_of_salt - 0.35 * base_of_salt
    trace = convolve1d(reflectivity, ricker(wavelet_frequency, 25), axis=1, mode="reflect")
    trace += rng.normal(0.0, noise_level * trace.std(), size=trace.shape)
    return trace


def to_uint8(seismic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scale each image to grey levels around 128, with a per-image gain as on real sections."""
    scale = np.percentile(np.abs(seismic), 99, axis=(1, 2), keepdims=True) + 1e-9
    gain = rng.uniform(0.6, 1.0, size=(len(seismic), 1, 1))
    return np.clip(128 + 127 * gain * seismic / scale, 0, 255).astype(np.uint8)


def generate(
    n_images: int,
    seed: int,
    shape_probabilities: dict[str, float],
    wavelet_frequency: float = 0.07,
    noise_level: float = 0.15,
    depth_range: tuple[float, float] = (50, 960),
    size: tuple[int, int] = SQUARE,
) -> SyntheticSet:
    """Generate ``n_images`` labelled images of ``size`` (height, width; 101 × 101 as the
    competition's by default, larger for whole sections), deterministically for a given ``seed``."""
    unknown = set(shape_probabilities) - set(SALT_SHAPES)
    if unknown:
        raise ValueError(f"Unknown salt shapes {sorted(unknown)}; known: {SALT_SHAPES}")
    rng = np.random.default_rng(seed)
    ids = [f"{v:010x}" for v in rng.choice(16**10, size=n_images, replace=False)]
    depths = np.rint(rng.uniform(*depth_range, size=n_images)).astype(np.int64)
    sediments = layered_reflectivity(rng, n_images, size)
    masks, shapes = salt_masks(rng, n_images, shape_probabilities, depths.astype(np.float64), size)
    seismic = seismic_from_model(rng, sediments, masks, wavelet_frequency, noise_level)
    return SyntheticSet(ids, to_uint8(seismic, rng), masks.astype(np.uint8), depths, shapes)


def competition_layout(
    train: SyntheticSet, test: SyntheticSet
) -> tuple[dict, dict, pd.DataFrame, pd.DataFrame, dict]:
    """The five raw datasets as the competition ships them.

    Returns train images and masks as ``{id: uint8 array}`` (images RGB with equal channels,
    masks 0/255), ``train.csv`` (id, rle_mask), ``depths.csv`` (id, z) for train and test, and
    test images.
    """

    def rgb(images: np.ndarray, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: np.repeat(img[..., None], 3, axis=-1) for i, img in zip(ids, images)}

    train_images = rgb(train.images, train.ids)
    train_masks = {i: m * np.uint8(255) for i, m in zip(train.ids, train.masks)}
    train_rle = pd.DataFrame({"id": train.ids, "rle_mask": rle_encode_stack(train.masks)})
    depths = pd.DataFrame(
        {"id": train.ids + test.ids, "z": np.concatenate([train.depths, test.depths])}
    )
    return train_images, train_masks, train_rle, depths, rgb(test.images, test.ids)
