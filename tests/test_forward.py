"""The one forward pass (segmentation/forward.py): the same values on every backend and batch
length, a bounded number of compiled shapes, and the backend reaching every path that predicts."""

from __future__ import annotations

import numpy as np
import pytest

from explainable_salt.attribution.absence import BackgroundAbsence
from explainable_salt.attribution.chunks import explain_stack
from explainable_salt.configuration.schema import ParameterError, check_parameters
from explainable_salt.segmentation.forward import (
    compute_precision,
    execution_backend,
    forward_pass,
    openvino_model,
    padded_length,
)
from explainable_salt.segmentation.inference import predict_masks, predict_probabilities, section_probabilities
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack

SETTINGS = {"depth": 2, "base_filters": 4, "batch_norm": True, "dropout": 0.0, "kernel_size": 3,
            "padding": "reflect"}
NAMES = ("amplitude", "energy", "similarity", "sobel")
INPUTS = np.random.default_rng(0).normal(size=(37, 101, 101, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def float32_model():
    model = build_model("unet", 4, "float32", seed=0, **SETTINGS)
    _randomise_batch_norm(model)
    return model


@pytest.fixture(scope="module")
def bfloat16_model(float32_model):
    model = build_model("unet", 4, "mixed_bfloat16", seed=0, **SETTINGS)
    model.set_weights(float32_model.get_weights())
    return model


def _randomise_batch_norm(model) -> None:
    """Moving statistics away from 0 / 1, so that a backend that drops or misreads them shows."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if "batch_normalization" in layer.name:
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([gamma, beta, rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2, variance.shape)])


def _direct(model, inputs: np.ndarray) -> np.ndarray:
    return np.asarray(model(inputs, training=False), dtype=np.float32)[..., 0]


def test_padded_lengths_are_powers_of_two_up_to_the_batch_so_few_shapes_are_compiled():
    lengths = {padded_length(n, 64) for n in range(1, 65)}
    assert lengths == {1, 2, 4, 8, 16, 32, 64}
    assert [padded_length(n, 48) for n in (1, 3, 33, 48)] == [1, 4, 48, 48]
    assert padded_length(100, 64) == 100  # a caller that passes more than a batch is not truncated


@pytest.mark.parametrize("batch_size", [1, 8, 16, 256])
def test_tensorflow_gives_each_image_its_own_prediction_whatever_the_batching(float32_model, batch_size):
    predicted = forward_pass(float32_model, batch_size)(INPUTS)
    assert predicted.shape == (37, 101, 101) and predicted.dtype == np.float32
    np.testing.assert_allclose(predicted, _direct(float32_model, INPUTS), atol=1e-5)


def test_openvino_in_float32_gives_tensorflows_values_within_1e5(float32_model):
    assert compute_precision(float32_model) == "float32"
    openvino = forward_pass(float32_model, 16, "openvino")(INPUTS)
    tensorflow = forward_pass(float32_model, 16, "tensorflow")(INPUTS)
    assert openvino.shape == (37, 101, 101) and openvino.dtype == np.float32
    assert np.abs(openvino - tensorflow).max() <= 1e-5
    assert np.abs(tensorflow - tensorflow.mean()).max() > 1e-2  # not a constant map that any backend matches


def test_openvino_keeps_a_bfloat16_model_in_bfloat16_close_to_tensorflow(float32_model, bfloat16_model):
    assert compute_precision(bfloat16_model) == "bfloat16"
    assert openvino_model(bfloat16_model).get_property("INFERENCE_PRECISION_HINT").to_string() == "bf16"
    assert openvino_model(float32_model).get_property("INFERENCE_PRECISION_HINT").to_string() == "f32"
    openvino = forward_pass(bfloat16_model, 16, "openvino")(INPUTS)
    tensorflow = forward_pass(bfloat16_model, 16, "tensorflow")(INPUTS)
    assert np.abs(openvino - tensorflow).max() < 2e-2  # two bfloat16 computations, rounded apart


def test_openvino_converts_a_model_once_per_process(float32_model):
    assert openvino_model(float32_model) is openvino_model(float32_model)


def test_no_input_gives_an_empty_stack_on_either_backend(float32_model):
    for backend in ("tensorflow", "openvino"):
        assert forward_pass(float32_model, 8, backend)(INPUTS[:0]).shape == (0, 101, 101)


def test_an_unknown_backend_is_refused_naming_the_parameter(float32_model):
    with pytest.raises(ValueError, match=r"execution\.backend: 'onnx' is not one of tensorflow, openvino"):
        forward_pass(float32_model, 8, "onnx")
    with pytest.raises(ValueError, match=r"execution\.backend"):
        execution_backend({"backend": "torch"})
    assert execution_backend(None) == execution_backend({"mode": "in_process"}) == "tensorflow"


def test_the_schema_refuses_an_unknown_backend():
    from test_parameter_schema import _parameters

    params = _parameters("base")
    assert params["execution"]["backend"] == "tensorflow"
    with pytest.raises(ParameterError, match=r"execution\.backend"):
        check_parameters({**params, "execution": {**params["execution"], "backend": "onnx"}})


def test_every_prediction_path_runs_on_the_backend_it_is_given(float32_model, monkeypatch):
    """predict_probabilities, section_probabilities, predict_masks and the explanation engine all
    go through forward_pass with the backend asked for (spied), and give TensorFlow's values."""
    from explainable_salt.segmentation import forward

    seen = []
    original = forward.forward_pass

    def spy(model, batch_size=256, backend="tensorflow"):
        seen.append(backend)
        return original(model, batch_size, backend)

    # the engine's tasks reach forward_pass through forward.task_forward_pass
    for module in ("explainable_salt.segmentation.inference", "explainable_salt.segmentation.forward"):
        monkeypatch.setattr(f"{module}.forward_pass", spy)
    images = INPUTS[:4]
    params = {"batch_size": 8, "flip_tta": True, "chunk_size": 2, "tile_overlap": 50}
    section = np.random.default_rng(2).normal(size=(1, 101, 160, 4)).astype(np.float32)
    rule = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.0}
    engine = {"batch_size": 64, "images_per_call": 2, "chunk_size": 2, "seed": 0, "max_exact_channels": 6,
              "additivity_tolerance": 1e-5, "sampling_error": {"n_resamples": 2, "seed": 0}}
    absence = BackgroundAbsence(INPUTS[4:8])
    results = {}
    for backend in ("tensorflow", "openvino"):
        seen.clear()
        results[backend] = (
            predict_probabilities(float32_model, images, 8, True, backend),
            section_probabilities([float32_model], section, {**params, "backend": backend}),
            predict_masks([float32_model], list(NAMES), ImageStack(np.arange(4), images, NAMES), rule, params,
                          {"mode": "in_process", "backend": backend}).data,
            explain_stack(ImageStack(np.arange(4), images, NAMES), float32_model, absence, engine,
                          {"mode": "in_process", "backend": backend})[0].contributions,
        )
        assert set(seen) == {backend} and len(seen) >= 4
    for tensorflow, openvino in zip(results["tensorflow"], results["openvino"]):
        assert tensorflow.shape == openvino.shape
        np.testing.assert_allclose(openvino, tensorflow, atol=1e-5)


def test_a_saved_bfloat16_model_is_still_run_in_bfloat16_after_loading(bfloat16_model, tmp_path):
    """A loaded model's own dtype policy reads float32: the precision comes from its layers."""
    import keras

    path = tmp_path / "model.keras"
    bfloat16_model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    assert compute_precision(loaded) == "bfloat16"
    assert openvino_model(loaded).get_property("INFERENCE_PRECISION_HINT").to_string() == "bf16"
