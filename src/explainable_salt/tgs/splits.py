"""Salt coverage classes, the stratified train / validation / internal-test split and folds, and
the one way to select a split's (or a fold's) ids and arrays from the manifest."""

from __future__ import annotations

import numpy as np
import pandas as pd

from explainable_salt.stacks import ImageStack

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


def split_ids(manifest: pd.DataFrame, split: str, fold: int | None = None) -> np.ndarray:
    """Ids of ``split`` (one of :data:`SPLITS`) in manifest order.

    With ``fold``, cross-validation's view of the images outside the internal test: ``train``
    is every fold but ``fold``, ``validation`` is ``fold`` itself (held out).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    if fold is None:
        return manifest.loc[manifest["split"] == split, "id"].to_numpy()
    if split == "internal_test":
        raise ValueError("the internal test split belongs to no fold")
    learnable = manifest[manifest["split"] != "internal_test"]
    in_fold = learnable["fold"] == fold
    ids = learnable.loc[in_fold if split == "validation" else ~in_fold, "id"].to_numpy()
    if len(ids) == 0:
        raise ValueError(f"Fold {fold} leaves no {split} images: the manifest has folds "
                         f"{sorted(int(k) for k in learnable['fold'].unique())} (data_engineering.n_folds)")
    return ids


def split_arrays(
    model_inputs: ImageStack, masks: ImageStack, manifest: pd.DataFrame, split: str, channels: list[str],
    fold: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ids ``(n,)``, input channels ``(n, 101, 101, C)`` (``channels``, in that order) and
    masks ``(n, 101, 101)`` of a split (or of a fold's part, see :func:`split_ids`)."""
    ids = split_ids(manifest, split, fold)
    return ids, model_inputs.select(ids).select_channels(channels).data, masks.select(ids).data
