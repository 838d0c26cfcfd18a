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


def spread_over_coverage(per_image: pd.DataFrame, n_images: int, per_class: int | None = None) -> list[str]:
    """``n_images`` ids spread over coverage classes, in order of coverage (all of them when
    there are fewer; none for 0).

    Classes take turns, so each gets about ``n_images / n_classes`` (a class with fewer images,
    or already holding ``per_class``, gives its turns to the others; a last round too short for
    every class goes to evenly spaced ones, from empty to full); within a class, images at evenly
    spaced coverage ranks, and the median one when it gives one. ``per_image`` has columns
    ``id``, ``coverage`` and ``coverage_class``.
    """
    by_class = {k: group.sort_values(["coverage", "id"]) for k, group in per_image.groupby("coverage_class")}
    room = {k: len(group) if per_class is None else min(len(group), per_class) for k, group in by_class.items()}
    quota = dict.fromkeys(by_class, 0)
    remaining = min(n_images, sum(room.values()))
    while remaining:
        open_classes = [k for k in by_class if quota[k] < room[k]]
        if remaining < len(open_classes):
            open_classes = [open_classes[i] for i in np.rint(np.linspace(0, len(open_classes) - 1, remaining)).astype(int)]
        for k in open_classes:
            quota[k] += 1
        remaining -= len(open_classes)
    chosen = [group.iloc[_spread_ranks(len(group), quota[k])] for k, group in by_class.items() if quota[k]]
    if not chosen:
        return []
    return pd.concat(chosen).sort_values(["coverage", "id"])["id"].tolist()


def _spread_ranks(size: int, count: int) -> np.ndarray:
    """``count`` evenly spaced ranks of ``size``, both ends included; the median alone for one."""
    if count == 1:
        return np.array([size // 2])
    return np.rint(np.linspace(0, size - 1, count)).astype(int)


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
