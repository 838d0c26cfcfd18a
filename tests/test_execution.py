"""Chunked per-image stages on a Dask LocalCluster (127.0.0.1, two workers) against in process."""

from __future__ import annotations

import os
import sys

import cloudpickle
import dask
import keras
import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster

from explainable_salt.compute.execution import (
    ChunkFailedError,
    concatenate_chunks,
    map_chunks,
    map_stack,
    settings,
    worker_environment,
)
from explainable_salt.pipelines.cross_validation.nodes import train_fold
from explainable_salt.pipelines.explainability.nodes import explain_channels
from explainable_salt.pipelines.feature_engineering.nodes import build_model_inputs, fit_channel_normaliser
from explainable_salt.pipelines.modelling.nodes import predict_test_masks
from explainable_salt.segmentation.inference import predict_masks, predict_probabilities
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack

# The test's own task functions travel to the workers by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

IN_PROCESS = {"mode": "in_process"}
EXPLAIN = {
    "max_images": None, "max_exact_channels": 8, "n_permutations": 4, "seed": 11, "images_per_call": 3,
    "chunk_size": 4, "batch_size": 64, "additivity_tolerance": 1e-4,
    "background": {"method": "random"}, "sampling_error": {"n_resamples": 20, "seed": 23, "min_ranking_unchanged": 0.95},
}


@pytest.fixture(scope="module")
def cluster():
    # One failure allowed per task: the second death of a chunk's worker ends the chunk.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, env=worker_environment(1)) as local:
            yield local


@pytest.fixture(scope="module")
def on_cluster(cluster):
    return {"mode": "scheduler", "address": cluster.scheduler_address, "retries": 1}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("unet", 3, depth=2, base_filters=4)


def _stack(n: int, channels=("amplitude", "sobel", "energy"), seed=0) -> ImageStack:
    rng = np.random.default_rng(seed)
    return ImageStack([f"i{k:03d}" for k in range(n)], rng.normal(size=(n, 101, 101, len(channels))).astype(np.float32),
                      tuple(channels))


def test_settings_reject_unknown_modes_and_a_scheduler_without_address():
    with pytest.raises(ValueError, match="execution.mode"):
        settings({"mode": "spark"})
    with pytest.raises(ValueError, match="execution.address"):
        settings({"mode": "scheduler"})
    assert settings(None)["mode"] == "in_process"


def test_in_process_map_keeps_order_and_passes_shared_arguments():
    results = list(map_chunks(_shift, [(np.arange(3),), (np.arange(3, 5),)], IN_PROCESS, shared={"by": 10}))
    assert [r.tolist() for r in results] == [[10, 11, 12], [13, 14]]


def _shift(x: np.ndarray, by: int) -> np.ndarray:
    return x + by


def _first_pixel(images: np.ndarray, number: int, offset: float) -> np.ndarray:
    return images[:, 0, 0] + 100 * number + offset


def test_map_stack_runs_chunks_in_order_on_the_named_channels_with_their_own_arguments():
    stack = _stack(7)
    pieces = list(map_stack(_first_pixel, stack, IN_PROCESS, chunk_size=3, channels=["energy", "amplitude"],
                            chunk_args=lambda k, s: (k,), shared={"offset": 0.5}))
    assert [s for s, _ in pieces] == [slice(0, 3), slice(3, 6), slice(6, 7)]
    expected = stack.data[:, 0, 0][:, [2, 0]] + 0.5 + 100 * np.array([0, 0, 0, 1, 1, 1, 2])[:, None]
    np.testing.assert_allclose(concatenate_chunks(pieces), expected)


def test_a_failing_chunk_of_a_stack_names_its_first_and_last_ids(on_cluster):
    with pytest.raises(ChunkFailedError, match="i003 … i005"):
        list(map_stack(_fail_from_the_fourth, _stack(8), on_cluster, chunk_size=3, chunk_args=lambda k, s: (s.start,)))


def _fail_from_the_fourth(images: np.ndarray, start: int) -> np.ndarray:
    if start == 3:
        raise ValueError("bad chunk")
    return images


def test_an_ensemble_predicts_masks_from_the_mean_probability_of_its_models(model):
    keras.utils.set_random_seed(1)
    other = build_model("unet", 3, depth=2, base_filters=4)
    inputs = _stack(6)
    params = {"batch_size": 4, "flip_tta": False, "chunk_size": 4}
    mean = 0.5 * (predict_probabilities(model, inputs.data, 4) + predict_probabilities(other, inputs.data, 4))
    threshold = float(np.median(mean))
    masks = predict_masks([model, other], list(inputs.channels), inputs, {"threshold": threshold}, params)
    assert list(masks.ids) == list(inputs.ids) and masks.data.dtype == np.uint8
    np.testing.assert_array_equal(masks.data, (mean > threshold).astype(np.uint8))


@pytest.fixture(scope="module")
def grey():
    """20 images with a bright salt-like disc, their masks and depths."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:101, :101]
    centres = rng.integers(20, 80, size=(20, 2))
    masks = ((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2 < 400).astype(np.uint8)
    images = (rng.normal(100, 20, size=(20, 101, 101)) + 80 * masks).clip(0, 255).astype(np.uint8)
    ids = [f"g{k:02d}" for k in range(20)]
    return ImageStack(ids, images), ImageStack(ids, masks), pd.DataFrame({"id": ids, "z": np.arange(20) * 40.0})


def test_attribute_chunks_on_the_cluster_equal_the_in_process_ones(on_cluster, grey):
    images, _, depths = grey
    params = {"analysis_channels": ["depth"], "normalisation": "robust", "chunk_size": 7}
    manifest = pd.DataFrame({"id": images.ids, "split": "train"})
    normaliser = fit_channel_normaliser(images, depths, manifest, params, ["amplitude", "energy", "similarity", "sobel"])
    here = list(build_model_inputs(images, depths, normaliser, params, IN_PROCESS))
    there = list(build_model_inputs(images, depths, normaliser, params, on_cluster))
    assert [c.start for c in here] == [c.start for c in there] == list(range(0, len(images), 7))
    for a, b in zip(here, there):
        assert list(a.chunk.ids) == list(b.chunk.ids)
        np.testing.assert_array_equal(a.chunk.data, b.chunk.data)


def test_test_masks_on_the_cluster_equal_the_in_process_ones(on_cluster, model):
    inputs = _stack(40)
    params = {"batch_size": 8, "flip_tta": True, "chunk_size": 6}
    rule = {"threshold": 0.5}
    here = predict_test_masks(model, list(inputs.channels), inputs, rule, params, IN_PROCESS)
    there = predict_test_masks(model, list(inputs.channels), inputs, rule, params, on_cluster)
    assert list(there.ids) == list(inputs.ids) and there.data.shape == (40, 101, 101)
    np.testing.assert_array_equal(here.data, there.data)


@pytest.mark.parametrize("max_exact_channels", [8, 2], ids=["exact", "sampled"])
def test_explanations_on_the_cluster_equal_the_in_process_ones(on_cluster, model, max_exact_channels):
    inputs = _stack(10)
    manifest = pd.DataFrame({"id": inputs.ids, "split": "internal_test"})
    background = _stack(3, seed=1)
    params = {**EXPLAIN, "max_exact_channels": max_exact_channels}
    args = (model, list(inputs.channels), inputs, manifest, background, [1.0, 2.0, 1.0], params)
    here = explain_channels(*args, IN_PROCESS)
    there = explain_channels(*args, on_cluster)
    for a, b in zip(here[:3], there[:3]):
        assert list(a.ids) == list(b.ids)
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-6)
    assert there[0].data.shape == (10, 101, 101, 3)
    assert there[3]["shapley.max_additivity_error"] < 1e-5


def test_fold_training_runs_on_a_worker_and_returns_a_usable_model(on_cluster, grey):
    images, masks, _ = grey
    manifest = pd.DataFrame({"id": images.ids, "split": "train", "fold": np.arange(len(images)) % 2})
    inputs = ImageStack(images.ids, images.data[..., None].astype(np.float32) / 255, ("amplitude",))
    params = {
        "channels": ["amplitude"], "architecture": "unet", "model": {"unet": {"depth": 2, "base_filters": 4}},
        "training": {"stages": [{"loss_weights": {"bce": 1.0}, "epochs": 1, "learning_rate": 0.01}],
                     "batch_size": 8, "seed": 0},
        "inference": {"batch_size": 8, "flip_tta": False},
    }
    model, history, score = train_fold(inputs, masks, manifest, params, on_cluster, fold=1)
    assert model.predict(inputs.data[:2], verbose=0).shape == (2, 101, 101, 1)
    assert len(history) == 1 and score["fold"] == 1 and 0 <= score["competition_metric"] <= 1


def _die_once(x: np.ndarray, flag: str) -> np.ndarray:
    """Kills the worker running it the first time (while ``flag`` exists), else doubles ``x``."""
    if os.path.exists(flag):
        os.remove(flag)
        os._exit(1)
    return 2 * x


def _always_die(x: np.ndarray) -> np.ndarray:
    os._exit(1)


def test_a_worker_killed_mid_run_is_retried_and_no_image_goes_missing(on_cluster, tmp_path):
    flag = tmp_path / "kill-next-worker"
    flag.touch()
    chunks = [(np.full(3, k),) for k in range(8)]
    results = list(map_chunks(_die_once, chunks, on_cluster, shared={"flag": str(flag)}))
    assert not flag.exists()  # a worker did die
    assert [r.tolist() for r in results] == [[2 * k] * 3 for k in range(8)]


def test_a_chunk_whose_workers_keep_dying_raises_an_error_naming_its_images(on_cluster):
    chunks = [(np.zeros(2),)]
    with pytest.raises(ChunkFailedError, match=r"Chunk 0 \(images a … b\).*died"):
        list(map_chunks(_always_die, chunks, on_cluster, labels=["images a … b"]))
