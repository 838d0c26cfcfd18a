"""How much the explanations depend on what "absent" means: the same images explained under
several absence definitions (:mod:`explainable_salt.attribution.absence`), compared.

For each definition: the global importance of each channel (mean |φ| per image, with a bootstrap
interval over images, and its share). Against the primary definition: the Kendall τ_b of each
image's channel ranking (by mean |φ| over the image) and the Pearson correlation of each image's
φ maps (all pixels and channels), each averaged over images with a bootstrap interval.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from explainable_salt.attribution.importance import per_image_means
from explainable_salt.attribution.inputs import require_count
from explainable_salt.tgs.metrics import bootstrap_mean


def kendall_tau_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall τ_b between the rows of ``a`` and ``b`` ``(N, C)``: ``(N,)``, NaN where a row is
    all ties."""
    i, j = np.array(list(combinations(range(a.shape[1]), 2))).T
    da, db = np.sign(a[:, i] - a[:, j]), np.sign(b[:, i] - b[:, j])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (da * db).sum(axis=1) / np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))


def map_correlation_per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each image's φ maps ``(N, H, W, C)`` over all its pixels and
    channels: ``(N,)``, NaN where a map is constant."""
    x = a.reshape(len(a), int(np.prod(a.shape[1:]))).astype(np.float64)
    y = b.reshape(len(b), int(np.prod(b.shape[1:]))).astype(np.float64)
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(axis=1) / np.sqrt((x**2).sum(axis=1) * (y**2).sum(axis=1))


def _interval(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    mean, low, high, _ = bootstrap_mean(values[:, None], n_boot, seed)
    return float(mean[0]), float(low[0]), float(high[0])


def sensitivity_table(
    contributions: dict[str, np.ndarray], channels: tuple[str, ...], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """One row per (definition, channel), definitions in the order of ``contributions`` (name →
    ``(N, H, W, C)``, the same images; the first is primary): ``mean_abs`` with its interval,
    ``share_of_abs``, ``rank`` (1 = largest mean |φ|), and, for the definition, ``kendall_tau`` and
    ``map_correlation`` against the primary with their intervals (1 for the primary itself).
    No image gives the rows with ``n_images`` 0 and NaN statistics; no definition, or ``n_boot``
    below 1, raises ``ValueError``."""
    require_count(len(contributions), 1, "contributions", "absence definitions", "explainability.absence")
    require_count(n_boot, 1, "n_boot", "bootstrap resamples", "explainability.analysis.n_bootstrap")
    primary = next(iter(contributions.values()))
    everything = np.ones(primary.shape[:3], dtype=bool)
    primary_abs, _ = per_image_means(primary, everything)
    rows = []
    for definition, phi in contributions.items():
        mean_abs, _ = per_image_means(phi, everything)
        a, lo, hi, n = bootstrap_mean(mean_abs, n_boot, seed)
        tau = _interval(kendall_tau_per_image(primary_abs, mean_abs), n_boot, seed)
        corr = _interval(map_correlation_per_image(primary, phi), n_boot, seed)
        rank = (-a).argsort().argsort() + 1
        for c, channel in enumerate(channels):
            rows.append({
                "definition": definition, "channel": channel, "n_images": n,
                "mean_abs": a[c], "mean_abs_low": lo[c], "mean_abs_high": hi[c],
                "share_of_abs": a[c] / a.sum(), "rank": int(rank[c]),
                "kendall_tau": tau[0], "kendall_tau_low": tau[1], "kendall_tau_high": tau[2],
                "map_correlation": corr[0], "map_correlation_low": corr[1], "map_correlation_high": corr[2],
            })
    return pd.DataFrame(rows)


def ranking_sentence(table: pd.DataFrame) -> str:
    """A plain-language sentence, from the numbers of :func:`sensitivity_table`, saying whether
    the global channel ranking holds whatever "absent" means. An empty table raises ``ValueError``."""
    require_count(len(table), 1, "table", "rows")
    definitions = list(dict.fromkeys(table["definition"]))
    orders = {
        d: table[table["definition"] == d].sort_values("rank")["channel"].tolist() for d in definitions
    }
    primary = definitions[0]
    if len(definitions) == 1:
        return f"Only one definition of an absent channel ({primary}) was run: there is nothing to compare."
    tau = table.drop_duplicates("definition").set_index("definition")
    others = definitions[1:]
    agreement = ", ".join(
        f"{d} {tau.loc[d, 'kendall_tau']:.2f} [{tau.loc[d, 'kendall_tau_low']:.2f}, {tau.loc[d, 'kendall_tau_high']:.2f}]"
        for d in others
    )
    shares = table.pivot(index="channel", columns="definition", values="share_of_abs")
    top = orders[primary][0]
    top_range = f"{100 * shares.loc[top].min():.0f}–{100 * shares.loc[top].max():.0f} %"
    if all(orders[d] == orders[primary] for d in others):
        verdict = (f"The channel ranking holds whatever \"absent\" means: {' > '.join(orders[primary])} "
                   f"under all {len(definitions)} definitions ({', '.join(definitions)}).")
    elif all(orders[d][0] == top for d in others):
        moved = "; ".join(f"{d}: {' > '.join(orders[d])}" for d in others if orders[d] != orders[primary])
        verdict = (f"{top} stays first under every definition ({top_range} of the mean |φ|), but the rest "
                   f"of the ranking depends on what \"absent\" means ({primary}: {' > '.join(orders[primary])}; {moved}).")
    else:
        firsts = ", ".join(f"{orders[d][0]} under {d}" for d in definitions)
        verdict = f"The channel ranking depends on what \"absent\" means: the first channel is {firsts}."
    return f"{verdict} Per-image Kendall τ of the channel ranking against {primary}: {agreement}."
