"""A tiny explained run, as the reporting pipeline's catalog would hand it to ``build_explorer``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainable_salt.stacks import IMAGE_SIZE, ImageStack
from explainable_salt.tgs.splits import coverage_class

CHANNELS = ("amplitude", "energy", "similarity")
RULE = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.5}
PARAMS = {"n_images": 5, "absence_definition": "background", "title": "test explorer"}


def tiny_run(n_images: int = 7, seed: int = 0) -> dict:
    """Node inputs of ``n_images`` images whose salt fills the top ``7 k`` rows of image ``k``,
    with additive explanations (expected value + Σφ = probability to float precision)."""
    rng = np.random.default_rng(seed)
    ids = [f"img{k:02d}" for k in range(n_images)]
    shape = (n_images, IMAGE_SIZE, IMAGE_SIZE)
    truth = np.zeros(shape, np.uint8)
    for k in range(n_images):
        truth[k, : 7 * k] = 1
    inputs = rng.normal(size=(*shape, len(CHANNELS) + 1)).astype(np.float32)  # + a channel not explained
    expected = rng.uniform(0.3, 0.5, shape[1:]).astype(np.float32)
    probabilities = np.clip(0.15 + 0.7 * truth + rng.normal(0, 0.05, shape), 0, 1).astype(np.float32)
    phi = rng.normal(0, 0.1, (*shape, len(CHANNELS))).astype(np.float32)
    phi[..., -1] = probabilities - expected - phi[..., :-1].sum(axis=-1)
    coverage = truth.mean(axis=(1, 2))
    per_image = pd.DataFrame({
        "id": ids, "depth": rng.uniform(50, 900, n_images).round(), "coverage": coverage,
        "coverage_class": coverage_class(coverage), "predicted_coverage": coverage, "iou": 1.0, "score": 1.0,
    })
    return {
        "per_image_metrics": per_image,
        "model_inputs": ImageStack(ids, inputs, (*CHANNELS, "depth")),
        "train_masks": ImageStack(ids, truth),
        "explained_probabilities": ImageStack(ids, probabilities),
        "channel_contributions": ImageStack(ids, phi, CHANNELS),
        "expected_value_map": ImageStack(["expected"], expected[None]),
        "decision_rule": RULE,
        "params": PARAMS,
    }
