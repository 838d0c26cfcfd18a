"""Planted cue: does each definition of an absent channel give the credit to the channel a model is
known to use? A mark is planted in one channel (the cue) exactly inside the salt mask, a model A is
trained with it and two controls B, B' (seeds 0 and 1) without it, on the competition's labelled
images; the share of |φ| inside the mask that each definition gives the cue channel is then read on
marked and unmarked internal-test images. Protocol and pass rule: docs/experiments.md (written
before the runs); results: docs/explainability.md.

    .venv/bin/python benchmarks/planted_cue.py [--design sole mixed] [--marks smooth checker]
        [--minutes 6] [--images 24] [--tgs ../shared/tgs]

Designs, each on half of the train, validation and internal-test images (seeded), the other half
left as it is:
- *sole* (the known answer): each marked image is replaced by a salt-free donor image of the same
  split (all channels), and the cue channel gets ``--strength`` × the pattern inside the marked
  image's own mask, which stays its target: the mark is its only salt information. Controls: the
  same images without the mark (strength 0). The design holds only if B, B' and A with the mark
  removed score like an all-empty prediction on the marked test images.
- *mixed* (what users meet): the mark added to the real images, which still show the salt.
  Controls: models trained on the real images. Per image, the gain of the cue's share (A minus the
  controls' mean) is set against how much A's probability inside the mask drops without the mark
  (Spearman, with a bootstrap interval over images).
Marks: ``smooth``, a constant offset (blurring keeps it); ``checker``, ± the strength alternating
pixel by pixel (blurring removes it). Background and conditional pools are unmarked train images.

Each trained model is saved under ``--results`` and each (design, model, definition) reading is a
CSV row, so a killed run resumes where it stopped. Training budgets scale the configured stages'
time limits to ``--minutes`` (benchmarks/remove_and_retrain.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from _data import DEFAULT_TGS, labelled_channels
from _options import count
from remove_and_retrain import budgeted
from scipy.stats import spearmanr

from explainable_salt.attribution.chunks import explain_stack
from explainable_salt.pipelines.explainability.nodes import build_absence, sample_background
from explainable_salt.pipelines.modelling.nodes import train_model, tune_decision_rule
from explainable_salt.segmentation.inference import predict_probabilities
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule, competition_metric
from explainable_salt.tgs.splits import split_ids

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = ("background", "baseline", "blur", "conditional")
SPLITS = ("train", "validation", "internal_test")


def marked_ids(manifest: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
    """Half of each split's ids (seeded), the ones that carry the mark."""
    rng = np.random.default_rng(seed)
    return {split: np.sort(rng.choice(ids, size=len(ids) // 2, replace=False))
            for split in SPLITS for ids in [split_ids(manifest, split)]}


def pattern(mark: str, size: int) -> np.ndarray:
    """The mark's pixel pattern ``(size, size)``: ones (smooth) or ± 1 alternating (checker)."""
    if mark == "smooth":
        return np.ones((size, size), np.float32)
    return np.where(np.add.outer(np.arange(size), np.arange(size)) % 2 == 0, 1.0, -1.0).astype(np.float32)


def planted(inputs: ImageStack, masks: ImageStack, manifest: pd.DataFrame, marked: dict, design: str,
            mark: str, strength: float, cue: str, seed: int) -> ImageStack:
    """``inputs`` with the mark planted in channel ``cue`` of the ``marked`` images; in the sole
    design those images first become a salt-free donor of their split (seeded)."""
    data = inputs.data.copy()
    position = {image_id: k for k, image_id in enumerate(inputs.ids)}
    rng = np.random.default_rng(seed)
    for split, ids in marked.items():
        rows = np.array([position[i] for i in ids])
        if design == "sole":
            salt_free = manifest[(manifest["split"] == split) & (manifest["coverage"] == 0)]["id"].to_numpy()
            salt_free = np.setdiff1d(salt_free, ids)  # donors are unmarked images
            data[rows] = inputs.data[[position[i] for i in rng.choice(salt_free, size=len(rows))]]
        c = inputs.channels.index(cue)
        data[rows, ..., c] += strength * masks.data[rows] * pattern(mark, data.shape[1])
    return ImageStack(inputs.ids, data, inputs.channels)


def trained(path: Path, stack: ImageStack, masks: ImageStack, manifest: pd.DataFrame, modelling: dict,
            seed: int, minutes: float) -> tuple[keras.Model, dict]:
    """The model trained on ``stack`` (loaded from ``path`` when an earlier run finished it) and its
    decision rule, tuned on validation."""
    rule_path = path.with_suffix(".rule.json")
    if path.is_file() and rule_path.is_file():
        return keras.saving.load_model(path, compile=False), json.loads(rule_path.read_text())
    channels = list(stack.channels)
    params = budgeted(modelling, channels, seed, minutes, path.parent / f"{path.stem}-checkpoints")
    print(f"training {path.stem}: seed {seed}, {minutes:g} min", flush=True)
    model, history, _ = train_model(stack, masks, manifest, params)
    rule = tune_decision_rule(model, channels, stack, masks, manifest, modelling["inference"])
    model.save(path)
    rule_path.write_text(json.dumps(rule))
    shutil.rmtree(params["training"]["checkpoints"]["folder"], ignore_errors=True)  # the model is saved: done
    print(f"  {len(history)} epochs; validation {rule['validation_competition_metric']:.3f}", flush=True)
    return model, rule


def mass_inside(contributions: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image and channel, the |φ| mass inside the mask ``(N, C)``: a channel's share of it is
    its column over the row's sum."""
    return (np.abs(contributions) * masks[..., None]).sum(axis=(1, 2))


def pooled_share(rows: pd.DataFrame) -> float:
    """The cue's share of all the |φ| mass inside the masks of ``rows``' images together."""
    return float(rows["cue_mass"].sum() / rows["total_mass"].sum())


def spearman_interval(x: np.ndarray, y: np.ndarray, seed: int, n_boot: int = 2000) -> tuple[float, float, float]:
    """Spearman's ρ of ``x`` and ``y`` with its 95 % bootstrap interval over images."""
    rng = np.random.default_rng(seed)
    boots = [spearmanr(x[s], y[s]).statistic for s in rng.integers(0, len(x), size=(n_boot, len(x)))]
    low, high = np.nanpercentile(boots, [2.5, 97.5])
    return float(spearmanr(x, y).statistic), float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--design", nargs="+", choices=["sole", "mixed"], default=["sole", "mixed"])
    parser.add_argument("--marks", nargs="+", choices=["smooth", "checker"], default=["smooth", "checker"])
    parser.add_argument("--cue", default="energy", help="the channel that carries the mark")
    parser.add_argument("--strength", type=float, default=1.0, help="the mark, in the channel's normalised units (IQR)")
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget of each model")
    parser.add_argument("--images", type=count(2), default=24, help="marked and unmarked salt test images explained")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tgs", type=Path, default=DEFAULT_TGS)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks/results/planted_cue")
    options = parser.parse_args()
    for name in ("minutes", "strength"):
        if getattr(options, name) <= 0:
            parser.error(f"argument --{name}: must be above 0")
    if not (options.tgs / "train.zip").is_file():
        parser.error(f"no train.zip in {options.tgs}: pass --tgs, or set TGS_DATA_DIR")

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(REPO)
    with KedroSession.create(project_path=REPO) as session:
        params = session.load_context().params
    inputs, masks, manifest = labelled_channels(options.tgs, params)
    if options.cue not in inputs.channels:
        parser.error(f"--cue {options.cue}: not one of the model's channels {list(inputs.channels)}")
    cue = inputs.channels.index(options.cue)
    marked = marked_ids(manifest, options.seed)
    unmarked_train = manifest.assign(split=np.where(np.isin(manifest["id"], marked["train"]), "marked",
                                                    manifest["split"]))  # pools for the absent channels
    test = manifest[manifest["split"] == "internal_test"]
    salt = test[test["coverage"] > 0]["id"].to_numpy()
    shown = {"marked": np.intersect1d(salt, marked["internal_test"])[: options.images],
             "unmarked": np.setdiff1d(salt, marked["internal_test"])[: options.images]}
    options.results.mkdir(parents=True, exist_ok=True)
    readings = options.results / "shares.csv"
    done = pd.read_csv(readings) if readings.is_file() else pd.DataFrame(columns=["design", "model", "definition"])
    explain = params["explainability"]
    rows, scores = [], []
    for group, ids in [("marked", marked["internal_test"]), ("unmarked", np.setdiff1d(test["id"], marked["internal_test"]))]:
        truth = masks.select(ids).data
        scores.append({"design": "any", "model": "all empty", "images": group, "inputs": "-",
                       "competition_metric": competition_metric(truth, np.zeros_like(truth, dtype=bool))})
    for design in options.design:
        clean = planted(inputs, masks, manifest, marked, design, "smooth", 0.0, options.cue, options.seed)
        models = {f"control-{s}": (clean, s) for s in (0, 1)}
        models |= {f"cue-{m}": (planted(inputs, masks, manifest, marked, design, m, options.strength, options.cue,
                                        options.seed), 0) for m in options.marks}
        for name, (stack, seed) in models.items():
            model, rule = trained(options.results / f"{design}-{name}.keras", stack, masks, manifest,
                                  params["modelling"], seed, options.minutes)
            for group, ids in [("marked", marked["internal_test"]), ("unmarked", np.setdiff1d(test["id"], marked["internal_test"]))]:
                for inputs_name, x in [("as trained", stack), ("mark removed", clean)]:
                    if inputs_name == "mark removed" and not name.startswith("cue"):
                        continue
                    probabilities = predict_probabilities(model, x.select(ids).data, 64, True)
                    scores.append({"design": design, "model": name, "images": group, "inputs": inputs_name,
                                   "competition_metric": competition_metric(masks.select(ids).data,
                                                                            apply_decision_rule(probabilities, rule))})
            for definition in DEFINITIONS:
                if ((done["design"] == design) & (done["model"] == name) & (done["definition"] == definition)).any():
                    continue
                background, weights = sample_background(stack, list(stack.channels), unmarked_train,
                                                         explain["background"])
                absence = build_absence(definition, stack, list(stack.channels), unmarked_train, background, weights,
                                        explain)
                start = time.perf_counter()
                for group, ids in shown.items():
                    result, _ = explain_stack(stack.select(ids), model, absence, explain)
                    mass = mass_inside(result.contributions, masks.select(ids).data)
                    without = predict_probabilities(model, clean.select(ids).data, 64, False)
                    drop = ((result.predictions - without) * masks.select(ids).data).sum(axis=(1, 2)) / masks.select(
                        ids).data.sum(axis=(1, 2))
                    rows += [{"design": design, "model": name, "definition": definition, "images": group, "id": i,
                              "cue_mass": m[cue], "total_mass": m.sum(), "cue_share": m[cue] / m.sum(),
                              "drop_without_mark": d} for i, m, d in zip(ids, mass, drop)]
                print(f"  {design} {name} {definition}: {time.perf_counter() - start:.0f} s", flush=True)
                pd.DataFrame(rows).to_csv(readings, mode="a", header=not readings.is_file(), index=False)
                rows = []
    report(pd.read_csv(readings), pd.DataFrame(scores), options)


def verdicts(shares: pd.DataFrame, scores: pd.DataFrame, marks: list[str]) -> None:
    """The pre-registered rule (docs/experiments.md) applied to the sole design: whether the design
    holds, then per definition whether the cue gets ≥ 90 % of the mass on marked images with every
    mark and, on unmarked images, differs from the controls' mean by no more than they differ from
    each other and by ≤ 5 points."""
    sole = shares[shares["design"] == "sole"]
    if sole.empty:
        return
    metric = scores.set_index(["design", "model", "inputs", "images"])["competition_metric"]
    empty = metric[("any", "all empty", "-", "marked")]
    near_empty = [metric[("sole", m, i, "marked")] for m, i in
                  [("control-0", "as trained"), ("control-1", "as trained"),
                   *((f"cue-{mark}", "mark removed") for mark in marks)] if ("sole", m, i, "marked") in metric]
    above = [metric[("sole", f"cue-{mark}", "as trained", "marked")] - empty for mark in marks
             if ("sole", f"cue-{mark}", "as trained", "marked") in metric]
    holds = all(abs(v - empty) <= 0.05 for v in near_empty) and above and min(above) >= 0.10
    print(f"\nsole design {'holds' if holds else 'does NOT hold'}: without the mark "
          f"{', '.join(f'{v:.3f}' for v in near_empty)} against all-empty {empty:.3f} (within 0.05 needed); "
          f"A above all-empty by {', '.join(f'{v:.3f}' for v in above)} (≥ 0.10 needed)")
    share = sole.groupby(["definition", "images", "model"]).apply(pooled_share)
    for definition in sole["definition"].unique():
        marked = [share.get((definition, "marked", f"cue-{mark}"), np.nan) for mark in marks]
        controls = [share.get((definition, "unmarked", f"control-{s}"), np.nan) for s in (0, 1)]
        noise = abs(controls[0] - controls[1])
        shifts = [abs(share.get((definition, "unmarked", f"cue-{mark}"), np.nan) - np.mean(controls)) for mark in marks]
        passes = holds and min(marked) >= 0.9 and max(shifts) <= min(noise, 0.05)
        print(f"{definition}: {'PASS' if passes else 'fail'} (marked {', '.join(f'{100 * v:.1f}' for v in marked)} %; "
              f"unmarked shift {', '.join(f'{100 * v:.1f}' for v in shifts)} points against controls "
              f"{100 * noise:.1f} apart)")


def report(shares: pd.DataFrame, scores: pd.DataFrame, options: argparse.Namespace) -> None:
    """Print the validity table, the cue's share per definition and model, and the mixed design's
    Spearman correlations."""
    scores.to_csv(options.results / "scores.csv", index=False)
    print("\nCompetition metric on internal-test images (all-empty prediction for comparison):")
    print(scores.pivot_table(index=["design", "model", "inputs"], columns="images",
                             values="competition_metric").to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"\nCue channel ({options.cue}) share of the |φ| mass inside the masks, %, pooled over "
          f"{options.images} marked and {options.images} unmarked salt images:")
    table = shares.groupby(["design", "definition", "images", "model"]).apply(pooled_share).unstack("model")
    print(table.to_string(float_format=lambda v: f"{100 * v:.1f}"))
    verdicts(shares, scores, options.marks)
    for design, definition in shares[shares["design"] == "mixed"][["design", "definition"]].drop_duplicates().values:
        part = shares[(shares["design"] == design) & (shares["definition"] == definition)]
        for mark in options.marks:
            wide = part.pivot_table(index=["images", "id"], columns="model", values=["cue_share", "drop_without_mark"])
            if ("cue_share", f"cue-{mark}") not in wide:
                continue
            marked = wide.loc["marked"]
            gain = marked[("cue_share", f"cue-{mark}")] - marked["cue_share"][["control-0", "control-1"]].mean(axis=1)
            rho, low, high = spearman_interval(gain.to_numpy(), marked[("drop_without_mark", f"cue-{mark}")].to_numpy(),
                                               options.seed)
            print(f"mixed, {definition}, {mark}: Spearman(share gain, drop without mark) = {rho:.2f} "
                  f"({low:.2f} to {high:.2f}), {len(gain)} images")


if __name__ == "__main__":
    main()
