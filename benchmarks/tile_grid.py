"""Whether stitched explanations of a real section repeat with the tiles: the trained model's
channel Shapley values of the CGG salt section, every tile against one shared background against
each tile against its own draw from the train pool (``inference.explanations.background_per_tile``).

    .venv/bin/python benchmarks/tile_grid.py [--seismic ../shared/seismic] [--data data] [--resample 2]
        [--overlaps 50 67 75]

The section (``cgg_salt_section.f32be``, 260 traces x 280 samples; Wu, Fomel & Hudec 2018) goes
through the inference pipeline's seismic nodes with the project's defaults (resampled by
``--resample`` so that it spans more tiles), then is explained as ``explain_sections`` explains a
section, both ways, and with a draw per tile at each of ``--overlaps`` (pixels shared by
neighbouring tiles: the more, the more tiles cover each pixel). Prints per overlap the tiles and
tiles/s, along the samples (rows) and the traces (columns) the power of the expected value, of φ
and of the explained probability at the tile period and its harmonics over the median power
(:func:`explainable_salt.segmentation.tiling.tile_period_power`: noise about 2.6), and the worst
additivity error, then each channel's φ along the traces. Needs a project run on the competition data (trained model, background,
``model_inputs`` and the manifest under ``--data``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _data import base_parameters

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEISMIC = REPO.parent / "shared" / "seismic"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seismic", type=Path, default=DEFAULT_SEISMIC)
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--resample", type=float, default=2.0, help="factor on both axes before the model")
    parser.add_argument("--overlaps", type=int, nargs="+", default=None,
                        help="tile overlaps (pixels) to compare, each with a draw per tile, the first one with one shared "
                             "background too (default: inference.tile_overlap alone)")
    options = parser.parse_args()
    if options.overlaps is None:
        options.overlaps = [base_parameters("inference")["tile_overlap"]]
    if not all(0 <= overlap < 101 for overlap in options.overlaps):
        parser.error(f"argument --overlaps: each from 0 to 100 pixels, not {options.overlaps}")
    if options.resample <= 0:
        parser.error(f"argument --resample: must be positive, not {options.resample:g}")
    raw = options.seismic / "cgg_salt_section.f32be"
    if not raw.is_file():
        parser.error(f"argument --seismic: no cgg_salt_section.f32be in {options.seismic}")
    if not (options.data / "06_models/salt_model.keras").is_file():
        parser.error(f"no trained model in {options.data}/06_models: run the project on the competition data")

    from bench_inference import artifacts
    from seismic_scaling import write_section_segy

    from explainable_salt.attribution.background import train_pool
    from explainable_salt.datasets import ImageStackDataset
    from explainable_salt.pipelines.inference.nodes import explain_sections_chunk
    from explainable_salt.pipelines.inference.seismic_nodes import arrange_segy, seismic_sections
    from explainable_salt.segmentation.tiling import plan_tiles, tile_period_power
    from explainable_salt.seismic.segy import read_segy
    from explainable_salt.tgs.splits import split_ids

    inference, explainability = base_parameters("inference"), base_parameters("explainability")
    model_inputs = ImageStackDataset(str(options.data / "05_model_input/model_inputs"), mmap=True).load()
    manifest = pd.read_parquet(options.data / "03_primary/manifest.parquet")
    _, model, channels, normaliser, _, background, weights = artifacts(
        options.data, base_parameters("modelling")["channels"], np.zeros((1, 101, 101), np.uint8))
    seismic = {**inference["seismic"], "resample": [options.resample, options.resample]}
    with tempfile.TemporaryDirectory() as scratch:
        segy = Path(scratch) / "cgg_salt_section.sgy"
        write_section_segy(raw, segy)
        line = arrange_segy(read_segy(segy, 10**6, 10**5, 10**9), seismic)
        grey_train = ImageStackDataset(str(options.data / "02_intermediate/train_images"), mmap=True).load()
        [(sections, depths)], _ = seismic_sections(line, grey_train, channels, seismic)
        grey = np.asarray(sections.data[:])
    pool = train_pool(model_inputs, split_ids(manifest, "train"), list(channels),
                      inference["explanations"]["background_pool"], explainability["background"]["seed"])
    attribute_settings = base_parameters("feature_engineering").get("attribute_settings")
    print(f"section {grey.shape[1]} x {grey.shape[2]} pixels (resampled {options.resample:g}); noise is about 2.6")
    print("| tile overlap | background | tiles | tiles/s | E, rows | E, columns | φ, rows | φ, columns "
          "| probability, rows | probability, columns | additivity error |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    per_channel = {}
    for overlap in options.overlaps:
        engine = {**explainability, "tile_overlap": overlap}
        tiling = plan_tiles(grey.shape[1:3], overlap)
        draws = (("one, shared by every tile", None),) if overlap == options.overlaps[0] else ()
        for name, per_tile_pool in (*draws, ("a draw per tile", pool)):
            start = time.perf_counter()
            result = explain_sections_chunk(grey, sections.ids, depths, engine["seed"], model, list(channels),
                                            attribute_settings, normaliser, background, np.asarray(weights), engine,
                                            per_tile_pool)
            rate = len(tiling) / (time.perf_counter() - start)
            expected = np.broadcast_to(result.expected_value, result.predictions.shape)
            powers = [tile_period_power(maps, tiling, axis)
                      for maps in (expected, result.contributions, result.predictions) for axis in (1, 2)]
            print(f"| {overlap} | {name} | {len(tiling)} | {rate:.2f} | " + " | ".join(f"{p:,.0f}" for p in powers)
                  + f" | {result.max_additivity_error:.1e} |", flush=True)
            per_channel[overlap, name] = [tile_period_power(result.contributions[..., c], tiling, 2)
                                          for c in range(len(channels))]
    print("\nφ of each channel along the columns (traces):")
    print("| tile overlap | background | " + " | ".join(channels) + " |")
    print("| ---: | --- |" + " ---: |" * len(channels))
    for (overlap, name), powers in per_channel.items():
        print(f"| {overlap} | {name} | " + " | ".join(f"{p:,.0f}" for p in powers) + " |")

if __name__ == "__main__":
    main()
