"""Background sets for channel Shapley values: the reference that replaces absent channels."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

from explainable_salt.attribution.inputs import require_count
from explainable_salt.stacks import ImageStack

METHODS = ("random", "kmeans")


def choose_background(
    candidates: np.ndarray, size: int, method: str = "random", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick ``size`` background images from ``candidates`` ``(N, H, W, C)``.

    ``random``: a seeded sample, equal weights. ``kmeans``: k-means of the flattened images into
    ``size`` clusters; each centroid is weighted by its cluster's share of the candidates (the
    summary shap's ``kmeans`` gives). Returns images ``(size, H, W, C)``, weights ``(size,)``
    summing to 1, and the indices of the sampled candidates (``-1`` for centroids). No candidate
    or a ``size`` below 1 raises ``ValueError``: a background needs an image.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown background method {method!r}; choose one of {METHODS}")
    require_count(len(candidates), 1, "candidates", "train images", "the train split")
    require_count(size, 1, "size", "background images", "explainability.background.size")
    size = min(size, len(candidates))
    rng = np.random.default_rng(seed)
    if method == "random":
        index = np.sort(rng.choice(len(candidates), size=size, replace=False))
        return np.asarray(candidates[index]), np.full(size, 1.0 / size), index
    flat = np.asarray(candidates, dtype=np.float32).reshape(len(candidates), -1)
    kmeans = KMeans(n_clusters=size, n_init=4, random_state=seed).fit(flat)
    counts = np.bincount(kmeans.labels_, minlength=size).astype(np.float64)
    centroids = kmeans.cluster_centers_.reshape(size, *candidates.shape[1:]).astype(np.float32)
    return centroids, counts / counts.sum(), np.full(size, -1)


def seeded_subset(ids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``ids`` drawn by ``rng`` without replacement (all of them when fewer), in id order."""
    return np.sort(rng.choice(np.asarray(ids, dtype=str), size=min(n, len(ids)), replace=False))


def train_pool(model_inputs: ImageStack, train_ids: np.ndarray, channels: list[str], size: int, seed: int) -> np.ndarray:
    """A seeded draw of ``size`` train images (all of them when fewer), in id order, with the
    model's ``channels``: ``(P, H, W, C)``."""
    require_count(len(train_ids), 1, "train_ids", "train images", "the train split")
    pool = seeded_subset(train_ids, size, np.random.default_rng(seed))
    return model_inputs.select(pool).select_channels(channels).data
