import numpy as np
import pytest

from explainable_salt.tgs.metrics import (
    apply_decision_rule,
    best_decision_rule,
    bootstrap_mean,
    competition_metric,
    competition_score_per_image,
    iou_per_image,
    segmentation_summary,
)

EMPTY = np.zeros((1, 101, 101), dtype=bool)


def _box(rows: slice, cols: slice) -> np.ndarray:
    mask = EMPTY.copy()
    mask[0, rows, cols] = True
    return mask


def test_empty_truth_and_empty_prediction_scores_one():
    assert competition_metric(EMPTY, EMPTY) == 1.0


def test_empty_truth_with_any_predicted_salt_scores_zero():
    assert competition_metric(EMPTY, _box(slice(0, 1), slice(0, 1))) == 0.0


def test_salt_missed_entirely_scores_zero():
    assert competition_metric(_box(slice(0, 50), slice(0, 50)), EMPTY) == 0.0


def test_partial_overlap_scores_fraction_of_thresholds_passed():
    truth = _box(slice(0, 10), slice(0, 10))  # 100 pixels
    prediction = _box(slice(0, 10), slice(0, 6))  # 60 inside: IoU 0.6
    assert iou_per_image(truth, prediction)[0] == pytest.approx(0.6)
    # IoU 0.6 exceeds 0.50 and 0.55 only: 2 of 10 thresholds.
    assert competition_score_per_image(truth, prediction)[0] == pytest.approx(0.2)


def test_perfect_prediction_scores_one():
    truth = _box(slice(20, 40), slice(30, 90))
    assert competition_metric(truth, truth) == 1.0


def test_metric_is_mean_over_images():
    truth = np.concatenate([EMPTY, _box(slice(0, 10), slice(0, 10))])
    prediction = np.concatenate([EMPTY, EMPTY])
    assert competition_metric(truth, prediction) == 0.5


def test_best_decision_rule_picks_the_cut_that_recovers_the_mask():
    truth = _box(slice(0, 30), slice(0, 30))
    probabilities = np.where(truth, 0.7, 0.4)
    rule, score = best_decision_rule(truth, probabilities, np.array([0.3, 0.5, 0.8]))
    assert (rule, score) == ({"threshold": 0.5, "min_area": 0, "peak_threshold": 0.0}, 1.0)


def test_min_area_empties_specks_on_salt_free_images_only_when_it_helps():
    truth = np.concatenate([EMPTY, _box(slice(0, 30), slice(0, 30))])
    probabilities = np.where(truth, 0.9, 0.1)
    probabilities[0, 50:53, 50:53] = 0.9  # a 9-pixel false positive on the empty image
    rule, score = best_decision_rule(truth, probabilities, np.array([0.5]), [0, 10, 1000])
    assert (rule, score) == ({"threshold": 0.5, "min_area": 10, "peak_threshold": 0.0}, 1.0)
    masks = apply_decision_rule(probabilities, rule)
    assert masks[0].sum() == 0 and masks[1].sum() == 900
    assert apply_decision_rule(probabilities, {"threshold": 0.5})[0].sum() == 9


def test_peak_threshold_empties_faint_images_and_leaves_the_mask_to_the_lower_threshold():
    # Image 0 is salt-free with a faint 400-pixel blob; image 1 holds a box whose confident core
    # (0.9) is ringed by a fainter edge (0.45) that belongs to the mask.
    truth = np.concatenate([EMPTY, _box(slice(10, 40), slice(10, 40))])
    probabilities = np.full(truth.shape, 0.05)
    probabilities[0, 60:80, 60:80] = 0.45
    probabilities[1, 10:40, 10:40] = 0.45
    probabilities[1, 15:35, 15:35] = 0.9
    # No threshold alone scores both: at 0.4 the blob stays, at 0.5 the edge is lost (IoU 4/9).
    plain, plain_score = best_decision_rule(truth, probabilities, np.array([0.4, 0.5]), [0, 10])
    assert plain_score == 0.5
    rule, score = best_decision_rule(truth, probabilities, np.array([0.4, 0.5]), [0, 10], [0.0, 0.5, 0.95])
    assert (rule, score) == ({"threshold": 0.4, "min_area": 0, "peak_threshold": 0.5}, 1.0)
    masks = apply_decision_rule(probabilities, rule)
    assert masks[0].sum() == 0 and masks[1].sum() == 900
    assert apply_decision_rule(probabilities, {"threshold": 0.4, "peak_threshold": 0.95}).sum() == 0


def test_summary_reports_pixel_precision_recall_and_empty_accuracy():
    truth = np.concatenate([EMPTY, _box(slice(0, 10), slice(0, 10))])
    prediction = np.concatenate([_box(slice(0, 1), slice(0, 1)), _box(slice(0, 10), slice(0, 5))])
    summary = segmentation_summary(truth, prediction)
    assert summary["pixel_precision"] == pytest.approx(50 / 51)
    assert summary["pixel_recall"] == pytest.approx(0.5)
    assert summary["empty_image_accuracy"] == 0.5


def test_bootstrap_interval_brackets_the_mean_and_ignores_empty_images():
    values = np.concatenate([np.random.default_rng(0).normal(5, 1, (200, 2)), np.full((3, 2), np.nan)])
    mean, low, high, n = bootstrap_mean(values, n_boot=500, seed=1)
    assert n == 200
    assert (low < mean).all() and (mean < high).all() and (high - low < 0.5).all()
