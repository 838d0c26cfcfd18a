import numpy as np
import pandas as pd
import pytest

from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.splits import (
    coverage_class,
    split_arrays,
    split_ids,
    spread_over_coverage,
    stratified_split,
)

RATIOS = {"train": 0.7, "validation": 0.15, "internal_test": 0.15}


def _strata(n=400, seed=0):
    rng = np.random.default_rng(seed)
    coverage = np.where(rng.random(n) < 0.4, 0.0, rng.random(n))
    return pd.Series(coverage_class(coverage), index=[f"id{i}" for i in range(n)])


def test_coverage_class_is_zero_for_empty_and_ceil_tenths_otherwise():
    assert coverage_class(np.array([0.0, 0.01, 0.1, 0.11, 1.0])).tolist() == [0, 1, 1, 2, 10]


def test_split_follows_ratios_within_every_class():
    strata = _strata()
    assignment = stratified_split(strata, RATIOS, n_folds=5, seed=1)
    table = pd.crosstab(strata, assignment["split"], normalize="index")
    big = strata.value_counts()[lambda s: s >= 20].index
    assert np.allclose(table.loc[big, "train"], 0.7, atol=0.06)
    assert np.allclose(table.loc[big, "internal_test"], 0.15, atol=0.06)


def test_every_id_is_assigned_exactly_once_and_folds_exclude_internal_test():
    strata = _strata()
    assignment = stratified_split(strata, RATIOS, n_folds=5, seed=1)
    assert assignment.index.equals(strata.index)
    assert set(assignment["split"]) == set(RATIOS)
    test = assignment["split"] == "internal_test"
    assert (assignment.loc[test, "fold"] == -1).all()
    assert set(assignment.loc[~test, "fold"]) == set(range(5))
    sizes = assignment.loc[~test, "fold"].value_counts()
    assert sizes.max() - sizes.min() <= len(set(strata))


def test_split_is_reproducible_for_a_seed_and_changes_with_it():
    strata = _strata()
    a = stratified_split(strata, RATIOS, 5, seed=1)
    assert a.equals(stratified_split(strata, RATIOS, 5, seed=1))
    assert not a.equals(stratified_split(strata, RATIOS, 5, seed=2))


def test_ratios_must_name_the_three_splits():
    with pytest.raises(ValueError, match="internal_test"):
        stratified_split(_strata(), {"train": 0.8, "test": 0.2}, 5, seed=1)


def _manifest() -> pd.DataFrame:
    split = stratified_split(_strata(200), RATIOS, n_folds=4, seed=3)
    return split.rename_axis("id").reset_index()


def test_split_ids_select_a_split_in_manifest_order():
    manifest = _manifest()
    ids = split_ids(manifest, "validation")
    assert ids.tolist() == manifest.loc[manifest["split"] == "validation", "id"].tolist() and len(ids) > 0


def test_a_folds_train_and_validation_partition_the_images_outside_the_internal_test():
    manifest = _manifest()
    learnable = set(manifest.loc[manifest["split"] != "internal_test", "id"])
    for fold in range(4):
        train, held_out = set(split_ids(manifest, "train", fold)), set(split_ids(manifest, "validation", fold))
        assert train | held_out == learnable and not train & held_out
        assert held_out == set(manifest.loc[manifest["fold"] == fold, "id"])


def test_split_ids_refuse_an_unknown_split_the_internal_test_of_a_fold_and_an_empty_fold():
    manifest = _manifest()
    with pytest.raises(ValueError, match="split must be one of"):
        split_ids(manifest, "test")
    with pytest.raises(ValueError, match="no fold"):
        split_ids(manifest, "internal_test", fold=0)
    with pytest.raises(ValueError, match=r"Fold 4 leaves no validation images.*\[0, 1, 2, 3\]"):
        split_ids(manifest, "validation", fold=4)


def test_split_arrays_return_the_ids_the_named_channels_and_the_masks_in_the_same_order():
    manifest = _manifest()
    ids = manifest["id"].to_numpy()
    inputs = ImageStack(ids, np.arange(len(ids), dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 3)),
                        ("a", "b", "c"))
    inputs = ImageStack(ids, inputs.data + np.arange(3, dtype=np.float32), ("a", "b", "c"))
    masks = ImageStack(ids, np.arange(len(ids))[:, None, None] * np.ones((1, 2, 2), dtype=np.int64))
    selected, x, y = split_arrays(inputs, masks, manifest, "train", ["c", "a"], fold=1)
    position = {i: k for k, i in enumerate(ids)}
    rows = np.array([position[i] for i in selected])
    assert selected.tolist() == split_ids(manifest, "train", 1).tolist()
    np.testing.assert_array_equal(x[:, 0, 0], np.stack([rows + 2, rows + 0], axis=1))
    np.testing.assert_array_equal(y[:, 0, 0], rows)


def _table(coverages):
    coverages = np.asarray(coverages, float)
    return pd.DataFrame({"id": [f"i{k:03d}" for k in range(len(coverages))], "coverage": coverages,
                         "coverage_class": coverage_class(coverages)})


def test_images_are_spread_evenly_over_coverage_classes():
    coverages = np.r_[np.zeros(200), np.linspace(0.01, 1.0, 100)]  # many empty images, 10 classes of 10
    table = _table(coverages)
    chosen = table.set_index("id").loc[spread_over_coverage(table, 22)]
    counts = chosen["coverage_class"].value_counts()
    assert len(chosen) == 22 and chosen.index.is_unique
    assert set(counts.index) == set(range(11)) and counts.max() - counts.min() <= 1
    assert chosen["coverage"].is_monotonic_increasing


def test_a_small_class_gives_its_turns_to_the_others():
    table = _table([0.0, 0.0, 0.0, 0.0, 0.0, 0.55])
    assert len(spread_over_coverage(table, 4)) == 4 and "i005" in spread_over_coverage(table, 4)


def test_fewer_images_than_classes_take_classes_from_empty_to_full():
    table = _table(np.linspace(0, 1, 101))
    classes = table.set_index("id").loc[spread_over_coverage(table, 3), "coverage_class"].tolist()
    assert classes == [0, 5, 10]


def test_asking_for_more_images_than_exist_gives_them_all():
    table = _table([0.0, 0.3, 0.6])
    assert spread_over_coverage(table, 60) == ["i000", "i001", "i002"]


def test_one_image_per_class_is_the_class_median_spread_from_empty_to_full():
    table = _table(np.r_[np.zeros(5), np.linspace(0.05, 0.95, 19)])
    chosen = table.set_index("id").loc[spread_over_coverage(table, 3, per_class=1)]
    assert chosen["coverage_class"].tolist() == [0, 5, 10]
    assert chosen.index[0] == "i002"  # the median of the five empty images, by id
    assert len(spread_over_coverage(table, 60, per_class=1)) == table["coverage_class"].nunique()


def test_no_image_is_asked_for_and_none_is_given():
    assert spread_over_coverage(_table([0.0, 0.5]), 0) == []
