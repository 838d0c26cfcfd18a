"""Size of the explorer and its time to open in headless Chromium, on a run's outputs.

    .venv/bin/python benchmarks/bench_explorer.py [--data data] [--images 60 120] [--repeat 5]

For each number of images, builds the explorer through the reporting node (``build_explorer``)
from the run's stacks under ``--data`` (a finished default run: model inputs, masks, explained
probabilities, contributions, expected value, decision rule, per-image metrics), writes it to
``benchmarks/results/explorer_<n>.html`` and opens it ``--repeat`` times, each in a fresh
browser, timing from navigation until the page's plots are rendered (the Bokeh document idle and
the pixel numbers filled in). Prints one table row per size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import pandas as pd
import yaml
from _options import count  # benchmarks/ is on the path when run as a script

from explainable_salt.datasets import ImageStackDataset
from explainable_salt.figures.explorer_browser import browser_page, chromium_path, open_explorer
from explainable_salt.pipelines.reporting.nodes import build_explorer

REPO = Path(__file__).resolve().parents[1]


def run_outputs(data: Path) -> tuple[dict, list]:
    """The node's inputs, read from a run's data folder as the catalog reads them: the named ones,
    then the primary's interactions and each other definition's contributions and expected values
    when the run wrote them (their order in ``explainability.absence`` is alphabetical here), then
    the significance table and each definition's standard errors, from which the page shows each
    pixel's interval."""
    def stack(path, mmap=False):
        return ImageStackDataset(str(data / path), mmap=mmap).load()

    output = data / "07_model_output"
    others = sorted(d.name for d in output.iterdir() if (d / "channel_contributions/data.npy").is_file())
    interactions = output / "channel_interactions/data.npy"
    extra = [stack("07_model_output/channel_interactions") if interactions.is_file() else None]
    extra += [stack(f"07_model_output/{d}/{name}") for d in others
              for name in ("channel_contributions", "expected_value_map")]
    significance = data / "08_reporting/explanation_significance.csv"
    if significance.is_file():
        extra += [pd.read_csv(significance), stack("07_model_output/contribution_standard_error"),
                  *(stack(f"07_model_output/{d}/contribution_standard_error") for d in others)]
    return {
        "per_image_metrics": pd.read_csv(data / "08_reporting/per_image_metrics.csv"),
        "model_inputs": stack("05_model_input/model_inputs", mmap=True),
        "train_masks": stack("02_intermediate/train_masks", mmap=True),
        "explained_probabilities": stack("07_model_output/explained_probabilities"),
        "channel_contributions": stack("07_model_output/channel_contributions"),
        "expected_value_map": stack("07_model_output/expected_value_map"),
        "decision_rule": json.loads((data / "06_models/decision_rule.json").read_text()),
    }, extra, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "data", help="the run's data folder")
    parser.add_argument("--images", type=count(1), nargs="+", default=None,
                        help="explorer sizes (default: the configured n_images)")
    parser.add_argument("--repeat", type=count(1), default=5, help="openings per size, each in a fresh browser")
    args = parser.parse_args()

    params = yaml.safe_load((REPO / "conf/base/parameters_reporting.yml").read_text())["reporting"]["explorer"]
    inputs, extra, others = run_outputs(args.data)
    n_explained = len(inputs["channel_contributions"])
    out = REPO / "benchmarks/results"
    out.mkdir(parents=True, exist_ok=True)
    print(f"run: {args.data} ({n_explained} explained images, channels {', '.join(inputs['channel_contributions'].channels)}; "
          f"definitions: {', '.join(['background', *others])}{'; pair interactions' if extra[0] is not None else ''}"
          f"{'; per-pixel standard errors' if len(extra) > 1 + 2 * len(others) else ''})")
    print(f"browser: {chromium_path()}; open time = navigation until the plots are rendered, {args.repeat} fresh browsers")
    print()
    print("| images | file (MB) | build (s) | open (s), median | open (s), min–max |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.images or [params["n_images"]]:
        start = time.perf_counter()
        html = build_explorer(*inputs.values(), {**params, "n_images": n}, *extra,
                              definitions=["background", *others])
        build_s = time.perf_counter() - start
        path = out / f"explorer_{n}.html"
        path.write_text(html)
        times = []
        for _ in range(args.repeat):
            with browser_page() as page:
                times.append(open_explorer(page, path))
                if page.console_errors:
                    raise RuntimeError(f"console errors opening {path}: {page.console_errors}")
        shown = min(n, n_explained)
        print(f"| {shown} | {path.stat().st_size / 1e6:.1f} | {build_s:.1f} | {statistics.median(times):.2f} "
              f"| {min(times):.2f}–{max(times):.2f} |")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\nload average (1, 5, 15 min) at the end: {load} on {os.cpu_count()} CPUs: other work slows the openings")


if __name__ == "__main__":
    main()
