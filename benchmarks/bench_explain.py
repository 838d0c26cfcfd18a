"""Speed of the channel Shapley engine vs the model's own inference and vs shap's explainers.

    .venv/bin/python benchmarks/bench_explain.py [--model data/06_models/salt_model.keras]
        [--images 64] [--background 8] [--shap-exact-images 8] [--shap-pixels 8]
        [--backends tensorflow openvino] [--precisions model float32]
        [--data data] [--frontier-images 24] [--frontier-half 128] [--frontier-draws 60]

In one run, at 101 × 101 with the default model (the trained one if ``--model`` exists, else the
default architecture freshly initialised: speed does not depend on the weights):

1. the like-for-like anchor: shap's own ExactExplainer with a channel masker
   (:mod:`explainable_salt.attribution.shap_exact`) on TensorFlow, as a user would run it, on
   ``--shap-exact-images`` of the images with the same model and background, the same quantity
   (interventional channel Shapley values averaged over the K background images, for all 10,201
   pixels): its images/s and the largest |φ_shap − φ_engine| and |expected_shap − expected_engine|;
2. a table, per precision (the model as trained: bfloat16 when trained in ``mixed_bfloat16``; and
   a float32 copy) and per forward-pass backend (``execution.backend``,
   :mod:`explainable_salt.segmentation.forward`): the model's batched inference throughput, the
   engine's forward-pass bound (that throughput / ((2^C − 2) K + 1) passes per image), the
   engine's measured images/s (exact Shapley values for all 10,201 pixels) and its share of the
   bound, its ratio to the ExactExplainer, and its largest differences in probability and in φ
   from TensorFlow at the same precision;
3. shap's GradientExplainer (expected gradients, ``nsamples`` = K), a different quantity (one
   attribution per input pixel and channel, for one output pixel at a time), on a few output
   pixels of one image, extrapolated to all 10,201 pixels, and the engine's speed-up over it;
4. the sampling estimator (antithetic permutations, used above ``max_exact_channels``) against
   the exact values on a few images: its mean absolute error relative to the mean |φ|;
5. on a finished run's data (``--data``, skipped when it has none), the error–speed frontier of
   the ``background`` game's estimators (random, stratified, with and without the expected-value
   control variate, k-means) against a K = 128 reference (``_sampling_frontier.py``), and the K a
   ≤ 5 % sampling error needs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
import shap
import yaml
from _options import count, counts  # benchmarks/ is on the path when run as a script
from _sampling_frontier import frontier, load_run

import explainable_salt  # noqa: F401  before keras: sets TensorFlow's CPU options
from explainable_salt.attribution.shap_exact import shap_exact_channel_shapley
from explainable_salt.attribution.shapley import (
    ChannelShapley,
    channel_shapley,
    channel_shapley_sampled,
)
from explainable_salt.segmentation.forward import BACKENDS, Predictor, compute_precision, forward_pass
from explainable_salt.segmentation.models import build_configured_model  # also registers the custom layers for loading
from explainable_salt.tgs.splits import split_ids

REPO = Path(__file__).resolve().parents[1]
N_PIXELS = 101 * 101


def default_model(path: Path) -> tuple[keras.Model, str]:
    params = yaml.safe_load((REPO / "conf/base/parameters_modelling.yml").read_text())["modelling"]
    if path.is_file():
        return keras.models.load_model(path, compile=False), f"trained model {path}"
    model = build_configured_model(params, len(params["channels"]))
    return model, f"default architecture, {len(params['channels'])} channels, untrained"


def inference_rate(predict: Predictor, inputs: np.ndarray, batch_size: int) -> float:
    """Images/s of ``predict`` on ``inputs``, after a warm-up batch (tracing, compiling)."""
    predict(inputs[:batch_size])
    start = time.perf_counter()
    predict(inputs)
    return len(inputs) / (time.perf_counter() - start)


def float32_copy(model: keras.Model) -> keras.Model:
    """The default architecture in float32 with ``model``'s weights."""
    params = yaml.safe_load((REPO / "conf/base/parameters_modelling.yml").read_text())["modelling"]
    copy = build_configured_model({**params, "dtype_policy": "float32"}, model.input_shape[-1])
    copy.set_weights(model.get_weights())
    return copy


def shap_exact_comparison(
    predict: Predictor, images: np.ndarray, background: np.ndarray, engine: ChannelShapley
) -> tuple[float, float, float]:
    """shap's ExactExplainer with the channel masker on ``images`` ``(n, H, W, C)``: its images/s
    and the largest differences from the engine's contributions and expected values."""
    shap_exact_channel_shapley(predict, images[:1], background)  # warm-up: numba compiles shap's loop
    start = time.perf_counter()
    values, expected = shap_exact_channel_shapley(predict, images, background)
    rate = len(images) / (time.perf_counter() - start)
    return (
        rate,
        float(np.abs(values - engine.contributions[: len(images)]).max()),
        float(np.abs(expected - engine.expected_value).max()),
    )


def shap_seconds_per_image(model: keras.Model, image: np.ndarray, background: np.ndarray, n_pixels: int) -> float:
    """GradientExplainer on ``n_pixels`` output pixels of one image, extrapolated to all pixels."""
    pixels = np.random.default_rng(0).choice(N_PIXELS, size=n_pixels, replace=False)
    flat = keras.layers.Reshape((N_PIXELS,))(model.output)
    chosen = keras.layers.Lambda(lambda t: keras.ops.take(t, pixels, axis=1))(flat)
    explainer = shap.GradientExplainer(keras.Model(model.input, chosen), background)
    explainer.shap_values(image[None], nsamples=len(background))  # warm-up: tracing
    start = time.perf_counter()
    explainer.shap_values(image[None], nsamples=len(background))
    return (time.perf_counter() - start) * N_PIXELS / n_pixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "data/06_models/salt_model.keras")
    parser.add_argument("--images", type=count(1), default=64)
    parser.add_argument("--background", type=count(1), default=8)
    parser.add_argument("--batch-size", type=count(1), default=256)
    parser.add_argument("--shap-exact-images", type=count(0), default=8, help="(0: no ExactExplainer comparison)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--precisions", nargs="+", choices=["model", "float32"], default=["model", "float32"],
                        help="the model as trained (bfloat16 where it was trained so) and a float32 copy")
    parser.add_argument("--shap-pixels", type=count(1), default=8)
    parser.add_argument("--sampled-images", type=count(0), default=8, help="(0: no sampling estimator)")
    parser.add_argument("--permutations", type=count(1), default=64)
    parser.add_argument("--data", type=Path, default=REPO / "data", help="a finished run's data/ for the frontier")
    parser.add_argument("--frontier-images", type=count(0), default=24, help="internal-test images (0: no frontier)")
    parser.add_argument("--frontier-half", type=count(2), default=128,
                        help="reference K; as many pool images to draw from")
    parser.add_argument("--frontier-draws", type=count(2), default=60, help="draws per estimator and K")
    parser.add_argument("--frontier-k", type=counts(1), default=[4, 8, 16, 32, 64],
                        help="background sizes K of the frontier (comma-separated)")
    args = parser.parse_args()

    model, described = default_model(args.model)
    n_channels = model.input_shape[-1]
    rng = np.random.default_rng(0)
    images = rng.normal(size=(args.images, 101, 101, n_channels)).astype(np.float32)
    background = rng.normal(size=(args.background, 101, 101, n_channels)).astype(np.float32)
    source = "random normal images and background"
    run_files = [args.data / "05_model_input/model_inputs/data.npy", args.data / "03_primary/manifest.parquet",
                 args.data / "06_models/shapley_background/data.npy"]
    if args.model.is_file() and all(f.is_file() for f in run_files):  # the run's own images: realistic differences
        channels = json.loads((args.data / "06_models/salt_model_channels.json").read_text())
        ids, stack, manifest, index = load_run(args.data, channels)
        chosen = np.flatnonzero(np.isin(ids, split_ids(manifest, "internal_test")))[: args.images]
        images = np.asarray(stack[chosen])[..., index].astype(np.float32)
        stored = list(np.load(args.data / "06_models/shapley_background/channels.npy"))
        background = np.load(args.data / "06_models/shapley_background/data.npy")[: args.background]
        background = background[..., [stored.index(c) for c in channels]].astype(np.float32)
        source = f"{len(images)} internal-test images and the run's background of {args.data}"
    passes = (2**n_channels - 2) * len(background) + 1
    print(f"{described}; {source}; C = {n_channels}, K = {len(background)}: {passes} forward passes per image")

    predict = forward_pass(model, args.batch_size)  # TensorFlow, at the model's precision
    shap_rate = None
    if args.shap_exact_images > 0:
        shap_images = images[: args.shap_exact_images]
        shap_rate, phi_error, expected_error = shap_exact_comparison(
            predict, shap_images, background, channel_shapley(predict, shap_images, background))
        print(f"shap ExactExplainer      : {shap_rate:8.3f} images/s (channel masker on TensorFlow, the same quantity; "
              f"{len(shap_images)} images, {2**n_channels * args.background} forward passes per image)")
        print(f"max |φ_shap − φ_engine|  : {phi_error:8.1e} (expected values: {expected_error:.1e})")

    print("| precision | backend | model images/s | bound, images/s | engine images/s | share of the bound "
          "| engine / ExactExplainer | max Δp against TensorFlow | max Δφ against TensorFlow (mean |φ|) "
          "| mean |Δφ| / mean |φ| |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    inputs = rng.normal(size=(1024, 101, 101, n_channels)).astype(np.float32)
    for precision in args.precisions:
        variant = model if precision == "model" else float32_copy(model)
        reference = None
        for backend in args.backends:
            predict_variant = forward_pass(variant, args.batch_size, backend)
            rate = inference_rate(predict_variant, inputs, args.batch_size)
            channel_shapley(predict_variant, images[:2], background)  # warm-up
            start = time.perf_counter()
            explained = channel_shapley(predict_variant, images, background)
            rate_engine = args.images / (time.perf_counter() - start)
            bound = rate / passes
            reference = reference or explained
            if precision == "model" and backend == "tensorflow":
                result, engine = explained, rate_engine
            ratio = f"{rate_engine / shap_rate:.2f}x" if shap_rate else "-"
            print(f"| {compute_precision(variant)} | {backend} | {rate:.1f} | {bound:.3f} | {rate_engine:.3f} "
                  f"| {100 * rate_engine / bound:.0f} % | {ratio} "
                  f"| {np.abs(explained.predictions - reference.predictions).max():.1e} "
                  f"| {np.abs(explained.contributions - reference.contributions).max():.1e} "
                  f"({np.abs(reference.contributions).mean():.1e}) "
                  f"| {np.abs(explained.contributions - reference.contributions).mean() / np.abs(reference.contributions).mean():.1%} |")
    print(f"channel Shapley engine   : {engine:8.3f} images/s on TensorFlow at the model's precision "
          f"(max additivity error {result.max_additivity_error:.1e})")

    seconds = shap_seconds_per_image(model, images[0], background, args.shap_pixels)
    print(f"shap GradientExplainer   : {seconds:8.0f} s per image for all {N_PIXELS} pixels "
          f"(measured on {args.shap_pixels}, nsamples = {args.background}; a different quantity: "
          f"expected gradients per input pixel)")
    print(f"speed-up vs GradientExpl : {seconds * engine:,.0f}x per image")

    if args.sampled_images > 0:
        few = images[: args.sampled_images]
        start = time.perf_counter()
        sampled = channel_shapley_sampled(predict, few, background, args.permutations, seed=0)
        sampled_rate = len(few) / (time.perf_counter() - start)
        exact = result.contributions[: len(few)]
        error = np.abs(sampled.contributions - exact).mean() / np.abs(exact).mean()
        print(f"sampling estimator       : {sampled_rate:8.3f} images/s with {args.permutations} permutations; "
              f"mean |error| = {100 * error:.1f} % of mean |φ| (exact: 0 %), additivity error "
              f"{sampled.max_additivity_error:.1e}")

    if args.frontier_images and all(f.is_file() for f in run_files[:2]) and args.model.is_file():
        channels = json.loads((args.data / "06_models/salt_model_channels.json").read_text())
        print(f"sampling error of the background game ({args.frontier_images} internal-test images of {args.data}; "
              f"images/s scaled from the engine's {engine:.3f} at K = {args.background}):")
        table = frontier(predict, args.data, channels, args.frontier_images, args.frontier_half, args.frontier_draws,
                         args.frontier_k, engine, args.background)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    elif args.frontier_images:
        print(f"sampling error frontier  : skipped, no finished run in {args.data} (run `make run` first)")


if __name__ == "__main__":
    main()
