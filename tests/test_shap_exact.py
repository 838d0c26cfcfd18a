"""shap's ExactExplainer with the channel masker plays the engine's game: same values, pixel by pixel."""

import keras
import numpy as np
from toy_models import interacting_model

from explainable_salt.attribution.shap_exact import ChannelMasker, shap_exact_channel_shapley
from explainable_salt.attribution.shapley import channel_shapley
from explainable_salt.segmentation.forward import forward_pass

RNG = np.random.default_rng(1)
IMAGES = RNG.normal(size=(4, 8, 8, 3)).astype(np.float32)
BACKGROUND = RNG.normal(size=(3, 8, 8, 3)).astype(np.float32)



def tiny_keras_model() -> keras.Model:
    """Convolutions mix neighbouring pixels and channels; a sigmoid map out, like the zoo models."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    outputs = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs)


def test_the_masker_keeps_present_channels_and_fills_the_others_from_each_background_image():
    mask = np.array([True, False, True])
    rows = ChannelMasker(BACKGROUND)(mask, IMAGES[0])[0]
    assert rows.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(rows[..., [0, 2]], np.broadcast_to(IMAGES[0][..., [0, 2]], (3, 8, 8, 2)))
    np.testing.assert_array_equal(rows[..., 1], BACKGROUND[..., 1])


def test_shap_exact_equals_the_engine_for_a_numpy_model():
    theirs, expected = shap_exact_channel_shapley(interacting_model, IMAGES, BACKGROUND)
    ours = channel_shapley(interacting_model, IMAGES, BACKGROUND, progress=False)
    assert theirs.shape == IMAGES.shape and expected.shape == (8, 8)
    np.testing.assert_allclose(theirs, ours.contributions, atol=1e-5)
    np.testing.assert_allclose(expected, ours.expected_value, atol=1e-6)
    assert np.abs(theirs).max() > 0.1  # not a trivial agreement on zeros


def test_shap_exact_equals_the_engine_for_a_keras_model():
    predict = forward_pass(tiny_keras_model())
    theirs, expected = shap_exact_channel_shapley(predict, IMAGES, BACKGROUND)
    ours = channel_shapley(predict, IMAGES, BACKGROUND, progress=False)
    np.testing.assert_allclose(theirs, ours.contributions, atol=1e-5)
    np.testing.assert_allclose(expected, ours.expected_value, atol=1e-6)
    # shap's values are additive too: expected + Σ φ is the model's own prediction at every pixel
    np.testing.assert_allclose(expected + theirs.sum(axis=-1), predict(IMAGES), atol=1e-5)
    assert np.abs(theirs).max() > 1e-3
