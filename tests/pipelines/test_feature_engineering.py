import numpy as np
import pandas as pd
import pytest

from explainable_salt.pipelines.feature_engineering.nodes import build_model_inputs, fit_channel_normaliser
from explainable_salt.stacks import ImageStack

PARAMS = {"channels": ["amplitude", "sobel"], "normalisation": "robust", "chunk_size": 3}


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return ImageStack([f"i{k}" for k in range(8)], rng.integers(0, 255, (8, 101, 101), dtype=np.uint8))


@pytest.fixture
def manifest():
    return pd.DataFrame({"id": [f"i{k}" for k in range(8)], "split": ["train"] * 5 + ["validation"] * 3})


def test_normaliser_is_fitted_on_the_train_split_only(images, manifest):
    before = fit_channel_normaliser(images, manifest, PARAMS)
    changed = images.data.copy()
    changed[5:] = 255  # only validation images change
    after = fit_channel_normaliser(ImageStack(images.ids, changed), manifest, PARAMS)
    assert before == after


def test_model_inputs_are_float32_named_and_normalised(images, manifest):
    normaliser = fit_channel_normaliser(images, manifest, PARAMS)
    inputs = build_model_inputs(images, normaliser, PARAMS)
    assert inputs.data.shape == (8, 101, 101, 2) and inputs.data.dtype == np.float32
    assert inputs.channels == ("amplitude", "sobel")
    train = inputs.data[:5].reshape(-1, 2)
    np.testing.assert_allclose(np.median(train, axis=0), 0.0, atol=1e-4)


def test_chunking_does_not_change_the_result(images, manifest):
    normaliser = fit_channel_normaliser(images, manifest, PARAMS)
    chunked = build_model_inputs(images, normaliser, PARAMS)
    whole = build_model_inputs(images, normaliser, {**PARAMS, "chunk_size": 100})
    np.testing.assert_array_equal(chunked.data, whole.data)


def test_non_finite_attribute_names_the_image(images, manifest):
    normaliser = fit_channel_normaliser(images, manifest, PARAMS)
    normaliser["scale"][1] = 0.0  # division by zero makes sobel infinite
    with pytest.raises(ValueError, match="'sobel' of image i0"):
        build_model_inputs(images, normaliser, PARAMS)
