import numpy as np
import pandas as pd
import pytest

from explainable_salt.tgs.splits import coverage_class, stratified_split

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
