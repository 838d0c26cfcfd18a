import numpy as np
import pandas as pd
import pytest

from explainable_salt.pipelines.feature_engineering.nodes import build_model_inputs, fit_channel_normaliser
from explainable_salt.stacks import ImageStack

PARAMS = {"analysis_channels": [], "normalisation": "robust", "chunk_size": 3}
MODEL_CHANNELS = ["amplitude", "sobel", "depth"]
IDS = [f"i{k}" for k in range(8)]


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return ImageStack(IDS, rng.integers(0, 255, (8, 101, 101), dtype=np.uint8))


@pytest.fixture
def manifest():
    return pd.DataFrame({"id": IDS, "split": ["train"] * 5 + ["validation"] * 3})


@pytest.fixture
def depths():
    return pd.DataFrame({"id": IDS[::-1], "z": np.arange(8) * 100.0 + 50})


def _whole(chunks) -> ImageStack:
    pieces = list(chunks)
    assert all(p.total == sum(len(q.chunk) for q in pieces) for p in pieces)
    return ImageStack(
        np.concatenate([p.chunk.ids for p in pieces]),
        np.concatenate([p.chunk.data for p in pieces]),
        pieces[0].chunk.channels,
    )


def test_normaliser_is_fitted_on_the_train_split_only(images, depths, manifest):
    before = fit_channel_normaliser(images, depths, manifest, PARAMS, MODEL_CHANNELS)
    changed = images.data.copy()
    changed[5:] = 255  # only validation images change
    after = fit_channel_normaliser(ImageStack(images.ids, changed), depths, manifest, PARAMS, MODEL_CHANNELS)
    assert before == after


def test_model_inputs_are_float32_named_and_normalised(images, depths, manifest):
    normaliser = fit_channel_normaliser(images, depths, manifest, PARAMS, MODEL_CHANNELS)
    inputs = _whole(build_model_inputs(images, depths, normaliser, PARAMS))
    assert inputs.data.shape == (8, 101, 101, 3) and inputs.data.dtype == np.float32
    assert inputs.channels == ("amplitude", "sobel", "depth")
    train = inputs.data[:5].reshape(-1, 3)
    np.testing.assert_allclose(np.median(train, axis=0), 0.0, atol=1e-4)


def test_depth_channel_follows_each_image_id(images, depths, manifest):
    normaliser = fit_channel_normaliser(images, depths, manifest, PARAMS, MODEL_CHANNELS)
    inputs = _whole(build_model_inputs(images, depths, normaliser, PARAMS))
    centre, scale = normaliser["center"][2], normaliser["scale"][2]
    raw_depth = inputs.data[:, 0, 0, 2] * scale + centre
    expected = depths.set_index("id")["z"].loc[IDS].to_numpy()
    np.testing.assert_allclose(raw_depth, expected, rtol=1e-5)


def test_chunking_does_not_change_the_result(images, depths, manifest):
    normaliser = fit_channel_normaliser(images, depths, manifest, PARAMS, MODEL_CHANNELS)
    chunked = _whole(build_model_inputs(images, depths, normaliser, PARAMS))
    whole = _whole(build_model_inputs(images, depths, normaliser, {**PARAMS, "chunk_size": 100}))
    np.testing.assert_array_equal(chunked.data, whole.data)


def test_non_finite_attribute_names_the_image(images, depths, manifest):
    normaliser = fit_channel_normaliser(images, depths, manifest, PARAMS, MODEL_CHANNELS)
    normaliser["scale"][1] = 0.0  # division by zero makes sobel infinite
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(ValueError, match="'sobel' of image i0"):
        list(build_model_inputs(images, depths, normaliser, PARAMS))


def test_only_the_models_channels_and_the_analysis_channels_are_built(images, depths, manifest):
    params = {**PARAMS, "analysis_channels": ["depth", "envelope"]}
    normaliser = fit_channel_normaliser(images, depths, manifest, params, ["sobel", "depth"])
    assert normaliser["channels"] == ["sobel", "depth", "envelope"]
    inputs = _whole(build_model_inputs(images, depths, normaliser, params))
    assert inputs.channels == ("sobel", "depth", "envelope") and inputs.data.shape[-1] == 3


def test_an_unknown_analysis_channel_is_refused_by_name(images, depths, manifest):
    with pytest.raises((KeyError, ValueError), match="coherence"):
        fit_channel_normaliser(images, depths, manifest, {**PARAMS, "analysis_channels": ["coherence"]}, ["sobel"])
