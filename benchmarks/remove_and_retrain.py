"""Remove and retrain: what each input channel costs the model when it is left out, with its spread
over training seeds. Every channel is computed from the amplitude image, so a U-Net may relearn a
dropped one: a removal that costs nothing says the channel is redundant, not that it is unused.

Run from the project root after a run on the competition data (it reads the catalog's
``model_inputs``, ``train_masks`` and ``manifest``):

    .venv/bin/python benchmarks/remove_and_retrain.py [--minutes 10] [--seeds 0 1 2] [--env ENV]

Configurations: all channels, each channel left out, amplitude alone; each trained ``--seeds``
times for at most ``--minutes`` (the configured stages' time limits scaled to it), its decision
rule tuned on validation, scored on the internal test split. Each finished training is a row of
``--results`` (CSV), so a killed run resumes where it stopped; a training killed half way resumes
from its checkpoint. Prints the internal-test metric per configuration (mean and range over seeds)
and what each removal costs against all channels.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import pandas as pd
from _options import count

REPO = Path(__file__).resolve().parents[1]


def configurations(channels: list[str]) -> dict[str, list[str]]:
    """Name → channels: all of them, each left out in turn, amplitude alone."""
    configs = {"all": list(channels)}
    configs |= {f"without {c}": [k for k in channels if k != c] for c in channels}
    if "amplitude" in channels and len(channels) > 1:
        configs["amplitude only"] = ["amplitude"]
    return configs


def budgeted(modelling: dict, channels: list[str], seed: int, minutes: float, checkpoints: Path) -> dict:
    """The modelling parameters for one training: ``channels``, ``seed``, the stages' time limits
    scaled to ``minutes`` in all, and a checkpoint folder of its own."""
    params = copy.deepcopy(modelling)
    params["channels"] = list(channels)
    params["training"]["seed"] = seed
    stages = params["training"]["stages"]
    limits = [s.get("max_minutes") for s in stages]
    if all(limit is not None for limit in limits):
        for stage, limit in zip(stages, limits):
            stage["max_minutes"] = limit * minutes / sum(limits)
    params["training"]["checkpoints"] = {"folder": str(checkpoints), "resume": True}
    return params


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: the mean, lowest and highest internal-test metric over seeds, and the
    cost (all channels' mean minus this one's)."""
    table = results.groupby("configuration", sort=False)["competition_metric"].agg(["mean", "min", "max", "count"])
    if "all" in table.index:
        table["cost"] = table.loc["all", "mean"] - table["mean"]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per configuration and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--env", default=None, help="Kedro environment whose modelling parameters are used")
    parser.add_argument("--only", nargs="+", help="configurations to run (default: all of them)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks/results/remove_and_retrain.csv")
    parser.add_argument("--max-trainings", type=count(1), default=None, help="stop after this many trainings")
    options = parser.parse_args()
    if options.minutes <= 0:
        parser.error("argument --minutes: must be above 0")

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from explainable_salt.pipelines.modelling.nodes import evaluate_model, train_model, tune_decision_rule

    bootstrap_project(Path.cwd())
    with KedroSession.create(project_path=Path.cwd(), env=options.env) as session:
        context = session.load_context()
        catalog, modelling = context.catalog, context.params["modelling"]
        inputs, masks, manifest = (catalog.load(n) for n in ("model_inputs", "train_masks", "manifest"))
    configs = configurations(list(modelling["channels"]))
    unknown = set(options.only or []) - set(configs)
    if unknown:
        parser.error(f"unknown configuration(s) {sorted(unknown)}; known: {sorted(configs)}")
    done = pd.read_csv(options.results) if options.results.is_file() else pd.DataFrame(
        columns=["configuration", "seed"])
    finished = set(zip(done["configuration"], done["seed"]))
    trainings = 0
    for name, channels in configs.items():
        for seed in options.seeds:
            if (options.only and name not in options.only) or (name, seed) in finished:
                continue
            if options.max_trainings is not None and trainings == options.max_trainings:
                break
            checkpoints = options.results.parent / "remove_and_retrain_checkpoints" / f"{name.replace(' ', '_')}-{seed}"
            params = budgeted(modelling, channels, seed, options.minutes, checkpoints)
            print(f"training '{name}' ({', '.join(channels)}), seed {seed}, {options.minutes:g} min", flush=True)
            start = time.perf_counter()
            model, history, model_channels = train_model(inputs, masks, manifest, params)
            rule = tune_decision_rule(model, model_channels, inputs, masks, manifest, params["inference"])
            scores, _ = evaluate_model(model, model_channels, inputs, masks, manifest, rule, params["inference"])
            row = {"configuration": name, "seed": seed, "channels": " ".join(channels),
                   "competition_metric": scores["internal_test.competition_metric"],
                   "low": scores["internal_test.competition_metric_low"],
                   "high": scores["internal_test.competition_metric_high"],
                   "epochs": len(history), "minutes": (time.perf_counter() - start) / 60}
            options.results.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame([row]).to_csv(options.results, mode="a", header=not options.results.is_file(), index=False)
            print(f"  internal test {row['competition_metric']:.3f} ({row['low']:.3f}-{row['high']:.3f}), "
                  f"{row['epochs']} epochs in {row['minutes']:.1f} min", flush=True)
            trainings += 1
    results = pd.read_csv(options.results) if options.results.is_file() else None
    if results is None or results.empty:
        sys.exit("no training has finished yet")
    print(summary(results).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
