"""What a training checkpoint costs: its size on disk and the time to write it, for the default
model (conf/base), against the tens of seconds an epoch takes on 2 CPU cores.

    .venv/bin/python benchmarks/bench_checkpoint.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _options import count  # benchmarks/ is on the path when run as a script

from explainable_salt.segmentation.checkpoints import (
    SavedWeights,
    TrainingCheckpoint,
    TrainingState,
)
from explainable_salt.segmentation.models import build_configured_model
from explainable_salt.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=count(1), default=5)
    options = parser.parse_args()
    params = CONFIG_LOADER_CLASS(str(ROOT / "conf"), **CONFIG_LOADER_ARGS)["parameters"]["modelling"]
    model = build_configured_model(params, len(params["channels"]), seed=0)
    weights = model.get_weights()
    adam = [np.zeros_like(w) for w in weights] * 2  # two moments per weight
    state = TrainingState("benchmark", history=[{"epoch": e, "loss": 0.5} for e in range(80)])
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = TrainingCheckpoint(Path(folder) / "salt_model", "benchmark")
        seconds = []
        for _ in range(options.repeat):
            start = time.perf_counter()
            checkpoint.save(state, SavedWeights(weights, weights, adam))
            seconds.append(time.perf_counter() - start)
        size = sum(path.stat().st_size for path in checkpoint.folder.iterdir())
    print("| model | weights | checkpoint (MB) | write (s), median | write (s), max |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| {model.name} | {sum(w.size for w in weights):,} | {size / 1e6:.1f} | {np.median(seconds):.3f} | "
          f"{max(seconds):.3f} |")


if __name__ == "__main__":
    main()
