"""The model's forward pass: the one function every prediction and every explanation goes through.

:func:`forward_pass` turns a Keras model into a :data:`Predictor`, inputs ``(B, 101, 101, C)``
float32 → salt probability ``(B, 101, 101)`` float32, on one of two backends
(``execution.backend``):

- ``tensorflow``: ``model.predict_on_batch``. Batches are padded up to a power of two (at most
  ``batch_size``), so a run compiles the model for a handful of shapes instead of retracing it for
  every new batch length.
- ``openvino``: the model exported as a TensorFlow SavedModel, converted by OpenVINO once per
  model and process, and run on the CPU with the throughput hint, a batch split across its
  streams. It computes at the model's own precision: float32 for a float32 model (the same values
  as TensorFlow within 1e-5, ``tests/test_forward.py``), bfloat16 for a ``mixed_bfloat16`` one
  (OpenVINO's CPU default would be bfloat16 for both, so the hint is always set).

Speeds of both, and their differences, are measured by ``benchmarks/bench_explain.py``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from explainable_salt.attribution.inputs import require_count
from explainable_salt.compute.execution import as_model

logger = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], np.ndarray]
BACKENDS = ("tensorflow", "openvino")

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → OpenVINO compiled model
_COMPILED_LOCK = threading.Lock()


def require_backend(backend: str) -> str:
    """``backend`` itself when it is one of :data:`BACKENDS`; ``ValueError`` naming the parameter
    otherwise."""
    if backend not in BACKENDS:
        raise ValueError(f"execution.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    return backend


def execution_backend(execution: dict | None) -> str:
    """The backend ``execution`` names (``execution.backend``), TensorFlow when it names none."""
    return require_backend((execution or {}).get("backend") or "tensorflow")


def compute_precision(model: keras.Model) -> str:
    """``bfloat16`` for a model any of whose layers computes in bfloat16 (``mixed_bfloat16``),
    else ``float32``. The layers tell, not the model: a loaded model's own policy is float32."""
    bfloat16 = any(getattr(layer, "compute_dtype", None) == "bfloat16" for layer in model._flatten_layers())
    return "bfloat16" if bfloat16 else "float32"


def padded_length(n: int, batch_size: int) -> int:
    """The batch length ``n`` inputs are padded to: the next power of two, at most ``batch_size``
    (when ``n`` already exceeds it, ``n``)."""
    return max(n, min(batch_size, 1 << max(n - 1, 0).bit_length()))


def padded(inputs: np.ndarray, batch_size: int) -> np.ndarray:
    """``inputs`` with zeros appended up to :func:`padded_length`: a Keras model called on them
    compiles a handful of batch shapes, not one per length (no tf.function retracing)."""
    length = padded_length(len(inputs), batch_size)
    if len(inputs) == length:
        return inputs
    return np.concatenate([inputs, np.zeros((length - len(inputs), *inputs.shape[1:]), inputs.dtype)])


def _tensorflow_batch(model: keras.Model, batch_size: int) -> Predictor:
    def predict(inputs: np.ndarray) -> np.ndarray:
        outputs = model.predict_on_batch(padded(inputs, batch_size))
        return np.asarray(outputs, dtype=np.float32)[: len(inputs), ..., 0]

    return predict


def openvino_model(model: keras.Model):
    """``model`` compiled by OpenVINO for the CPU at its own precision (:func:`compute_precision`),
    converted once per model and process."""
    with _COMPILED_LOCK:
        if model in _COMPILED:
            return _COMPILED[model]
        import openvino as ov
        from openvino.frontend import FrontEndManager

        precision = compute_precision(model)
        with tempfile.TemporaryDirectory() as scratch:
            saved = Path(scratch) / "saved_model"
            model.export(str(saved), format="tf_saved_model", verbose=False)
            # The TensorFlow frontend itself, not ov.convert_model, which sends usage telemetry by default.
            frontend = FrontEndManager().load_by_framework("tf")
            converted = frontend.convert(frontend.load(str(saved)))
        config = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bfloat16" else "f32",
                  "PERFORMANCE_HINT": "THROUGHPUT"}
        threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS") or 0)
        if threads > 0:  # a Dask worker's share of the cores (compute.execution.worker_environment)
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = ov.Core().compile_model(converted, "CPU", config)
        logger.info("Forward passes of %s on OpenVINO (CPU, %s, %d streams)", model.name, precision,
                    compiled.get_property("NUM_STREAMS"))
        _COMPILED[model] = compiled
        return compiled


def _openvino_batch(model: keras.Model) -> Predictor:
    import openvino as ov

    compiled = openvino_model(model)
    streams = max(1, int(compiled.get_property("NUM_STREAMS")))
    queue = ov.AsyncInferQueue(compiled, streams)
    lock = threading.Lock()  # one queue: Dask threads sharing a predictor take turns

    def predict(inputs: np.ndarray) -> np.ndarray:
        parts = np.array_split(inputs, min(streams, len(inputs)))
        outputs: list[np.ndarray | None] = [None] * len(parts)

        def collect(request, index: int) -> None:
            outputs[index] = request.get_output_tensor(0).data.copy()

        with lock:
            queue.set_callback(collect)
            for index, part in enumerate(parts):
                queue.start_async({0: np.ascontiguousarray(part, dtype=np.float32)}, index)
            queue.wait_all()
        return np.concatenate(outputs).astype(np.float32, copy=False)[..., 0]

    return predict


def batched(predict: Predictor, batch_size: int) -> Predictor:
    """Wrap ``predict`` so it is called on at most ``batch_size`` inputs at a time; no input gives
    ``(0, H, W)`` float32 without a call."""
    require_count(batch_size, 1, "batch_size", "inputs per call", "explainability.batch_size")

    def run(inputs: np.ndarray) -> np.ndarray:
        if not len(inputs):  # a model need not take an empty batch
            return np.zeros((0, *inputs.shape[1:3]), dtype=np.float32)
        return np.concatenate(
            [predict(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )

    return run


def forward_pass(model: keras.Model, batch_size: int = 256, backend: str = "tensorflow") -> Predictor:
    """A :data:`Predictor` for a zoo model on ``backend``: inputs ``(B, 101, 101, C)`` →
    probabilities ``(B, 101, 101)`` float32, called on at most ``batch_size`` inputs at a time;
    no input gives ``(0, 101, 101)`` without a call."""
    require_backend(backend)
    one_batch = _tensorflow_batch(model, batch_size) if backend == "tensorflow" else _openvino_batch(model)
    return batched(lambda inputs: one_batch(np.ascontiguousarray(inputs, dtype=np.float32)), batch_size)


def task_forward_pass(model: keras.Model | bytes, params: dict) -> Predictor:
    """:func:`forward_pass` inside a task that runs in process or on a Dask worker alike: ``model``
    itself or its ``.keras`` bytes, at ``params["batch_size"]`` on ``params["backend"]`` (TensorFlow
    when unset)."""
    return forward_pass(as_model(model), params["batch_size"], params.get("backend", "tensorflow"))
