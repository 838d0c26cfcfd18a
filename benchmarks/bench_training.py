"""Training and inference speed of each zoo model on this machine.

    .venv/bin/python benchmarks/bench_training.py [--train-images 512] [--test-images 18000]
        [--zoo unet residual_unet vgg16_unet] [--policy-rounds 6] [--base-filters N] [--batch-size N]
        [--epoch-rounds R] [--jit-compile]

For each zoo model at its default settings (``conf/base`` for the configured one), with the
default four input channels: seconds per epoch and training images/s on ``--train-images``
images (three epochs, no validation; the fastest after the first, which includes tracing);
then, for the configured model, float32 against mixed_bfloat16 with their epochs interleaved
(so both see the same spells of host throttling), in wall-clock and CPU seconds per epoch;
then the inference throughput of the configured model (its dtype policy) for ``--test-images``
images including attribute computation and flip test-time augmentation (``--test-images 0``
skips it). ``--base-filters N`` gives the configured model N base filters in place of
``conf/base``'s, in all three, and ``--batch-size N`` trains every model in batches of N in
place of ``conf/base``'s; ``--policy-rounds 0`` skips the dtype policies. ``--epoch-rounds R``
adds, before the dtype policies, R alternating rounds of whole three-epoch fits of the configured
model with the project's tf.data pipeline (autotuning off) and with autotuning turned back on:
their wall-clock seconds per epoch count what the fastest epoch hides, the start of each epoch.
``--jit-compile`` compiles the zoo models' training steps with XLA (``jit_compile=True``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml
from _options import count  # benchmarks/ is on the path when run as a script

import explainable_salt  # noqa: F401  before keras: sets TensorFlow's CPU options
from explainable_salt.compute.hardware import onednn_enabled
from explainable_salt.segmentation.inference import predict_probabilities
from explainable_salt.segmentation.losses import combined_loss
from explainable_salt.segmentation.models import build_configured_model, build_model
from explainable_salt.segmentation.training import training_dataset
from explainable_salt.seismic.attributes import compute_attributes


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

REPO = Path(__file__).resolve().parents[1]
ZOO = {
    "unet": {"depth": 3, "base_filters": 16},
    "residual_unet": {"depth": 4, "base_filters": 16, "use_scse": True},
    "vgg16_unet": {"decoder_filters": 16},
}


def compare_dtype_policies(params: dict, x: np.ndarray, y: np.ndarray, rounds: int) -> None:
    """Seconds per epoch of the configured model under each dtype policy, epochs interleaved;
    the first round (tracing) is left out."""
    settings = params["model"][params["architecture"]]
    data = training_dataset(x, y, params["training"]["batch_size"], seed=0)
    models = {}
    for policy in ("float32", "mixed_bfloat16"):
        models[policy] = build_model(params["architecture"], x.shape[-1], dtype_policy=policy, **settings)
        models[policy].compile(optimizer=keras.optimizers.Adam(1e-3), loss=combined_loss({"bce": 1.0, "dice": 1.0}))
    seconds = {policy: [] for policy in models}
    for _ in range(rounds):
        for policy, model in models.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(data, epochs=1, verbose=0)
            seconds[policy].append((time.perf_counter() - wall, time.process_time() - cpu))
    for policy, times in seconds.items():
        wall, cpu = np.mean(times[1:], axis=0)
        print(f"{params['architecture']} {policy:14s}: {wall:6.1f} s per epoch (wall clock), {cpu:6.1f} s of CPU, "
              f"{len(x) / wall:6.1f} training images/s", flush=True)


def compare_pipelines(params: dict, x: np.ndarray, y: np.ndarray, rounds: int, epochs: int = 3) -> None:
    """Wall-clock seconds per epoch of whole ``fit`` calls of the configured model, each of
    ``epochs`` epochs, with the project's training pipeline (fixed parallelism, tf.data
    autotuning off) and with autotuning turned back on, alternating; CPU seconds beside them.
    Unlike the zoo timing, this counts the start and end of every epoch."""
    fixed = training_dataset(x, y, params["training"]["batch_size"], seed=0)
    options = tf.data.Options()
    options.autotune.enabled = True
    pipelines = {"fixed (project)": fixed, "autotuned": fixed.with_options(options)}
    seconds = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, data in pipelines.items():
            model = build_configured_model(params, x.shape[-1])
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=combined_loss({"bce": 1.0, "dice": 1.0}))
            model.fit(data.take(1), epochs=1, verbose=0)  # tracing, left out
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(data, epochs=epochs, verbose=0)
            seconds[name].append(((time.perf_counter() - wall) / epochs, (time.process_time() - cpu) / epochs))
            print(f"  {name:16s}: {seconds[name][-1][0]:6.1f} s per epoch (wall clock), "
                  f"{seconds[name][-1][1]:6.1f} s of CPU", flush=True)
    for name, times in seconds.items():
        wall, cpu = np.mean(times, axis=0)
        print(f"tf.data {name:16s}: {wall:6.1f} s per epoch (wall clock), {cpu:6.1f} s of CPU, "
              f"{len(x) / wall:6.1f} training images/s over {rounds} x {epochs} epochs", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-images", type=count(1), default=512)
    parser.add_argument("--test-images", type=count(0), default=18000, help="(0: no inference timing)")
    parser.add_argument("--zoo", nargs="*", default=list(ZOO), choices=list(ZOO),
                        help="zoo models to time (none: only the dtype policies and inference)")
    parser.add_argument("--policy-rounds", type=count(0), default=6,
                        help="interleaved epochs per dtype policy (0: skip the comparison)")
    parser.add_argument("--epoch-rounds", type=count(0), default=0,
                        help="alternating fits of 3 epochs with the project's tf.data pipeline and with "
                             "autotuning on (0: skip)")
    parser.add_argument("--base-filters", type=count(1), help="base filters of the configured model (default: conf/base)")
    parser.add_argument("--batch-size", type=count(1), help="training batch size (default: conf/base)")
    parser.add_argument("--jit-compile", action="store_true", help="compile the zoo models' training steps with XLA")
    args = parser.parse_args()
    params = yaml.safe_load((REPO / "conf/base/parameters_modelling.yml").read_text())["modelling"]
    if args.base_filters:
        params["model"][params["architecture"]]["base_filters"] = args.base_filters
    if args.batch_size:
        params["training"]["batch_size"] = args.batch_size
    channels = params["channels"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.train_images, 101, 101, len(channels))).astype(np.float32)
    y = (rng.random((args.train_images, 101, 101)) > 0.5).astype(np.uint8)
    print(f"{os.cpu_count()} cores; {args.train_images} training images of {len(channels)} channels; "
          f"oneDNN CPU kernels: {onednn_enabled()}")
    for name in args.zoo:
        settings = {**ZOO[name], "dtype_policy": params["dtype_policy"]}
        if name == params["architecture"]:
            settings = {**params["model"][name], "dtype_policy": params["dtype_policy"]}
        model = build_model(name, len(channels), **settings)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=combined_loss({"bce": 1.0, "dice": 1.0}),
                      jit_compile=args.jit_compile)
        data = training_dataset(x, y, params["training"]["batch_size"], seed=0)
        timer = EpochTimer()
        model.fit(data, epochs=3, callbacks=[timer], verbose=0)  # epoch 1 includes tracing
        seconds = min(timer.seconds[1:])
        print(f"{name:14s}: {seconds:6.1f} s per epoch, {args.train_images / seconds:6.1f} training images/s "
              f"({model.count_params():,} parameters, {model.get_layer('pad').dtype_policy.name}"
              f"{', XLA' if args.jit_compile else ''})", flush=True)

    if args.epoch_rounds:
        compare_pipelines(params, x, y, rounds=args.epoch_rounds)
    if args.policy_rounds:
        compare_dtype_policies(params, x, y, rounds=args.policy_rounds)
    if not args.test_images:
        return
    model = build_configured_model(params, len(channels))
    grey = rng.integers(0, 255, size=(args.test_images, 101, 101), dtype=np.uint8)
    start = time.perf_counter()
    for i in range(0, args.test_images, 2000):
        inputs = compute_attributes(grey[i : i + 2000], channels)
        predict_probabilities(model, inputs, params["inference"]["batch_size"], flip_tta=True)
    seconds = time.perf_counter() - start
    print(f"inference of {args.test_images} test images (attributes + model + flip TTA): {seconds:.0f} s "
          f"= {args.test_images / seconds:.0f} images/s")


if __name__ == "__main__":
    main()
