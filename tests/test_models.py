
import keras
import numpy as np
import pytest

from explainable_salt.segmentation.inference import predict_probabilities
from explainable_salt.segmentation.models import Padding2D, build_model

X = np.random.default_rng(0).random((2, 101, 101, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "architecture, settings",
    [
        ("unet", {"depth": 1, "base_filters": 4}),
        ("unet", {"depth": 4, "base_filters": 4, "padding": "zero"}),
        ("residual_unet", {"depth": 3, "base_filters": 4, "use_scse": True}),
        ("residual_unet", {"depth": 2, "base_filters": 4, "use_scse": False}),
        ("vgg16_unet", {"decoder_filters": 4}),
    ],
)
def test_every_zoo_model_maps_101_by_101_channels_to_101_by_101_probabilities(architecture, settings):
    model = build_model(architecture, input_channels=3, **settings)
    out = model.predict(X, verbose=0)
    assert out.shape == (2, 101, 101, 1)
    assert (out >= 0).all() and (out <= 1).all()


def test_predicted_probabilities_are_the_model_outputs_in_order_and_flip_tta_averages_the_mirror():
    model = build_model("unet", input_channels=3, depth=1, base_filters=4)
    x = np.random.default_rng(1).random((7, 101, 101, 3)).astype(np.float32)  # batches of 3, 3, 1
    direct = np.asarray(model(x, training=False))[..., 0]
    mirror = np.asarray(model(x[:, :, ::-1].copy(), training=False))[:, :, ::-1, 0]
    assert np.abs(direct - mirror).max() > 1e-3  # the model is not mirror-symmetric
    plain = predict_probabilities(model, x, batch_size=3)
    assert plain.shape == (7, 101, 101) and plain.dtype == np.float32
    np.testing.assert_allclose(plain, direct, atol=1e-5)
    np.testing.assert_allclose(predict_probabilities(model, x, 3, flip_tta=True), 0.5 * (direct + mirror), atol=1e-5)


def test_reflect_padding_mirrors_the_border():
    padded = Padding2D((2, 3), "reflect")(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
    padded = np.asarray(padded)[0, ..., 0]
    assert padded.shape == (9, 9)
    assert padded[0, 2] == padded[4, 2]  # row -2 mirrors row 2 of the original


def test_a_saved_model_with_custom_padding_loads_back(tmp_path):
    model = build_model("residual_unet", input_channels=3, depth=2, base_filters=4)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), atol=1e-6)


def test_vgg16_without_weights_says_it_starts_random(caplog):
    build_model("vgg16_unet", input_channels=2, decoder_filters=4)
    assert "random weights" in caplog.text


def test_unknown_architecture_names_the_zoo():
    with pytest.raises(ValueError, match="unet"):
        build_model("segformer", input_channels=2)


def test_a_mixed_bfloat16_model_computes_in_bfloat16_and_returns_float32_probabilities(tmp_path):
    model = build_model("unet", input_channels=3, dtype_policy="mixed_bfloat16", depth=2, base_filters=4)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    assert model.get_layer("down0_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("down0_conv1").variable_dtype == "float32"
    out = model.predict(X, verbose=0)
    assert out.dtype == np.float32 and out.shape == (2, 101, 101, 1)
    # the same weights in float32 give nearly the same probabilities (bfloat16 keeps ~3 digits)
    reference = build_model("unet", input_channels=3, depth=2, base_filters=4)
    reference.set_weights(model.get_weights())
    np.testing.assert_allclose(out, reference.predict(X, verbose=0), atol=0.05)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert loaded.get_layer("down0_conv1").compute_dtype == "bfloat16"
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), out)


@pytest.mark.parametrize("architecture, settings", [("unet", {"depth": 2, "base_filters": 4}),
                                                    ("residual_unet", {"depth": 2, "base_filters": 4}),
                                                    ("vgg16_unet", {"decoder_filters": 4})])
def test_the_presence_twin_shares_the_mask_model_and_adds_a_per_image_probability(architecture, settings):
    from explainable_salt.segmentation.models import with_presence_head

    model = build_model(architecture, input_channels=3, **settings)
    twin = with_presence_head(model)
    masks, presence = twin.predict(X, verbose=0)
    assert presence.shape == (2, 1) and ((presence > 0) & (presence < 1)).all()
    np.testing.assert_allclose(masks, model.predict(X, verbose=0), atol=1e-6)
    assert {id(w) for w in model.weights} <= {id(w) for w in twin.weights}
