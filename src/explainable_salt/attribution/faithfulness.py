"""Faithfulness checks of channel explanations: deletion curves and model randomisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from explainable_salt.attribution.absence import Absence, BackgroundAbsence
from explainable_salt.attribution.inputs import require_count, require_stack
from explainable_salt.attribution.shapley import Predictor, explain_game, game_values
from explainable_salt.tgs.metrics import competition_metric


def deletion_curves(
    predict: Predictor,
    images: np.ndarray,
    truth: np.ndarray,
    background: np.ndarray,
    background_weights: np.ndarray,
    importance: np.ndarray,
    threshold: float,
    n_random: int = 5,
    seed: int = 0,
    images_per_call: int = 8,
) -> pd.DataFrame:
    """Competition metric as channels are replaced by the background one by one.

    Orders: by ``importance`` (most important first), its reverse, and ``n_random`` random
    orders (averaged). A faithful ranking drops the metric fastest. Removing ``k`` channels
    predicts ``v(S)`` for the remaining set ``S`` (the background-averaged output).
    Returns rows (order, n_removed, removed, competition_metric). No image, background image or
    random order raises ``ValueError``: a curve needs all three.
    """
    require_stack(images, "images")
    require_count(len(images), 1, "images", "images", "explainability.deletion.images")
    require_count(n_random, 1, "n_random", "random orders", "explainability.deletion.n_random_orders")
    require_count(images_per_call, 1, "images_per_call", "images", "explainability.images_per_call")
    absence = BackgroundAbsence(background, background_weights)
    n_channels = images.shape[-1]
    by_importance = list(np.argsort(-np.asarray(importance)))
    rng = np.random.default_rng(seed)
    orders = {"importance": by_importance, "reverse": by_importance[::-1]}
    orders.update({f"random {i}": list(rng.permutation(n_channels)) for i in range(n_random)})
    # Orders share most of their coalitions (there are only 2^C): evaluate each distinct one once.
    prefixes = {name: [frozenset(order[:k]) for k in range(n_channels + 1)] for name, order in orders.items()}
    removed_sets = sorted({s for sets in prefixes.values() for s in sets}, key=lambda s: (len(s), sorted(s)))
    present = np.ones((len(removed_sets), n_channels), dtype=bool)
    for row, removed in enumerate(removed_sets):
        present[row, list(removed)] = False
    values = np.concatenate([
        game_values(predict, images[i : i + images_per_call], absence, present)
        for i in range(0, len(images), images_per_call)
    ])
    scores = {removed: competition_metric(truth, values[:, row] > threshold) for row, removed in enumerate(removed_sets)}
    rows = [
        {"order": name, "n_removed": k, "removed": ",".join(map(str, orders[name][:k])), "competition_metric": scores[s]}
        for name, sets in prefixes.items()
        for k, s in enumerate(sets)
    ]
    curves = pd.DataFrame(rows)
    random_rows = curves[curves["order"].str.startswith("random")]
    mean_random = random_rows.groupby("n_removed", as_index=False)["competition_metric"].mean()
    mean_random = mean_random.assign(order="random (mean)", removed="")
    return pd.concat([curves, mean_random], ignore_index=True)


def deletion_area(curves: pd.DataFrame, order: str) -> float:
    """Mean competition metric along a deletion curve (lower = channels removed mattered more);
    ``ValueError`` for an ``order`` the curves do not hold."""
    if not (curves["order"] == order).any():
        raise ValueError(f"order: the curves hold no {order!r} curve, only {sorted(curves['order'].unique())}")
    return float(curves.loc[curves["order"] == order, "competition_metric"].mean())


def explanation_rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Mean over images and channels of the Spearman correlation of two contribution maps
    ``(N, H, W, C)``; constant maps count as 0. No image raises ``ValueError``."""
    require_count(len(first), 1, "first", "images")
    correlations = []
    for a, b in zip(first, second):
        for c in range(a.shape[-1]):
            rho = spearmanr(a[..., c].ravel(), b[..., c].ravel()).statistic
            correlations.append(0.0 if np.isnan(rho) else rho)
    return float(np.mean(correlations))


def randomised_model_correlation(
    random_predict: Predictor, images: np.ndarray, absence: Absence, contributions: np.ndarray,
    images_per_call: int = 16,
) -> float:
    """How much the explanations ``contributions`` ``(N, H, W, C)`` of ``images`` survive
    re-initialising the model: the :func:`explanation_rank_correlation` of them with the exact
    explanations of ``random_predict`` (the model with random weights) in the same game
    ``absence``. Near 0 when explanations depend on what the model learned. No image raises
    ``ValueError``."""
    require_count(len(images), 1, "images", "images", "explainability.randomisation.images")
    randomised = explain_game(random_predict, images, absence, images_per_call, progress=False)
    return explanation_rank_correlation(contributions, randomised.contributions)
