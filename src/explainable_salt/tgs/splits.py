"""Salt coverage classes and the stratified train / validation / internal-test split and folds."""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "internal_test")


def coverage_class(coverage: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """0 for no salt, else ``ceil(coverage × n_classes)`` in 1..n_classes."""
    return np.ceil(np.asarray(coverage) * n_classes).astype(np.int64)


def _allocate(n: int, ratios: np.ndarray) -> np.ndarray:
    """Split ``n`` items in proportion to ``ratios`` by largest remainders (sums to ``n``)."""
    exact = ratios / ratios.sum() * n
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


def stratified_split(
    strata: pd.Series, ratios: dict[str, float], n_folds: int, seed: int
) -> pd.DataFrame:
    """Assign each id (the index of ``strata``) a split and, outside the internal test, a fold.

    Within each stratum the ids are shuffled with ``seed`` and cut in proportion to ``ratios``
    (keys from :data:`SPLITS`); folds deal the non-test ids of each stratum round-robin, so every
    fold sees every class. Internal-test ids get fold -1.
    """
    unknown = set(ratios) - set(SPLITS)
    if unknown or set(ratios) != set(SPLITS):
        raise ValueError(f"split ratios must name exactly {SPLITS}; got {sorted(ratios)}")
    rng = np.random.default_rng(seed)
    names = np.asarray(SPLITS)
    weights = np.asarray([ratios[s] for s in SPLITS], dtype=np.float64)
    split = pd.Series("", index=strata.index, dtype=object)
    fold = pd.Series(-1, index=strata.index, dtype=np.int64)
    for _, members in strata.groupby(strata, sort=True):
        ids = rng.permutation(members.index.to_numpy())
        split.loc[ids] = np.repeat(names, _allocate(len(ids), weights))
        learnable = [i for i in ids if split[i] != "internal_test"]
        fold.loc[learnable] = (np.arange(len(learnable)) + rng.integers(n_folds)) % n_folds
    return pd.DataFrame({"split": split, "fold": fold})
