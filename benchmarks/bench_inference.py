"""Throughput of the inference pipeline's per-section work, at 101 × 101 and at 1,000 × 1,000.

    .venv/bin/python benchmarks/bench_inference.py [--small 32] [--large 1] [--sizes 101 1000]

Sections come from the synthetic generator (``tgs/synthetic.py``) at each size. Two stages are
timed, each as the pipeline runs it in process (one chunk task per size):

- **prediction**: attributes on the whole section, normalisation, overlapping 101 × 101 tiles
  (``inference.tile_overlap``), the model with flip TTA (``modelling.inference``), blending and
  the decision rule;
- **prediction + explanations**: that, plus exact channel Shapley values of every tile, stitched
  (``explainability``'s engine settings); with ``--estimators amortized``, the amortized
  explainer's values instead (``data/06_models/amortized_explainer.keras``, trained by
  ``kedro run --pipeline explainability --params explainability.estimator=amortized``).

Uses the trained model, normaliser, decision rule and background under ``data/`` when they exist,
else the default architecture freshly initialised, a normaliser fitted on the sections and a
random background (speed does not depend on the weights). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from _data import base_parameters  # benchmarks/ is on the path when run as a script
from _options import count

import explainable_salt  # noqa: F401  before keras: sets TensorFlow's CPU options
from explainable_salt.pipelines.inference.nodes import explain_sections_chunk, model_normaliser, predict_sections_chunk
from explainable_salt.segmentation.models import build_configured_model
from explainable_salt.segmentation.tiling import plan_tiles
from explainable_salt.seismic.attributes import compute_attributes
from explainable_salt.seismic.normalisation import fit_normaliser
from explainable_salt.tgs import synthetic

REPO = Path(__file__).resolve().parents[1]


def artifacts(data: Path, channels: list[str], sections: np.ndarray) -> tuple:
    """Model, normaliser, rule, background and weights: trained ones when present."""
    model_path = data / "06_models/salt_model.keras"
    if model_path.is_file():
        import explainable_salt.segmentation.models  # noqa: F401  registers the zoo's layers

        described = f"trained model {model_path.relative_to(REPO) if model_path.is_relative_to(REPO) else model_path}"
        model = keras.models.load_model(model_path, compile=False)
        channels = json.loads((data / "06_models/salt_model_channels.json").read_text())
        normaliser = json.loads((data / "04_feature/channel_normaliser.json").read_text())
        rule = json.loads((data / "06_models/decision_rule.json").read_text())
        background = np.load(data / "06_models/shapley_background/data.npy")
        weights = np.asarray(json.loads((data / "06_models/shapley_background_weights.json").read_text()))
        stored = list(np.load(data / "06_models/shapley_background/channels.npy"))
        background = background[..., [stored.index(c) for c in channels]]
    else:
        params = base_parameters("modelling")
        described = f"default architecture, {len(channels)} channels, untrained"
        model = build_configured_model(params, len(channels))
        normaliser = fit_normaliser(compute_attributes(sections[:, :101, :101], channels), channels)
        rule = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.0}
        background = np.random.default_rng(0).normal(size=(8, 101, 101, len(channels))).astype(np.float32)
        weights = np.full(8, 1 / 8)
    return described, model, channels, model_normaliser(normaliser, channels), rule, background, weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--sizes", type=count(101), nargs="+", default=[101, 1000], help="section sides (pixels)")
    parser.add_argument("--small", type=count(1), default=32, help="sections timed at 101 x 101")
    parser.add_argument("--large", type=count(1), default=1, help="sections timed at each larger size")
    parser.add_argument("--estimators", nargs="+", choices=["exact", "amortized"], default=["exact"],
                        help="how the explanations are made (amortized: the trained explainer under --data)")
    args = parser.parse_args()
    explainers = {"exact": None}
    if "amortized" in args.estimators:
        path = args.data / "06_models/amortized_explainer.keras"
        if not path.is_file():
            parser.error(f"{path} does not exist: train it with kedro run --pipeline explainability "
                         "--params explainability.estimator=amortized")
        import explainable_salt.attribution.amortized  # noqa: F401  registers its projection layer

        explainers["amortized"] = keras.models.load_model(path, compile=False)

    features, prediction = base_parameters("feature_engineering"), base_parameters("modelling")["inference"]
    inference, engine = base_parameters("inference"), base_parameters("explainability")
    warm = synthetic.generate(2, seed=0, shape_probabilities={"dome": 1.0}).images
    described, model, channels, normaliser, rule, background, weights = artifacts(
        args.data, base_parameters("modelling")["channels"], warm)
    settings = {**prediction, "tile_overlap": inference["tile_overlap"]}
    common = {"names": channels, "settings": features.get("attribute_settings"), "normaliser": normaliser}
    engine = {**engine, "tile_overlap": inference["tile_overlap"]}
    passes = (2 ** len(channels) - 2) * len(background) + 1
    print(f"{described}; C = {len(channels)}, K = {len(background)}: {passes} forward passes per explained tile; "
          f"flip TTA {prediction['flip_tta']}, tile overlap {inference['tile_overlap']} px")

    def predict(grey):
        ids, depths = np.array([f"s{i}" for i in range(len(grey))]), np.full(len(grey), 500.0, np.float32)
        return predict_sections_chunk(grey, ids, depths, [model], **common, params=settings, rule=rule)

    def explain(grey, estimator):
        ids, depths = np.array([f"s{i}" for i in range(len(grey))]), np.full(len(grey), 500.0, np.float32)
        return explain_sections_chunk(grey, ids, depths, 0, model, **common, background=background,
                                      background_weights=weights, params=engine, explainer=explainers[estimator])

    predict(warm)  # warm-up: tracing
    for estimator in args.estimators:
        explain(warm[:1], estimator)
    rows = []
    for size in args.sizes:
        n = args.small if size == 101 else args.large
        grey = synthetic.generate(n, seed=size, shape_probabilities={"dome": 0.5, "none": 0.5}, size=(size, size)).images
        predict(grey[:1])  # warm-up at this size: the model traces its tile batches once
        start = time.perf_counter()
        predict(grey)
        predicted = time.perf_counter() - start
        tiles = len(plan_tiles((size, size), inference["tile_overlap"]))
        rows.append((f"{size} x {size}", tiles, n, "prediction", predicted, n / predicted, n * size * size / predicted))
        for estimator in args.estimators:
            start = time.perf_counter()
            result = explain(grey, estimator)
            seconds = predicted + time.perf_counter() - start
            stage = "prediction + explanations" + (" (amortized)" if estimator == "amortized" else "")
            rows.append((f"{size} x {size}", tiles, n, stage, seconds, n / seconds, n * size * size / seconds,
                         result.max_additivity_error))

    print("\n| section | tiles | sections | stage | seconds | sections/s | pixels/s | additivity error |")
    print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        error = f"{row[7]:.1e}" if len(row) > 7 else ""
        print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]} | {row[4]:.1f} | {row[5]:.3g} | {row[6]:,.0f} | {error} |")


if __name__ == "__main__":
    main()
