"""The competition metric and the segmentation scores derived from it, vectorised over stacks.

The TGS metric scores one image by its mean precision over IoU thresholds 0.50, 0.55 … 0.95:
with one object per image, precision at threshold t is 1 when IoU > t and 0 otherwise. An image
whose truth is empty scores 1 only if the prediction is empty too, 0 otherwise.
"""

from __future__ import annotations

import numpy as np

IOU_THRESHOLDS = np.arange(0.5, 1.0, 0.05)


def iou_per_image(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """IoU of each pair of binary masks ``(N, H, W)``; 1.0 where both are empty."""
    truth = np.asarray(truth, dtype=bool).reshape(len(truth), -1)
    prediction = np.asarray(prediction, dtype=bool).reshape(len(prediction), -1)
    intersection = np.logical_and(truth, prediction).sum(axis=1)
    union = np.logical_or(truth, prediction).sum(axis=1)
    return np.where(union == 0, 1.0, intersection / np.maximum(union, 1))


def competition_score_per_image(truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """Per-image competition score ``(N,)`` in [0, 1] for binary masks ``(N, H, W)``."""
    iou = iou_per_image(truth, prediction)
    hits = iou[:, None] > IOU_THRESHOLDS[None, :]
    return hits.mean(axis=1)


def competition_metric(truth: np.ndarray, prediction: np.ndarray) -> float:
    """The competition metric: mean over images of :func:`competition_score_per_image`."""
    return float(competition_score_per_image(truth, prediction).mean())


def apply_decision_rule(probabilities: np.ndarray, rule: dict) -> np.ndarray:
    """Boolean masks: pixels above ``rule["threshold"]``, emptied where fewer than
    ``rule.get("min_area", 0)`` pixels remain (small specks on salt-free images cost a whole image)
    or where no pixel reaches ``rule.get("peak_threshold", 0)``: whether an image holds salt is
    decided by its most confident pixel, apart from the threshold that draws the mask."""
    probabilities = np.asarray(probabilities)
    masks = probabilities > rule["threshold"]
    min_area = int(rule.get("min_area", 0))
    if min_area > 0:
        masks[masks.sum(axis=(1, 2)) < min_area] = False
    peak_threshold = float(rule.get("peak_threshold", 0.0))
    if peak_threshold > 0:
        masks[probabilities.max(axis=(1, 2)) < peak_threshold] = False
    return masks


def best_decision_rule(
    truth: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray,
    min_areas: list[int] = (0,),
    peak_thresholds: list[float] = (0.0,),
) -> tuple[dict, float]:
    """The ``{"threshold", "min_area", "peak_threshold"}`` maximising the competition metric, and
    that metric.

    Ties go to the first in the grids' order (so, with the smallest minimum area and peak
    threshold listed first, to the simpler rule).
    """
    best_rule, best_score = None, -np.inf
    for peak_threshold in peak_thresholds:
        for min_area in min_areas:
            for threshold in thresholds:
                rule = {"threshold": float(threshold), "min_area": int(min_area),
                        "peak_threshold": float(peak_threshold)}
                score = competition_metric(truth, apply_decision_rule(probabilities, rule))
                if score > best_score:
                    best_rule, best_score = rule, score
    return best_rule, float(best_score)


def segmentation_summary(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    """Competition metric, mean IoU, pixel precision/recall and empty-image accuracy."""
    truth_b = np.asarray(truth, dtype=bool)
    pred_b = np.asarray(prediction, dtype=bool)
    tp = np.logical_and(truth_b, pred_b).sum()
    empty_truth = ~truth_b.reshape(len(truth_b), -1).any(axis=1)
    empty_pred = ~pred_b.reshape(len(pred_b), -1).any(axis=1)
    return {
        "competition_metric": competition_metric(truth_b, pred_b),
        "mean_iou": float(iou_per_image(truth_b, pred_b).mean()),
        "pixel_precision": float(tp / max(pred_b.sum(), 1)),
        "pixel_recall": float(tp / max(truth_b.sum(), 1)),
        "empty_image_accuracy": float((empty_truth == empty_pred).mean()),
    }


def bootstrap_mean(values: np.ndarray, n_boot: int, seed: int, level: float = 0.95) -> tuple:
    """Mean over images of ``values`` ``(N, C)`` (NaN rows ignored) and its bootstrap interval;
    NaN for no image, ``ValueError`` for ``n_boot`` below 1."""
    if n_boot < 1:
        raise ValueError(f"n_boot: {n_boot} bootstrap resamples; at least 1 needed")
    values = values[~np.isnan(values).any(axis=1)]
    if len(values) == 0:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan, nan, 0
    rng = np.random.default_rng(seed)
    resampled = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(resampled, [tail, 100 - tail], axis=0)
    return values.mean(axis=0), low, high, len(values)
