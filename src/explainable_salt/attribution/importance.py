"""Global channel importance from per-pixel contributions, with bootstrap confidence intervals.

Every statistic is first a per-image mean over a group of pixels (all, salt or sediment by truth
or prediction, the mask boundary), so each image counts once; intervals come from resampling
images. Coverage-class and depth-band groups take all pixels of the images in that class/band.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation, binary_erosion

from explainable_salt.attribution.inputs import require_count
from explainable_salt.tgs.metrics import bootstrap_mean

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]


def mask_boundary(masks: np.ndarray) -> np.ndarray:
    """Pixels within one step of a salt/sediment edge, on both sides ``(N, H, W) bool``."""
    masks = masks.astype(bool)
    return binary_dilation(masks, _IN_PLANE) & ~binary_erosion(masks, _IN_PLANE, border_value=1)


def pixel_groups(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Named pixel selections ``(N, H, W) bool`` for the analysis."""
    truth, predicted = truth.astype(bool), predicted.astype(bool)
    return {
        "all": np.ones_like(truth),
        "salt (truth)": truth,
        "sediment (truth)": ~truth,
        "salt (predicted)": predicted,
        "sediment (predicted)": ~predicted,
        "boundary (truth)": mask_boundary(truth),
    }


def per_image_means(contributions: np.ndarray, selection: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean |φ| and mean φ per image and channel over ``selection`` ``(N, H, W)``; NaN where empty."""
    weight = selection[..., None].astype(np.float64)
    count = weight.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = (np.abs(contributions) * weight).sum(axis=(1, 2)) / count
        mean_signed = (contributions * weight).sum(axis=(1, 2)) / count
    return mean_abs, mean_signed


def importance_table(
    contributions: np.ndarray,
    channels: tuple[str, ...],
    truth: np.ndarray,
    predicted: np.ndarray,
    coverage_class: np.ndarray,
    depth_band: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (group, channel): mean |φ| and mean φ with 95 % bootstrap intervals, the number
    of images, and the channel's share of the group's total mean |φ|. No image gives the rows
    with ``n_images`` 0 and NaN statistics; ``n_boot`` below 1 raises ``ValueError``."""
    require_count(n_boot, 1, "n_boot", "bootstrap resamples", "explainability.analysis.n_bootstrap")
    selections = pixel_groups(truth, predicted)
    everything = selections["all"]
    for label, key in (("coverage class", coverage_class), ("depth band", depth_band)):
        for value in np.unique(key):
            selections[f"{label} {value}"] = everything & (key == value)[:, None, None]
    rows = []
    for group, selection in selections.items():
        mean_abs, mean_signed = per_image_means(contributions, selection)
        a, a_lo, a_hi, n = bootstrap_mean(mean_abs, n_boot, seed)
        s, s_lo, s_hi, _ = bootstrap_mean(mean_signed, n_boot, seed)
        share = a / np.nansum(a) if n else a
        for c, channel in enumerate(channels):
            rows.append({
                "group": group, "channel": channel, "n_images": n,
                "mean_abs": a[c], "mean_abs_low": a_lo[c], "mean_abs_high": a_hi[c],
                "mean_signed": s[c], "mean_signed_low": s_lo[c], "mean_signed_high": s_hi[c],
                "share_of_abs": share[c],
            })
    return pd.DataFrame(rows)


def sample_pixels(
    ids: np.ndarray,
    values: np.ndarray,
    contributions: np.ndarray,
    truth: np.ndarray,
    channels: tuple[str, ...],
    n_pixels: int,
    seed: int = 0,
) -> pd.DataFrame:
    """A random sample of ``n_pixels`` pixels (all of them when there are fewer) in long form:
    id, row, col, channel, value, contribution, salt."""
    n, h, w, _ = contributions.shape
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * h * w, size=min(n_pixels, n * h * w), replace=False)
    image, row, col = np.unravel_index(flat, (n, h, w))
    frames = [
        pd.DataFrame({
            "id": ids[image], "row": row, "col": col, "channel": channel,
            "value": values[image, row, col, c], "contribution": contributions[image, row, col, c],
            "salt": truth[image, row, col].astype(bool),
        })
        for c, channel in enumerate(channels)
    ]
    return pd.concat(frames, ignore_index=True)
