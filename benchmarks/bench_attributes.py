"""Throughput of the attribute registry vs bruges' per-image functions, on the real TGS images.

    .venv/bin/python benchmarks/bench_attributes.py [--tgs DIR (default $TGS_DATA_DIR or ../shared/tgs)] [--limit N] [--bruges-images 20]

Times, in one run: the four attributes the default model reads (amplitude, energy, GST
similarity, Sobel: all that feature_engineering builds by default) for every train and test image
with the project's vectorised functions, the eight channels it used to build whatever the model
read, with the disk their float32 stacks take, and, on a subset, the per-image functions the original project used (bruges ``energy`` and
``similarity(kind="gst")``, scikit-image ``sobel``). Prints images/s for each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _data import DEFAULT_TGS, load_grey_images
from _options import count

ORIGINAL_FOUR = ["amplitude", "energy", "similarity", "sobel"]
FORMER_EIGHT = [*ORIGINAL_FOUR, "envelope", "cos_phase", "local_variance", "depth"]
SETTINGS = {"energy": {"window": 9}, "similarity": {"window": 9, "step_out": 1, "sigma": 1.0}}


def time_registry(images: np.ndarray, channels: list[str], chunk: int = 1000) -> float:
    from explainable_salt.seismic.attributes import compute_attributes

    depths = np.full(len(images), 500.0)
    start = time.perf_counter()
    for i in range(0, len(images), chunk):
        compute_attributes(images[i : i + chunk], channels, SETTINGS, depths[i : i + chunk])
    return time.perf_counter() - start


def time_bruges(images: np.ndarray) -> float:
    import bruges.attribute
    from skimage.filters import sobel

    start = time.perf_counter()
    for image in images:
        traces = ((image.astype(np.float64) - 127.5) / 127.5).T  # amplitude, (trace, sample)
        bruges.attribute.energy(traces, duration=9)
        bruges.attribute.similarity(traces, duration=9, dt=1, step_out=1, kind="gst", sigma=1)
        sobel(image.astype(np.float64))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tgs", type=lambda p: __import__("pathlib").Path(p), default=DEFAULT_TGS)
    parser.add_argument("--limit", type=count(1), default=None, help="images to use (default: all)")
    parser.add_argument("--bruges-images", type=count(1), default=20)
    args = parser.parse_args()

    images, decode = load_grey_images(args.tgs, args.limit)
    print(f"{len(images)} images from {args.tgs} decoded in {decode:.1f} s (not timed below); "
          f"{os.cpu_count()} cores")
    four = time_registry(images, ORIGINAL_FOUR)
    eight = time_registry(images, FORMER_EIGHT)
    subset = images[: args.bruges_images]
    bruges_seconds = time_bruges(subset)
    ours_rate, bruges_rate = len(images) / four, len(subset) / bruges_seconds
    gigabytes = len(images) * images.shape[1] * images.shape[2] * 4 / 1e9  # one float32 channel
    print(f"registry, model's four   : {four:7.1f} s for {len(images)} images = {ours_rate:8.0f} images/s, "
          f"{4 * gigabytes:.2f} GB of float32 stacks")
    print(f"registry, former eight   : {eight:7.1f} s for {len(images)} images = {len(images) / eight:8.0f} images/s, "
          f"{8 * gigabytes:.2f} GB of float32 stacks")
    print(f"bruges/skimage per image : {bruges_seconds:7.1f} s for {len(subset)} images = {bruges_rate:8.1f} images/s")
    print(f"speed-up (original four) : {ours_rate / bruges_rate:.0f}x")


if __name__ == "__main__":
    main()
