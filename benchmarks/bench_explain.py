"""Speed of the channel Shapley engine vs the model's own inference and vs shap's explainers.

    .venv/bin/python benchmarks/bench_explain.py [--model data/06_models/salt_model.keras]
        [--images 64] [--background 8] [--shap-exact-images 2] [--shap-pixels 8]
        [--data data] [--frontier-images 24] [--frontier-half 128] [--frontier-draws 60]

In one run, at 101 × 101 with the default model (the trained one if ``--model`` exists, else the
default architecture freshly initialised: speed does not depend on the weights):

1. the model's batched inference throughput (images/s);
2. the forward-pass bound of the engine: that throughput / ((2^C − 2) K + 1) passes per image;
3. the engine's measured images/s (exact Shapley values for all 10,201 pixels) and its share of
   the bound;
4. the like-for-like anchor: shap's own ExactExplainer with a channel masker
   (:mod:`explainable_salt.attribution.shap_exact`) on the same model, images and background,
   the same quantity (interventional channel Shapley values averaged over the K background images,
   for all 10,201 pixels): its images/s, the ratio engine / shap, and the largest
   |φ_shap − φ_engine| and |expected_shap − expected_engine|;
5. shap's GradientExplainer (expected gradients, ``nsamples`` = K), a different quantity (one
   attribution per input pixel and channel, for one output pixel at a time), on a few output
   pixels of one image, extrapolated to all 10,201 pixels, and the engine's speed-up over it;
6. the sampling estimator (antithetic permutations, used above ``max_exact_channels``) against
   the exact values on a few images: its mean absolute error relative to the mean |φ|;
7. on a finished run's data (``--data``, skipped when it has none), the error–speed frontier of
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
from _sampling_frontier import frontier

import explainable_salt  # noqa: F401  before keras: sets TensorFlow's CPU options
from explainable_salt.attribution.shap_exact import shap_exact_channel_shapley
from explainable_salt.attribution.shapley import (
    ChannelShapley,
    Predictor,
    channel_shapley,
    channel_shapley_sampled,
    keras_predictor,
)
from explainable_salt.segmentation.models import build_configured_model  # also registers the custom layers for loading

REPO = Path(__file__).resolve().parents[1]
N_PIXELS = 101 * 101


def default_model(path: Path) -> tuple[keras.Model, str]:
    params = yaml.safe_load((REPO / "conf/base/parameters_modelling.yml").read_text())["modelling"]
    if path.is_file():
        return keras.models.load_model(path, compile=False), f"trained model {path}"
    model = build_configured_model(params, len(params["channels"]))
    return model, f"default architecture, {len(params['channels'])} channels, untrained"


def inference_rate(model: keras.Model, inputs: np.ndarray, batch_size: int) -> float:
    model.predict_on_batch(inputs[:batch_size])  # warm-up: tracing
    start = time.perf_counter()
    for i in range(0, len(inputs), batch_size):
        model.predict_on_batch(inputs[i : i + batch_size])
    return len(inputs) / (time.perf_counter() - start)


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
    parser.add_argument("--shap-exact-images", type=count(0), default=2, help="(0: no ExactExplainer comparison)")
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
    passes = (2**n_channels - 2) * args.background + 1
    print(f"{described}; C = {n_channels}, K = {args.background}: {passes} forward passes per image")

    rate = inference_rate(model, rng.normal(size=(1024, 101, 101, n_channels)).astype(np.float32), args.batch_size)
    bound = rate / passes
    print(f"model inference          : {rate:8.1f} images/s (batch {args.batch_size})")
    print(f"forward-pass bound       : {bound:8.3f} explained images/s")

    predict = keras_predictor(model, args.batch_size)
    channel_shapley(predict, images[:2], background)  # warm-up
    start = time.perf_counter()
    result = channel_shapley(predict, images, background)
    engine = args.images / (time.perf_counter() - start)
    print(f"channel Shapley engine   : {engine:8.3f} images/s ({100 * engine / bound:.0f} % of the bound, "
          f"max additivity error {result.max_additivity_error:.1e})")

    if args.shap_exact_images > 0:
        shap_images = images[: args.shap_exact_images]
        shap_rate, phi_error, expected_error = shap_exact_comparison(predict, shap_images, background, result)
        print(f"shap ExactExplainer      : {shap_rate:8.3f} images/s (channel masker, the same quantity; "
              f"{len(shap_images)} images, {2**n_channels * args.background} forward passes per image)")
        print(f"engine / ExactExplainer  : {engine / shap_rate:8.2f}x")
        print(f"max |φ_shap − φ_engine|  : {phi_error:8.1e} (expected values: {expected_error:.1e})")

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

    run_files = [args.data / "05_model_input/model_inputs/data.npy", args.data / "03_primary/manifest.parquet"]
    if args.frontier_images and all(f.is_file() for f in run_files) and args.model.is_file():
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
