"""Pairwise channel interactions read from the coalition values the engine already computes.

Both are linear in the coalition values ``v`` ``(2^C,)`` (rows of
:func:`~explainable_salt.attribution.shapley.coalitions`), so they are matrices handed to
:func:`~explainable_salt.attribution.shapley.explain_game` as ``readouts``: no extra forward pass.
With the pair's discrete second difference ``δ_ij v(S) = v(S ∪ ij) − v(S ∪ i) − v(S ∪ j) + v(S)``
over the coalitions ``S`` without ``i`` and ``j``:

- **Shapley interaction index** (Grabisch 1997), ``I_ij = Σ_S |S|! (C − |S| − 2)! / (C − 1)! δ_ij v(S)``:
  how much the pair's joint effect differs from the sum of their separate effects, averaged like
  Shapley values. It does not add up to the prediction; shap's TreeExplainer interaction values
  put half of it in each off-diagonal cell ``(i, j)`` and ``(j, i)``.
- **Shapley–Taylor index of order 2** (Sundararajan, Dhamdhere & Agarwal 2020): main effects
  ``v({i}) − v(∅)`` and pair terms ``(2 / C) Σ_S δ_ij v(S) / binom(C − 1, |S|)``. It is exact:
  ``v(∅) + Σ_i main_i + Σ_{i<j} pair_ij = f(x)`` at every pixel.

Positive pair terms mean synergy (the pair does more together than apart), negative ones
redundancy (the two channels carry the same information for the model).
"""

from __future__ import annotations

from itertools import combinations
from math import comb, factorial

import numpy as np
import pandas as pd

from explainable_salt.attribution.inputs import require_count
from explainable_salt.attribution.shapley import coalitions
from explainable_salt.tgs.metrics import bootstrap_mean

INTERACTION_COLUMNS = ["pair", "channel_a", "channel_b", "n_images", "mean", "mean_low", "mean_high",
                       "mean_abs", "mean_abs_low", "mean_abs_high"]


def channel_pairs(n_channels: int) -> list[tuple[int, int]]:
    """The ``C (C − 1) / 2`` channel pairs ``(i, j)``, ``i < j``, in lexicographic order."""
    return list(combinations(range(n_channels), 2))


def pair_names(channels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``"a:b"`` for each pair of :func:`channel_pairs`."""
    return tuple(f"{channels[i]}:{channels[j]}" for i, j in channel_pairs(len(channels)))


def _second_difference_matrix(n_channels: int, weight) -> np.ndarray:
    """``(P, 2^C)``: row ``p`` is ``Σ_S weight(|S|) δ_ij v(S)`` for pair ``p = (i, j)``."""
    members = coalitions(n_channels)
    sizes = members.sum(axis=1)
    matrix = np.zeros((len(channel_pairs(n_channels)), 2**n_channels))
    for p, (i, j) in enumerate(channel_pairs(n_channels)):
        without = np.flatnonzero(~members[:, i] & ~members[:, j])
        w = np.array([weight(s) for s in sizes[without]], dtype=np.float64)
        matrix[p, without | (1 << i) | (1 << j)] += w
        matrix[p, without | (1 << i)] -= w
        matrix[p, without | (1 << j)] -= w
        matrix[p, without] += w
    return matrix


def interaction_index_matrix(n_channels: int) -> np.ndarray:
    """``(P, 2^C)``: the Shapley interaction index of every pair from the coalition values."""
    c = n_channels
    return _second_difference_matrix(c, lambda s: factorial(s) * factorial(c - s - 2) / factorial(c - 1))


def taylor_matrix(n_channels: int) -> np.ndarray:
    """``(C + P, 2^C)``: order-2 Shapley–Taylor main effects (rows ``0 … C − 1``) then pair
    terms, which with ``v(∅)`` add up to ``v(C)``."""
    main = np.zeros((n_channels, 2**n_channels))
    main[np.arange(n_channels), 1 << np.arange(n_channels)] = 1.0
    main[:, 0] = -1.0
    pairs = _second_difference_matrix(n_channels, lambda s: 2 / n_channels / comb(n_channels - 1, s))
    return np.vstack([main, pairs])


def taylor_names(channels: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Names of :func:`taylor_matrix`'s rows: the channels, then the pairs."""
    return (*channels, *pair_names(channels))


def interaction_table(
    interactions: np.ndarray, pairs: tuple[str, ...], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The global interaction matrix in long form: one row per pair (``channel_a``,
    ``channel_b``) with the mean over images of the per-image mean interaction (signed: negative
    redundant, positive synergistic) and of its magnitude, each with a 95 % bootstrap interval
    over images. ``interactions`` ``(N, H, W, P)``; no image gives the rows with ``n_images`` 0 and
    NaN statistics, no pair a table of no rows."""
    require_count(n_boot, 1, "n_boot", "bootstrap resamples", "explainability.analysis.n_bootstrap")
    signed = bootstrap_mean(interactions.mean(axis=(1, 2), dtype=np.float64), n_boot, seed)
    magnitude = bootstrap_mean(np.abs(interactions).mean(axis=(1, 2), dtype=np.float64), n_boot, seed)
    rows = []
    for p, pair in enumerate(pairs):
        a, b = pair.split(":")
        rows.append({
            "pair": pair, "channel_a": a, "channel_b": b, "n_images": signed[3],
            "mean": signed[0][p], "mean_low": signed[1][p], "mean_high": signed[2][p],
            "mean_abs": magnitude[0][p], "mean_abs_low": magnitude[1][p], "mean_abs_high": magnitude[2][p],
        })
    return pd.DataFrame(rows, columns=INTERACTION_COLUMNS)
