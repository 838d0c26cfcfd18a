"""Throughput and peak memory of the inference pipeline on SEG-Y volumes of two sizes.

    .venv/bin/python benchmarks/bench_seismic.py [--inlines 20 80] [--crosslines 101] [--samples 201]

Each volume is written as a SEG-Y file (IEEE floats; synthetic sections from ``tgs/synthetic.py``
as inlines, amplitudes ``grey - 128``), then run in a fresh process through the seismic nodes as
the pipeline runs them, in process: read and arrange (segyio), scale and cut into inline sections,
predict (attributes, tiles, the model with flip TTA, blending, decision rule), assemble on the
volume's grid and write the probability as SEG-Y with the input's headers; no explanations. Uses
the trained model under ``data/`` when there, else the default architecture untrained
(benchmarks/bench_inference.py: speed does not depend on the weights). Prints traces/s and the
process's peak resident memory for each size: memory that grows with the volume means the volume
is held whole.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _options import count

REPO = Path(__file__).resolve().parents[1]


def write_volume(path: Path, inlines: int, crosslines: int, samples: int) -> None:
    """A synthetic SEG-Y volume ``(inlines, crosslines, samples)``, inline-sorted, IEEE floats."""
    from explainable_salt.seismic.segy import write_volume as write_segy_volume
    from explainable_salt.tgs import synthetic

    sections = synthetic.generate(inlines, seed=0, shape_probabilities={"dome": 0.5, "none": 0.5},
                                  size=(samples, crosslines)).images
    write_segy_volume(path, sections.astype(np.float32).transpose(0, 2, 1) - 128)


def run_one(segy: Path, data: Path) -> dict:
    """The seismic nodes on ``segy``, in this process: seconds and traces."""
    import yaml
    from bench_inference import artifacts

    from explainable_salt.pipelines.inference.nodes import predict_sections
    from explainable_salt.pipelines.inference.seismic_nodes import (
        arrange_segy,
        segy_outputs,
        seismic_sections,
        seismic_volume,
    )
    from explainable_salt.seismic.segy import read_segy, write_like
    from explainable_salt.stacks import ImageStack
    from explainable_salt.tgs import synthetic

    def parameters(name):
        return yaml.safe_load((REPO / f"conf/base/parameters_{name}.yml").read_text())[name]

    inference, modelling = parameters("inference"), parameters("modelling")
    train = synthetic.generate(16, seed=1, shape_probabilities={"dome": 1.0}).images
    _, model, channels, normaliser, rule, _, _ = artifacts(data, modelling["channels"], train)
    normaliser = {**normaliser, "channels": list(channels)}
    start = time.perf_counter()
    traces = read_segy(segy, 10**8, 10**5, 10**10)
    volume = arrange_segy(traces, inference["seismic"])
    sections, scaling = seismic_sections(volume, ImageStack(np.arange(len(train)).astype(str), train), channels,
                                         inference["seismic"])
    probabilities, _ = predict_sections(sections, model, channels, normaliser, rule, parameters("feature_engineering"),
                                        modelling["inference"], inference)
    outputs = seismic_volume(probabilities, {}, volume, scaling, rule, inference["seismic"])
    probability, _ = segy_outputs(outputs)
    write_like(segy, segy.with_name("probability.sgy"), probability)
    return {"seconds": time.perf_counter() - start, "traces": int(traces.sizes["trace"]),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inlines", type=count(1), nargs="+", default=[20, 80])
    parser.add_argument("--crosslines", type=count(1), default=101)
    parser.add_argument("--samples", type=count(1), default=201)
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: run one volume, print JSON
    options = parser.parse_args()
    if options.one:
        print(json.dumps(run_one(options.one, options.data)))
        return
    print("| volume (inlines x crosslines x samples) | traces | seconds | traces/s | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for inlines in options.inlines:
        with tempfile.TemporaryDirectory() as scratch:
            segy = Path(scratch) / "volume.sgy"
            write_volume(segy, inlines, options.crosslines, options.samples)
            done = subprocess.run([sys.executable, __file__, "--one", str(segy), "--data", str(options.data)],
                                  capture_output=True, text=True, cwd=Path(__file__).parent, check=False)
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"| {inlines} x {options.crosslines} x {options.samples} | {result['traces']:,} | "
              f"{result['seconds']:.1f} | {result['traces'] / result['seconds']:.0f} | {result['peak_rss_gb']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
