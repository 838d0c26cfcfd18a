"""Shared by bench_explain.py: the sampling error of the ``background`` game against its cost.

On a run's own data (``data/``: the trained model, ``model_inputs`` and the manifest), for
``n_images`` internal-test images and a seeded pool of ``2 × half`` train images:

- every image is explained against every pool image alone (the per-reference values ``φ^(k)``,
  ``(2^C − 2)`` passes per image and pool image), once;
- the reference is the mean over the first half of the pool (K = ``half``), with ``v(∅)`` from
  every train image; its own noise is printed as the floor of the measured errors;
- each estimator draws its K images from the other half ``draws`` times and is scored by
  ``mean |φ_K − φ_ref| / mean |φ_ref|`` over all pixels and channels (mean over draws, and its
  standard error), by the error the per-pixel spread predicts for K independent draws
  (``√(2/π) · s / √K``, free of the reference's noise), by how far the global channel shares
  move, and by the Kendall τ of the per-image channel rankings against the reference.

Estimators: ``random`` (today's default), ``random+cv`` (v(∅) from every train image instead of
the K drawn: a control variate whose mean is known), ``stratified`` (2 images from each of K/2
strata of train images clustered on the model's own prediction for them, weighted by stratum
size; ± the same control variate) and ``kmeans`` (K weighted k-means centroids, deterministic:
its error is bias). Per-reference values make every random estimator free to evaluate: only
k-means needs forward passes of its own.
"""

from __future__ import annotations

import time
from math import sqrt
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from tqdm.auto import tqdm

from explainable_salt.attribution.absence import BackgroundAbsence, block_means
from explainable_salt.attribution.background import choose_background
from explainable_salt.attribution.sensitivity import kendall_tau_per_image
from explainable_salt.attribution.shapley import (
    Predictor,
    channel_shapley,
    coalitions,
    reference_outputs,
    shapley_weight_matrix,
)
from explainable_salt.datasets import ImageStackDataset
from explainable_salt.tgs.splits import split_ids


def load_run(data: Path, channels: list[str]) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[int]]:
    """A run's model inputs (ids, images ``(N, 101, 101, C')`` memory-mapped), manifest, and the
    positions of ``channels`` among the stack's ``C'`` channels."""
    stack = ImageStackDataset(str(data / "05_model_input/model_inputs"), mmap=True).load()
    index = [stack.channels.index(c) for c in channels]
    return stack.ids, stack.data, pd.read_parquet(data / "03_primary/manifest.parquet"), index


def per_reference_values(predict: Predictor, images: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``φ^(k)`` without its ``v(∅)`` and ``v(C)`` terms: ``(N, K, H, W, C)`` float32, one image at a
    time against all pool images (``(2^C − 2) K`` composite inputs per call)."""
    n_channels = images.shape[-1]
    weights = shapley_weight_matrix(n_channels)[:, 1:-1]
    partial = coalitions(n_channels)[1:-1]
    absence = BackgroundAbsence(pool)
    out = np.empty((len(images), len(pool), *images.shape[1:]), dtype=np.float32)
    for n in tqdm(range(len(images)), desc="per-reference values", unit="image"):
        outputs, _ = reference_outputs(predict, images[n : n + 1], absence, partial)
        out[n] = np.einsum("cs,skhw->khwc", weights, outputs[0], optimize=True)
    return out


def stratify(predictions: np.ndarray, n_strata: int, seed: int = 0) -> np.ndarray:
    """Stratum labels ``(M,)`` of train images from the model's predictions for them
    ``(M, H, W)``: k-means of 8 × 8 block means, so images the model sees alike share a stratum."""
    descriptors = block_means(predictions[..., None], 8).reshape(len(predictions), -1)
    return KMeans(n_clusters=n_strata, n_init=4, random_state=seed).fit(descriptors).labels_


def _stratified_draw(pool_labels: np.ndarray, population_labels: np.ndarray, rng: np.random.Generator):
    """2 pool images per stratum, weighted by the stratum's share of the population over its draws."""
    shares = np.bincount(population_labels) / len(population_labels)
    index, weights = [], []
    for h in np.flatnonzero(shares):
        members = np.flatnonzero(pool_labels == h)
        picked = rng.choice(members, size=min(2, len(members)), replace=False) if len(members) else []
        index += list(picked)
        weights += [shares[h] / len(picked)] * len(picked)
    weights = np.asarray(weights)
    return np.asarray(index), weights / weights.sum()


def frontier(
    predict: Predictor, data: Path, channels: list[str], n_images: int, half: int, draws: int, ks: list[int],
    engine_rate: float, engine_k: int, kmeans_pool: int = 500, seed: int = 0,
) -> pd.DataFrame:
    """The error–speed table of the estimators above (one row per estimator and K)."""
    ids, stack, manifest, index = load_run(data, channels)
    position = {i: k for k, i in enumerate(ids)}
    take = lambda chosen: np.asarray(stack[[position[i] for i in chosen]])[..., index]
    rng = np.random.default_rng(seed)
    test_ids, train_ids = split_ids(manifest, "internal_test"), np.sort(split_ids(manifest, "train"))
    images = take(test_ids[:: max(1, len(test_ids) // n_images)][:n_images])
    pool_ids = np.sort(rng.choice(train_ids, size=2 * half, replace=False))
    pool = take(pool_ids)
    n_channels = len(channels)
    passes = lambda k: (2**n_channels - 2) * k + 1
    rate = lambda k: engine_rate * passes(engine_k) / passes(k)

    start = time.perf_counter()
    train_predictions = np.concatenate([predict(take(train_ids[i : i + 256])) for i in range(0, len(train_ids), 256)])
    train_predictions = train_predictions.astype(np.float64)
    pool_predictions = train_predictions[np.searchsorted(train_ids, pool_ids)]
    g = per_reference_values(predict, images, pool)
    weights = shapley_weight_matrix(n_channels)
    w_empty, w_full = weights[:, 0], weights[:, -1]
    predictions = predict(images).astype(np.float64)
    full = np.einsum("c,nhw->nhwc", w_full, predictions)
    marginal = train_predictions.mean(axis=0)  # v(∅) over every train image
    print(f"  per-reference values of {len(images)} images × {len(pool)} pool images in "
          f"{time.perf_counter() - start:.0f} s")

    reference, estimate = np.arange(half), np.arange(half, 2 * half)
    phi_ref = g[:, reference].mean(axis=1) + full + np.einsum("c,hw->hwc", w_empty, marginal)
    scale = np.abs(phi_ref).mean()
    image_ref = np.abs(phi_ref).mean(axis=(1, 2))
    share_ref = image_ref.sum(axis=0) / image_ref.sum()
    plain = g + np.einsum("c,khw->khwc", w_empty, pool_predictions)[None]  # with each image's own v(∅)
    floor = sqrt(2 / np.pi) * (g[:, reference].std(axis=1, ddof=1) / sqrt(half)).mean() / scale
    spread = {"plain": plain[:, estimate].std(axis=1, ddof=1).mean() / scale,
              "cv": g[:, estimate].std(axis=1, ddof=1).mean() / scale}
    print(f"  reference: K = {half} with v(∅) from all {len(train_ids)} train images; mean |φ_ref| = {scale:.4f}, "
          f"its own noise ≈ {100 * floor:.1f} % (the floor of every measured error)")

    def scored(phi: np.ndarray) -> tuple[float, float, float]:
        image_abs = np.abs(phi).mean(axis=(1, 2))
        shares = image_abs.sum(axis=0) / image_abs.sum()
        return (np.abs(phi - phi_ref).mean() / scale, np.abs(shares - share_ref).max(),
                np.nanmean(kendall_tau_per_image(image_ref, image_abs)))

    rows = []
    labels = {k: stratify(train_predictions, k // 2, seed) for k in ks if k >= 4}
    for k in ks:
        for name in ("random", "random+cv", "stratified", "stratified+cv"):
            if name.startswith("stratified") and k not in labels:
                continue
            results = []
            for _ in range(draws):
                if name.startswith("stratified"):
                    chosen, w = _stratified_draw(labels[k][np.searchsorted(train_ids, pool_ids[estimate])],
                                                 labels[k], rng)
                    chosen = estimate[chosen]
                else:
                    chosen, w = rng.choice(estimate, size=k, replace=False), np.full(k, 1.0 / k)
                empty = marginal if name.endswith("+cv") else np.einsum("k,khw->hw", w, pool_predictions[chosen])
                phi = np.einsum("k,nkhwc->nhwc", w, g[:, chosen]) + full + np.einsum("c,hw->hwc", w_empty, empty)
                results.append(scored(phi))
            err, share, tau = np.asarray(results).T
            predicted = sqrt(2 / np.pi) * spread["cv" if name.endswith("+cv") else "plain"] / sqrt(k)
            rows.append({"estimator": name, "K": k, "passes_per_image": passes(k), "images_per_s": rate(k),
                         "error": err.mean(), "error_se": err.std(ddof=1) / sqrt(draws),
                         "predicted_error": predicted if name.startswith("random") else np.nan,
                         "max_share_change": share.mean(), "kendall_tau": tau.mean()})
        if k <= 64:  # k-means centroids: deterministic, their own forward passes
            kmeans_ids = np.sort(rng.choice(train_ids, size=min(kmeans_pool, len(train_ids)), replace=False))
            centroids, w, _ = choose_background(take(kmeans_ids), k, "kmeans", seed)
            phi = channel_shapley(predict, images, centroids, background_weights=w, progress=False).contributions
            err, share, tau = scored(phi.astype(np.float64))
            rows.append({"estimator": "kmeans", "K": k, "passes_per_image": passes(k), "images_per_s": rate(k),
                         "error": err, "error_se": 0.0, "predicted_error": np.nan,
                         "max_share_change": share, "kendall_tau": tau})
    table = pd.DataFrame(rows)
    for name in ("random", "random+cv"):
        k5 = (spread["cv" if name.endswith("+cv") else "plain"] * sqrt(2 / np.pi) / 0.05) ** 2
        print(f"  {name}: ≤ 5 % predicted error needs K ≈ {k5:,.0f} ({passes(int(np.ceil(k5))):,} passes per image, "
              f"≈ {rate(int(np.ceil(k5))):.3f} images/s)")
    return table
