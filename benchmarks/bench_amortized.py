"""The amortized explainer against Monte Carlo estimates of the ``background`` game, at their cost.

    .venv/bin/python benchmarks/bench_amortized.py [--data data] [--pool 1024] [--k 8]
        [--label-images 1024] [--validation-images 128] [--test-images 24] [--epochs 30]
        [--backend tensorflow] [--cache benchmarks/results/amortized]
        [--explainer data/06_models/amortized_explainer.keras]

On a finished run's data (the trained model, ``model_inputs``, the manifest) and a seeded pool of
``--pool`` train images:

1. **labels**: exact K = ``--k`` values of ``--label-images`` train images outside the pool (and
   of ``--validation-images`` validation images), each against its own independent draw of K
   pool images (:func:`~explainable_salt.attribution.amortized.independent_draw_labels`), made in
   chunks cached under ``--cache`` (rerun the same command to resume);
2. **reference**: ``--test-images`` internal-test images explained against every pool image
   (K = ``--pool``), one image at a time and cached: the exact values of the game against the
   pool, the estimand of every estimator here. Beside the squared error, the reference's own
   ``s² / K`` (per-pixel spread of the per-reference values) says how far the pool itself sits
   from the game against all train images;
3. **Monte Carlo**: K = 8, 32, 64 random draws from the pool, scored on the same per-reference
   values (``--draws`` draws each), images/s scaled by passes from the engine's measured K = 8 rate;
4. **amortized**: the explainer (:mod:`explainable_salt.attribution.amortized`) trained for
   ``--epochs`` on the labels, its images/s measured (model forward pass + explainer).

With ``--explainer`` (the pipeline's ``data/06_models/amortized_explainer.keras``), the labels and
the training are skipped: that explainer is scored as trained, against the exact values of the pool it was
trained on (``--pool`` and ``--seed`` default to ``explainability.amortized``'s ``pool`` and
``seed`` in ``conf/base``; the pool is refused unless its mean output is the explainer's ``v(∅)``),
so the reference is its estimand itself, with no sampling error of its own.

Prints one table: per-pixel error ``mean |φ̂ − φ_ref| / mean |φ_ref|``, the squared error, the
same less the reference's ``s² / K``, images/s, the largest change of a channel's global share of
mean |φ|, the mean Kendall τ of the per-image channel rankings, and the cost of labels and
training; plus the worst additivity error of the amortized values.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
import yaml
from _options import count
from _sampling_frontier import load_run, per_reference_values
from tqdm.auto import tqdm

import explainable_salt  # noqa: F401  before keras: sets TensorFlow's CPU options
from explainable_salt.attribution.amortized import (
    amortized_shapley,
    build_explainer,
    explainer_expected_value,
    fit_explainer,
    independent_draw_labels,
)
from explainable_salt.attribution.background import train_pool
from explainable_salt.attribution.sensitivity import kendall_tau_per_image
from explainable_salt.attribution.shapley import shapley_weight_matrix
from explainable_salt.datasets import ImageStackDataset
from explainable_salt.segmentation.forward import BACKENDS, forward_pass
from explainable_salt.tgs.splits import split_ids

REPO = Path(__file__).resolve().parents[1]
MONTE_CARLO_K = (8, 32, 64)


def cached_labels(predict, images, pool, k, seed, cache: Path, chunk: int = 64) -> tuple[np.ndarray, float]:
    """Labels ``(N, H, W, C)`` float32 chunk by chunk, each chunk cached in ``cache``; the seconds
    spent now (0 when every chunk was cached)."""
    cache.mkdir(parents=True, exist_ok=True)
    out, seconds = np.empty(images.shape, np.float32), 0.0
    for first in tqdm(range(0, len(images), chunk), desc=f"labels {cache.name}", unit="chunk"):
        path = cache / f"{first:06d}.npy"
        if not path.is_file():
            start = time.perf_counter()
            labels = independent_draw_labels(predict, images[first : first + chunk], pool, k, seed,
                                             first_row=first).contributions
            seconds += time.perf_counter() - start
            np.save(path.with_suffix(".tmp.npy"), labels)
            path.with_suffix(".tmp.npy").rename(path)
        out[first : first + chunk] = np.load(path)
    return out, seconds


def reference_values(predict, image, pool, pool_outputs, draws, rng) -> dict[str, np.ndarray]:
    """The exact values of ``image`` against the whole pool, the per-pixel variance of its
    per-reference values, and Monte Carlo estimates from ``draws`` random K-subsets."""
    weights = shapley_weight_matrix(image.shape[-1])
    partial = per_reference_values(predict, image[None], pool)[0]  # (K, H, W, C), without v(∅) and v(C)
    prediction = predict(image[None])[0].astype(np.float64)
    per_reference = partial + np.einsum("c,khw->khwc", weights[:, 0], pool_outputs) + np.einsum(
        "c,hw->hwc", weights[:, -1], prediction)[None]
    result = {"phi": per_reference.mean(axis=0).astype(np.float32),
              "variance": per_reference.var(axis=0, ddof=1).astype(np.float32)}
    for k in MONTE_CARLO_K:
        estimates = np.stack([per_reference[rng.choice(len(pool), k, replace=False)].mean(axis=0) for _ in range(draws)])
        result[f"mc{k}"] = estimates.astype(np.float32)  # (draws, H, W, C)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--pool", type=count(2), default=None,
                        help="1024; with --explainer, explainability.amortized.pool of conf/base")
    parser.add_argument("--k", type=count(1), default=8, help="background images per label")
    parser.add_argument("--label-images", type=count(1), default=1024)
    parser.add_argument("--validation-images", type=count(1), default=128)
    parser.add_argument("--test-images", type=count(1), default=24)
    parser.add_argument("--draws", type=count(2), default=20, help="Monte Carlo draws per K")
    parser.add_argument("--epochs", type=count(1), default=30)
    parser.add_argument("--depth", type=count(1), default=3)
    parser.add_argument("--filters", type=count(1), default=16)
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow")
    parser.add_argument("--seed", type=int, default=None,
                        help="0; with --explainer, explainability.amortized.seed of conf/base")
    parser.add_argument("--cache", type=Path, default=REPO / "benchmarks/results/amortized")
    parser.add_argument("--explainer", type=Path, default=None,
                        help="score this trained explainer against its own pool's exact values (no labels, no training)")
    args = parser.parse_args()
    configured = yaml.safe_load((REPO / "conf/base/parameters_explainability.yml").read_text())["explainability"]
    if args.pool is None:
        args.pool = configured["amortized"]["pool"] if args.explainer else 1024
    if args.seed is None:
        args.seed = configured["amortized"]["seed"] if args.explainer else 0
    if args.explainer and not args.explainer.is_file():
        parser.error(f"--explainer {args.explainer}: no such file")
    model_path = args.data / "06_models/salt_model.keras"
    if not model_path.is_file():
        parser.error(f"no trained model in {args.data}/06_models: run the project first")

    import explainable_salt.segmentation.models  # noqa: F401  registers the zoo's layers

    model = keras.models.load_model(model_path, compile=False)
    channels = json.loads((args.data / "06_models/salt_model_channels.json").read_text())
    ids, stack, manifest, index = load_run(args.data, channels)
    position = {i: k for k, i in enumerate(ids)}

    def take(chosen) -> np.ndarray:
        return np.asarray(stack[[position[i] for i in chosen]])[..., index].astype(np.float32)

    predict = forward_pass(model, 256, args.backend)
    rng = np.random.default_rng(args.seed)
    train_ids = np.sort(split_ids(manifest, "train"))
    pool_ids = np.sort(rng.choice(train_ids, size=min(args.pool, len(train_ids) - 1), replace=False))
    others = rng.permutation(np.setdiff1d(train_ids, pool_ids))
    label_ids = others[: args.label_images]
    validation_ids = split_ids(manifest, "validation")[: args.validation_images]
    test_ids = split_ids(manifest, "internal_test")
    test_ids = test_ids[:: max(1, len(test_ids) // args.test_images)][: args.test_images]
    pool, x_train, x_val, x_test = take(pool_ids), take(label_ids), take(validation_ids), take(test_ids)
    cache = args.cache / f"pool{len(pool)}_k{args.k}_seed{args.seed}_{args.backend}"
    if args.explainer:  # the pipeline's pool (explain_channels' own draw), the trained explainer's estimand
        explainer = keras.models.load_model(args.explainer, compile=False)
        model_inputs = ImageStackDataset(str(args.data / "05_model_input/model_inputs"), mmap=True).load()
        pool = train_pool(model_inputs, split_ids(manifest, "train"), channels, args.pool, args.seed).astype(np.float32)
        cache = args.cache / f"explainer_pool{len(pool)}_seed{args.seed}_{args.backend}"
    trained = f"explainer {args.explainer}" if args.explainer else f"{len(x_train)} label images, {len(x_val)} validation"
    print(f"{len(pool)} pool images, {trained}, {len(x_test)} test; K = {args.k}; forward passes on {args.backend}; "
          f"cache {cache}")

    pool_outputs = predict(pool).astype(np.float64)
    expected = pool_outputs.mean(axis=0).astype(np.float32)
    if args.explainer:
        gap = float(np.abs(expected - explainer_expected_value(explainer)).max())
        if gap > 1e-4:
            parser.error(f"--explainer {args.explainer}: its v(∅) is {gap:.2g} off this pool's mean output: pass "
                         "the --pool and --seed it was trained with (its run's explainability.amortized)")
    if not args.explainer:  # labels to train one on
        labels, label_seconds = cached_labels(predict, x_train, pool, args.k, args.seed, cache / f"labels{len(x_train)}")
        val_labels, _ = cached_labels(predict, x_val, pool, args.k, args.seed + 1,
                                      cache / f"validation_labels{len(x_val)}")

    start = time.perf_counter()
    engine = independent_draw_labels(predict, x_test, pool, args.k, args.seed + 2)
    engine_rate = len(x_test) / (time.perf_counter() - start)
    if not args.explainer:  # labels are the engine's work: timed when made now, else at the engine's rate just measured
        label_rate, timed = (len(x_train) / label_seconds, "timed") if label_seconds else (engine_rate, "engine's rate")

    refs = []
    for n in tqdm(range(len(x_test)), desc="reference (whole pool)", unit="image"):
        path = cache / f"reference{len(x_test)}_draws{args.draws}" / f"{n:04d}.npz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            values = reference_values(predict, x_test[n], pool, pool_outputs, args.draws,
                                      np.random.default_rng([args.seed, n]))
            np.savez(path.with_suffix(".tmp.npz"), **values)
            path.with_suffix(".tmp.npz").rename(path)
        refs.append(dict(np.load(path)))
    phi_ref = np.stack([r["phi"] for r in refs]).astype(np.float64)
    ref_noise = np.stack([r["variance"] for r in refs]).mean() / len(pool)  # the reference's own s² / K
    scale = np.abs(phi_ref).mean()
    image_ref = np.abs(phi_ref).mean(axis=(1, 2))
    share_ref = image_ref.sum(axis=0) / image_ref.sum()

    def scores(phi: np.ndarray) -> dict[str, float]:
        image_abs = np.abs(phi).mean(axis=(1, 2))
        shares = image_abs.sum(axis=0) / image_abs.sum()
        squared = float(((phi - phi_ref) ** 2).mean())
        return {"error": float(np.abs(phi - phi_ref).mean() / scale), "squared": squared,
                "corrected": squared - ref_noise, "share": float(np.abs(shares - share_ref).max()),
                "tau": float(np.nanmean(kendall_tau_per_image(image_ref, image_abs)))}

    def passes(k: int) -> int:
        return (2 ** len(channels) - 2) * k + 1

    rows = []
    for k in MONTE_CARLO_K:
        per_draw = [scores(np.stack([r[f"mc{k}"][d] for r in refs]).astype(np.float64)) for d in range(args.draws)]
        mean = {key: float(np.mean([s[key] for s in per_draw])) for key in per_draw[0]}
        rows.append((f"Monte Carlo, K = {k}", mean, engine_rate * passes(args.k) / passes(k), "none"))
    engine_scores = scores(engine.contributions.astype(np.float64))

    if args.explainer:
        history = {}
    else:
        explainer = build_explainer(len(channels), expected, args.depth, args.filters, seed=args.seed)
        start = time.perf_counter()
        history = fit_explainer(explainer, x_train, predict(x_train), labels, (x_val, predict(x_val), val_labels),
                                epochs=args.epochs, seed=args.seed)
        train_seconds = time.perf_counter() - start
        explainer.save(cache / "explainer.keras")
    amortized_shapley(explainer, predict, x_test[:4])  # warm-up
    timing = np.concatenate([x_test] * max(1, 256 // len(x_test)))
    start = time.perf_counter()
    amortized_shapley(explainer, predict, timing)
    amortized_rate = len(timing) / (time.perf_counter() - start)
    amortized = amortized_shapley(explainer, predict, x_test)
    if args.explainer:
        cost, name = f"as trained: {args.explainer}", "amortized (the pipeline's)"
    else:
        cost = (f"labels {len(x_train)} images at {label_rate:.2f} images/s ({timed}): "
                f"{len(x_train) / label_rate / 60:.0f} min; training {train_seconds / 60:.0f} min")
        name = f"amortized, labels K = {args.k}"
    rows.append((name, scores(amortized.contributions.astype(np.float64)), amortized_rate, cost))

    print(f"\nreference: K = {len(pool)} (the whole pool), mean |φ_ref| = {scale:.4f}; its own s²/K = {ref_noise:.2e}; "
          f"the engine's K = {args.k} with a draw per image: error {100 * engine_scores['error']:.1f} % "
          f"at {engine_rate:.2f} images/s (measured)")
    print("| estimator | per-pixel error | mean (φ̂ − φ_ref)² | less the reference's s²/K | images/s "
          "| largest channel-share change | Kendall τ per image | labels and training |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, s, rate, cost in rows:
        print(f"| {name} | {100 * s['error']:.1f} % | {s['squared']:.2e} | {s['corrected']:.2e} | {rate:.2f} "
              f"| {s['share']:.3f} | {s['tau']:.2f} | {cost} |")
    print(f"amortized: worst additivity error {amortized.max_additivity_error:.1e}"
          + (f"; best validation loss {min(history['val_loss']):.2e} (epoch {int(np.argmin(history['val_loss'])) + 1})"
             if history.get("val_loss") else ""))


if __name__ == "__main__":
    main()
