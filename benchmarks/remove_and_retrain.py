"""Remove and retrain: what each input channel costs the model when it is left out, with its spread
over training seeds. Every channel is computed from the amplitude image, so a U-Net may relearn a
dropped one: a removal that costs nothing says the channel is redundant, not that it is unused.

Reads the competition's labelled images (``--tgs``, default ../shared/tgs) and makes the model's
channels as a run does (parameters of ``--env``):

    .venv/bin/python benchmarks/remove_and_retrain.py [--minutes 10 | --epochs 4] [--seeds 0 1 2]

Configurations: all channels, each channel left out, amplitude alone; each trained ``--seeds``
times, for at most ``--minutes`` (the configured stages' time limits scaled to it) or for exactly
``--epochs`` (split over the stages as their time limits are, no time limit: a busy machine then
slows the run without shrinking its trainings), its decision rule tuned on validation, scored on
the internal test split. Each finished training is a row of
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

import numpy as np
import pandas as pd
from _data import DEFAULT_TGS, labelled_channels
from _options import count

REPO = Path(__file__).resolve().parents[1]


def configurations(channels: list[str]) -> dict[str, list[str]]:
    """Name → channels: all of them, each left out in turn, amplitude alone."""
    configs = {"all": list(channels)}
    configs |= {f"without {c}": [k for k in channels if k != c] for c in channels}
    if "amplitude" in channels and len(channels) > 1:
        configs["amplitude only"] = ["amplitude"]
    return configs


def budgeted(modelling: dict, channels: list[str], seed: int, minutes: float, checkpoints: Path,
             epochs: int | None = None) -> dict:
    """The modelling parameters for one training: ``channels``, ``seed``, the stages' time limits
    scaled to ``minutes`` in all (or, given ``epochs``, that many epochs split over the stages in
    proportion to their time limits, at least one each, and no time limit), and a checkpoint
    folder of its own."""
    params = copy.deepcopy(modelling)
    params["channels"] = list(channels)
    params["training"]["seed"] = seed
    stages = params["training"]["stages"]
    limits = [s.get("max_minutes") for s in stages]
    if epochs is not None:
        weights = np.array([1.0 if limit is None else limit for limit in limits])
        split = np.maximum(1, np.round(epochs * weights / weights.sum()).astype(int))
        split[-1] = max(1, epochs - split[:-1].sum())  # the stages add up to ``epochs``
        for stage, stage_epochs in zip(stages, split):
            stage["epochs"], stage["max_minutes"] = int(stage_epochs), None
    elif all(limit is not None for limit in limits):
        for stage, limit in zip(stages, limits):
            stage["max_minutes"] = limit * minutes / sum(limits)
    params["training"]["checkpoints"] = {"folder": str(checkpoints), "resume": True}
    return params


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per configuration: the mean, lowest and highest internal-test metric over seeds, the cost
    (all channels' mean minus this one's) and the verdict of the rule written before the run
    (docs/experiments.md): a removal costs something only if its cost exceeds the spread (highest
    minus lowest) of the all-channel trainings and the two configurations' ranges do not overlap;
    otherwise the channel is redundant (the others carry what it carried)."""
    table = results.groupby("configuration", sort=False)["competition_metric"].agg(["mean", "min", "max", "count"])
    if "all" in table.index:
        best = table.loc["all"]
        table["cost"] = best["mean"] - table["mean"]
        costs = (table["cost"] > best["max"] - best["min"]) & (table["max"] < best["min"])
        table["verdict"] = np.where(costs, "costs", "redundant")
        table.loc["all", "verdict"] = f"spread {best['max'] - best['min']:.3f}"
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per configuration and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=count(1), default=None, help="fixed epochs per training, instead of --minutes")
    parser.add_argument("--env", default=None, help="Kedro environment whose parameters are used")
    parser.add_argument("--tgs", type=Path, default=DEFAULT_TGS)
    parser.add_argument("--only", nargs="+", help="configurations to run (default: all of them)")
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks/results/remove_and_retrain.csv")
    parser.add_argument("--max-trainings", type=count(1), default=None, help="stop after this many trainings")
    options = parser.parse_args()
    if options.minutes <= 0:
        parser.error("argument --minutes: must be above 0")
    if not (options.tgs / "train.zip").is_file():
        parser.error(f"no train.zip in {options.tgs}: pass --tgs, or set TGS_DATA_DIR")

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from explainable_salt.pipelines.modelling.nodes import evaluate_model, train_model, tune_decision_rule

    bootstrap_project(REPO)
    with KedroSession.create(project_path=REPO, env=options.env) as session:
        params = session.load_context().params
    modelling = params["modelling"]
    inputs, masks, manifest = labelled_channels(options.tgs, params)
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
            params = budgeted(modelling, channels, seed, options.minutes, checkpoints, options.epochs)
            budget = f"{options.epochs} epochs" if options.epochs else f"{options.minutes:g} min"
            print(f"training '{name}' ({', '.join(channels)}), seed {seed}, {budget}", flush=True)
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
