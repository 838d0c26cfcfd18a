"""A tiny explained run, as the reporting pipeline's catalog would hand it to ``build_explorer``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainable_salt.stacks import IMAGE_SIZE, ImageStack
from explainable_salt.tgs.splits import coverage_class

CHANNELS = ("amplitude", "energy", "similarity")
RULE = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.5}
PAIRS = ("amplitude:energy", "amplitude:similarity", "energy:similarity")
PARAMS = {"n_images": 5, "title": "test explorer"}


def _additive(rng, expected: np.ndarray, probabilities: np.ndarray, scale: float) -> np.ndarray:
    """φ ``(N, H, W, C)`` with expected + Σφ = probabilities."""
    phi = rng.normal(0, scale, (*probabilities.shape, len(CHANNELS))).astype(np.float32)
    phi[..., -1] = probabilities - expected - phi[..., :-1].sum(axis=-1)
    return phi


def tiny_run(n_images: int = 7, seed: int = 0, blur: bool = False) -> dict:
    """Node inputs of ``n_images`` images whose salt fills the top ``7 k`` rows of image ``k``,
    with additive explanations (expected value + Σφ = probability to float precision) and pair
    interactions; with ``blur``, a second definition ``blur`` whose expected value is per image."""
    rng = np.random.default_rng(seed)
    ids = [f"img{k:02d}" for k in range(n_images)]
    shape = (n_images, IMAGE_SIZE, IMAGE_SIZE)
    truth = np.zeros(shape, np.uint8)
    for k in range(n_images):
        truth[k, : 7 * k] = 1
    inputs = rng.normal(size=(*shape, len(CHANNELS) + 1)).astype(np.float32)  # + a channel not explained
    expected = rng.uniform(0.3, 0.5, shape[1:]).astype(np.float32)
    probabilities = np.clip(0.15 + 0.7 * truth + rng.normal(0, 0.05, shape), 0, 1).astype(np.float32)
    phi = _additive(rng, expected, probabilities, 0.1)
    interactions = rng.normal(0, 0.02, (*shape, len(PAIRS))).astype(np.float32)
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
        "channel_interactions": ImageStack(ids, interactions, PAIRS),
        **({"other_explanations": blur_explanation(rng, ids, probabilities)} if blur else {}),
    }


def blur_explanation(rng, ids: list[str], probabilities: np.ndarray) -> tuple[ImageStack, ImageStack]:
    """``blur.channel_contributions`` and its per-image ``blur.expected_value_map``."""
    expected = rng.uniform(0.1, 0.3, probabilities.shape).astype(np.float32)
    return (ImageStack(ids, _additive(rng, expected, probabilities, 0.05), CHANNELS), ImageStack(ids, expected))


NODE_INPUTS = ["per_image_metrics", "model_inputs", "train_masks", "explained_probabilities", "channel_contributions",
               "expected_value_map", "decision_rule", "params", "channel_interactions"]


def explorer_of(run: dict) -> str:
    """``build_explorer`` on ``run`` as the pipeline calls it: the other definitions' stacks positional."""
    from explainable_salt.pipelines.reporting.nodes import build_explorer

    others = run.get("other_explanations", ())
    return build_explorer(*(run[k] for k in NODE_INPUTS), *others, definitions=["background", "blur"][: 1 + len(others) // 2])
