"""Throughput of the chunked stages in process and on a Dask LocalCluster of 1 and 2 workers.

    .venv/bin/python benchmarks/bench_scaling.py [--model data/06_models/salt_model.keras]
        [--explain-images 192] [--predict-images 4000] [--workers 1 2]

Runs the tasks the pipelines submit (``explain_channels``' ``explain_game_chunk`` and
``predict_test_masks``' ``predict_masks_chunk``) through :func:`explainable_salt.compute.execution.map_chunks`
with the chunk sizes of ``conf/base``: once in process (TensorFlow using every core), then on a
LocalCluster of N single-threaded workers on 127.0.0.1. Each cluster is warmed up first (worker
start, TensorFlow import, model load: reported separately), then timed. Inputs are random: the
speed does not depend on the pixel values. Prints images/s and the speed-up from 1 to 2 workers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _data import base_parameters  # benchmarks/ is on the path when run as a script
from _options import count
from distributed import Client, LocalCluster

from explainable_salt.attribution.absence import BackgroundAbsence
from explainable_salt.attribution.chunks import explain_game_chunk
from explainable_salt.compute.execution import chunk_slices, map_chunks, worker_environment
from explainable_salt.segmentation.inference import predict_masks_chunk

REPO = Path(__file__).resolve().parents[1]


def _model(path: Path, channels: int):
    import keras

    from explainable_salt.segmentation.models import build_configured_model

    if path.is_file():
        return keras.models.load_model(path, compile=False), f"trained model {path}"
    modelling = base_parameters("modelling")
    return build_configured_model(modelling, channels), "default architecture, untrained"


def _stages(model, explain_x, predict_x, background):
    explain = base_parameters("explainability")
    inference = base_parameters("modelling")["inference"]
    weights = np.full(len(background), 1.0 / len(background))
    explain_chunks = [(explain_x[s], explain["seed"] + k)
                      for k, s in enumerate(chunk_slices(len(explain_x), explain["chunk_size"]))]
    predict_chunks = [(predict_x[s],) for s in chunk_slices(len(predict_x), inference["chunk_size"])]
    return {
        "explanations": (explain_game_chunk, explain_chunks,
                         {"model": model, "absence": BackgroundAbsence(background, weights), "params": explain}),
        "predictions": (predict_masks_chunk, predict_chunks,
                        {"models": [model], "params": inference, "rule": {"threshold": 0.5}}),
    }


def _rate(stage, client) -> float:
    function, chunks, shared = stage
    start = time.perf_counter()
    n = sum(len(r.predictions if hasattr(r, "predictions") else r)
            for r in map_chunks(function, chunks, {"mode": "in_process"}, shared=shared, client=client,
                                total=len(chunks), desc=function.__name__))
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "data/06_models/salt_model.keras")
    parser.add_argument("--explain-images", type=count(1), default=192)
    parser.add_argument("--predict-images", type=count(1), default=4000)
    parser.add_argument("--workers", type=count(1), nargs="+", default=[1, 2])
    args = parser.parse_args()
    channels = len(base_parameters("modelling")["channels"])
    model, description = _model(args.model, channels)
    rng = np.random.default_rng(0)
    explain_x = rng.normal(size=(args.explain_images, 101, 101, channels)).astype(np.float32)
    predict_x = rng.normal(size=(args.predict_images, 101, 101, channels)).astype(np.float32)
    background = rng.normal(size=(base_parameters("explainability")["background"]["size"], 101, 101, channels)).astype(np.float32)
    stages = _stages(model, explain_x, predict_x, background)
    warm_up = _stages(model, explain_x[:8], predict_x[:64], background)
    print(f"{description}; {channels} channels; {args.explain_images} images explained, "
          f"{args.predict_images} predicted (flip TTA)")

    rates = {}
    for name in stages:
        _rate(warm_up[name], None)
    rates["in process"] = {name: _rate(stage, None) for name, stage in stages.items()}
    for n in args.workers:
        start = time.perf_counter()
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, env=worker_environment(1)) as cluster, Client(cluster) as client:
            for name in stages:  # every worker imports TensorFlow and loads the model
                function, chunks, shared = warm_up[name]
                list(map_chunks(function, chunks * n, {"mode": "in_process"}, shared=shared, client=client))
            print(f"LocalCluster of {n} worker(s): started and warmed up in {time.perf_counter() - start:.1f} s")
            rates[f"{n} worker(s)"] = {name: _rate(stage, client) for name, stage in stages.items()}

    print(f"{'':16s} {'explanations':>16s} {'predictions':>16s}")
    for setup, rate in rates.items():
        print(f"{setup:16s} {rate['explanations']:10.2f} img/s {rate['predictions']:10.1f} img/s")
    if {"1 worker(s)", "2 worker(s)"} <= set(rates):
        one, two = rates["1 worker(s)"], rates["2 worker(s)"]
        print(f"speed-up 1 → 2 workers: explanations {two['explanations'] / one['explanations']:.2f}x, "
              f"predictions {two['predictions'] / one['predictions']:.2f}x")


if __name__ == "__main__":
    main()
