"""Throughput and peak memory of the inference pipeline on SEG-Y volumes of two sizes.

    .venv/bin/python benchmarks/bench_seismic.py [--inlines 60 240] [--crosslines 201] [--samples 1001]

Each volume is written as a SEG-Y file (IEEE floats; synthetic sections from ``tgs/synthetic.py``
as inlines, amplitudes ``grey - 128``), then run in a fresh process through the seismic nodes as
the pipeline runs them, in process, with the catalog's datasets between them: read lazily and
arrange (segyio), scale (a strided sample) and cut into inline sections, predict a chunk of
sections at a time (attributes, tiles, the model with flip TTA, blending) streamed to per-section
files, assemble on the volume's grid into zarr a section at a time, and write the probability as
SEG-Y with the input's headers block by block; no explanations. Uses
the trained model under ``data/`` when there, else the default architecture untrained
(benchmarks/bench_inference.py: speed does not depend on the weights). Prints traces/s and the
process's peak resident memory for each size: memory that grows with the volume means the volume
is held whole.
"""

from __future__ import annotations

import argparse
import json
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
    """The seismic nodes on ``segy``, in this process, with the catalog's datasets between them as
    a run has (per-section probabilities streamed to files, the volume to zarr, the probability to
    SEG-Y): seconds, traces and peak RSS."""
    from _data import base_parameters
    from bench_inference import artifacts

    from explainable_salt.datasets import SectionSetDataset
    from explainable_salt.datasets.seismic_datasets import SegyDataset, XarrayDataset
    from explainable_salt.pipelines.inference.seismic_nodes import (
        arrange_segy,
        predict_seismic_sections,
        segy_outputs,
        seismic_sections,
        seismic_volume,
    )
    from explainable_salt.stacks import ImageStack
    from explainable_salt.tgs import synthetic

    inference, modelling = base_parameters("inference"), base_parameters("modelling")
    seismic = inference["seismic"]
    train = synthetic.generate(16, seed=1, shape_probabilities={"dome": 1.0}).images
    _, model, channels, normaliser, rule, _, _ = artifacts(data, modelling["channels"], train)
    out = segy.parent / "outputs"
    start = time.perf_counter()
    traces = SegyDataset(str(segy), max_traces=10**8, max_samples=10**5, max_total_samples=10**11).load()
    volume = arrange_segy(traces, seismic)
    sections, scaling = seismic_sections(volume, ImageStack(np.arange(len(train)).astype(str), train), channels,
                                         seismic)
    SectionSetDataset(str(out / "sections"), "npy").save(predict_seismic_sections(
        sections, model, channels, normaliser, rule, base_parameters("feature_engineering"), modelling["inference"],
        inference))
    probabilities = SectionSetDataset(str(out / "sections"), "npy", lazy=True).load()
    XarrayDataset(str(out / "seismic.zarr")).save(seismic_volume(probabilities, {}, volume, scaling, rule, seismic))
    probability, _ = segy_outputs(XarrayDataset(str(out / "seismic.zarr")).load())
    SegyDataset(str(out / "probability.sgy"), template=str(segy)).save(probability)
    return {"seconds": time.perf_counter() - start, "traces": int(traces.sizes["trace"]),
            "peak_rss_gb": peak_rss_gb()}


def peak_rss_gb() -> float:
    """This process's peak resident memory since it started (``VmHWM``: unlike ``ru_maxrss``, which
    a child starts with its parent's peak, it begins afresh at exec)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inlines", type=count(1), nargs="+", default=[60, 240])
    parser.add_argument("--crosslines", type=count(1), default=201)
    parser.add_argument("--samples", type=count(1), default=1001)
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # internal: run one volume, print JSON
    options = parser.parse_args()
    if options.one:
        print(json.dumps(run_one(options.one, options.data)))
        return
    print("| volume (inlines x crosslines x samples) | amplitudes (GB) | traces | seconds | traces/s | peak RSS (GB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for inlines in options.inlines:
        with tempfile.TemporaryDirectory() as scratch:
            segy = Path(scratch) / "volume.sgy"
            write_volume(segy, inlines, options.crosslines, options.samples)
            done = subprocess.run([sys.executable, __file__, "--one", str(segy), "--data", str(options.data)],
                                  capture_output=True, text=True, cwd=Path(__file__).parent, check=False)
            if done.returncode:
                sys.exit(done.stderr[-3000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
        size = inlines * options.crosslines * options.samples * 4 / 2**30
        print(f"| {inlines} x {options.crosslines} x {options.samples} | {size:.2f} | {result['traces']:,} | "
              f"{result['seconds']:.1f} | {result['traces'] / result['seconds']:.0f} | {result['peak_rss_gb']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
