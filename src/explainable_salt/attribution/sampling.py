"""The sampling error of channel Shapley values whose game averages over ``K`` references that
stand for a distribution: a random draw of train images (the ``background`` definition with
``method: random``) or the ``K`` nearest neighbours of the ``conditional`` one.

The game's value of a coalition is an expectation, estimated from ``K`` references. The Shapley
value is linear in the game, so the estimate is the mean of ``K`` per-reference Shapley values
``φ^(k)`` (the game played against reference ``k`` alone), and both the sampling error and a
redraw of the background follow from those, with no extra forward pass:

- :func:`standard_error`: the per-pixel standard error ``s / √K`` of that mean (the bootstrap
  standard error over the references, in closed form, with ``K − 1``);
- :func:`significant`: whether a pixel's ``φ_c`` is distinguishable from 0, ``|φ_c| > t × SE``
  with Student's ``t`` of ``K − 1`` degrees of freedom (:func:`t_quantile`: 2.36 at ``K = 8``),
  and :func:`significance_table`, the share of salt pixels where it is;
- :func:`bootstrap_weights` and :func:`resampled_importance`: the explanations under bootstrap
  redraws of the ``K`` images, reduced to each image's mean ``|φ|`` per channel, from which the
  run says how far global shares and per-image rankings move with the background sample.

Games without references of that kind (``baseline``, ``blur``, a k-means background) are exact:
:data:`NO_ERROR` is what every page says of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from explainable_salt.attribution.inputs import require_count
from explainable_salt.attribution.sensitivity import kendall_tau_per_image


def standard_error(per_reference: np.ndarray) -> np.ndarray:
    """Per-pixel standard error ``(N, H, W, C)`` of the mean over the ``K`` per-reference values
    ``per_reference`` ``(N, K, H, W, C)`` of equally weighted, independently drawn images."""
    k = per_reference.shape[1]
    require_count(k, 2, "per_reference", "background images", "explainability.background.size")
    return (per_reference.std(axis=1, ddof=1, dtype=np.float64) / np.sqrt(k)).astype(np.float32)


LEVEL = 0.95  # two-sided: a pixel's interval is φ ± t × SE
NO_ERROR = "exact in this game: no sampling error"


def t_quantile(k: int, level: float = LEVEL) -> float:
    """Student's ``t`` quantile of a two-sided ``level`` interval from ``k`` references: ``K − 1``
    degrees of freedom (2.36 at ``k = 8``, 12.7 at ``k = 2``). Fewer than 2 raises ``ValueError``."""
    require_count(k, 2, "k", "references", "explainability.background.size")
    return float(stats.t.ppf(0.5 + level / 2, k - 1))


def significant(contributions: np.ndarray, standard_errors: np.ndarray, k: int) -> np.ndarray:
    """Whether each ``φ`` of ``contributions`` is distinguishable from 0 given its standard error
    ``standard_errors`` (same shape, e.g. ``(N, H, W, C)``) from ``k`` references: ``|φ| > t × SE``
    (:func:`t_quantile`), strictly, so a value on the threshold is not; bool, same shape."""
    return np.abs(np.asarray(contributions, dtype=np.float64)) > t_quantile(k) * np.asarray(standard_errors, np.float64)


def freedom(k: int) -> str:
    """``"7 degrees of freedom"``: those of a standard error from ``k`` references."""
    return f"{k - 1} degree{'s' if k != 2 else ''} of freedom"


def insignificance_rule(k: int) -> str:
    """What a marked (greyed) pixel means, with the ``t`` of ``k`` references."""
    return (f"not distinguishable from 0: |φ| ≤ t × SE, t = {t_quantile(k):.2f} (Student's t, {freedom(k)}, "
            f"two-sided {100 * LEVEL:.0f} %)")


def error_note(definition: str, k: int, has_error: bool, exact: bool = True) -> str:
    """What a page says of a game's sampling error: the standard error from ``k`` references, or
    why there is none (:data:`NO_ERROR` for a deterministic game)."""
    if has_error:
        references = "background images drawn" if definition == "background" else "neighbours"
        return f"standard error s/√K from K = {k} {references}; t = {t_quantile(k):.2f} ({freedom(k)})"
    if not exact:
        return "sampled permutations: sampling error not estimated"
    if definition == "conditional":
        return "one neighbour per coalition: no spread to estimate a sampling error from"
    return NO_ERROR


def amortized_note(n_validation: int, relative_error: float, relative_error_high: float) -> str:
    """What a page says of values made by the amortized explainer: its error measured on
    ``n_validation`` images, and what the ± shown is."""
    return (f"amortized explainer: root-mean-square error {100 * relative_error:.0f} % of mean |φ| "
            f"(95 % interval up to {100 * relative_error_high:.0f} %), measured on {n_validation} validation images "
            f"against two independent background draws; ± shows each channel's upper end, t = "
            f"{t_quantile(n_validation):.2f} ({freedom(n_validation)})")


def significance_table(
    definition: str, contributions: np.ndarray, standard_errors: np.ndarray | None, k: int, salt: np.ndarray,
    channels: tuple[str, ...], note: str | None = None,
) -> pd.DataFrame:
    """One row per channel of one game: the ``share`` of salt pixels (``salt`` ``(N, H, W)`` bool)
    whose ``φ`` (``contributions`` ``(N, H, W, C)``) is distinguishable from 0 (:func:`significant`
    with ``standard_errors`` ``(N, H, W, C)`` from ``k`` references), ``n_salt_pixels``,
    ``n_references``, ``t_quantile`` and ``sampling_error``: ``note``, by default the game's
    :func:`error_note`. A game without standard errors (``None``) gets no share (NaN), as does no
    salt pixel."""
    salt = np.asarray(salt, dtype=bool)
    n_salt = int(salt.sum())
    share = np.full(len(channels), np.nan)
    t = np.nan
    if standard_errors is not None:
        t = t_quantile(k)
        if n_salt:
            share = significant(contributions[salt], standard_errors[salt], k).mean(axis=0)
    if note is None:
        note = error_note(definition, k, standard_errors is not None)
    return pd.DataFrame({"definition": definition, "channel": list(channels), "share": share,
                         "n_salt_pixels": n_salt, "n_references": k, "t_quantile": t, "sampling_error": note})


def bootstrap_weights(k: int, n_resamples: int, seed: int) -> np.ndarray:
    """``(n_resamples, k)`` weights of bootstrap redraws of ``k`` images (counts of a draw with
    replacement, divided by ``k``); the same seed gives the same redraws in every image chunk.
    No redraw gives ``(0, k)``; no image raises ``ValueError``."""
    require_count(k, 1, "k", "background images", "explainability.background.size")
    require_count(n_resamples, 0, "n_resamples", "redraws", "explainability.sampling_error.n_resamples")
    rng = np.random.default_rng(seed)
    return rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples) / k


def resampled_importance(per_reference: np.ndarray, fixed: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """Mean ``|φ|`` per image and channel ``(B, N, C)`` under each redraw: ``φ* = fixed +
    Σ_k w*_k φ^(k)`` for ``per_reference`` ``(N, K, H, W, C)``, the part that does not depend on
    the background ``fixed`` ``(N, H, W, C)`` and redraw weights ``resamples`` ``(B, K)``."""
    n = len(per_reference)
    out = np.empty((len(resamples), n, per_reference.shape[-1]))
    for b in range(0, len(resamples), 16):  # 16 redraws at a time: memory stays at 16 × the chunk
        phi = fixed[None] + np.einsum("bk,nkhwc->bnhwc", resamples[b : b + 16], per_reference, optimize=True)
        out[b : b + 16] = np.abs(phi).mean(axis=(2, 3))
    return out


def sampling_table(
    contributions: np.ndarray, standard_errors: np.ndarray, redrawn: np.ndarray, channels: tuple[str, ...]
) -> pd.DataFrame:
    """One row per channel: its share of the mean ``|φ|`` and the 2.5–97.5 % range of that share
    over the background redraws ``redrawn`` ``(B, N, C)``, the mean per-pixel standard error
    ``standard_errors`` ``(N, H, W, C)`` and its ratio to the mean ``|φ|`` of ``contributions``
    ``(N, H, W, C)``, how often the global ranking is unchanged by a redraw, and the Kendall τ of
    per-image rankings between each redraw and the estimate (mean with 2.5–97.5 % range). The
    redraw-wide columns (``ranking_unchanged``, ``first_unchanged``: how often the first channel
    stays first, ``kendall_tau``…) repeat on every row. No image or no redraw raises ``ValueError``."""
    require_count(len(contributions), 1, "contributions", "images")
    require_count(len(redrawn), 1, "redrawn", "background redraws", "explainability.sampling_error.n_resamples")
    image_abs = np.abs(contributions).mean(axis=(1, 2), dtype=np.float64)  # (N, C)
    share = image_abs.sum(axis=0) / image_abs.sum()
    redrawn_share = redrawn.sum(axis=1) / redrawn.sum(axis=(1, 2))[:, None]  # (B, C)
    order = np.argsort(-redrawn_share, axis=1)
    same_order = (order == np.argsort(-share)[None]).all(axis=1)
    tau = np.array([np.nanmean(kendall_tau_per_image(image_abs, r)) for r in redrawn])
    mean_error = standard_errors.mean(axis=(0, 1, 2), dtype=np.float64)
    return pd.DataFrame({
        "channel": list(channels), "share_of_abs": share,
        "share_low": np.percentile(redrawn_share, 2.5, axis=0), "share_high": np.percentile(redrawn_share, 97.5, axis=0),
        "mean_abs": image_abs.mean(axis=0), "mean_standard_error": mean_error,
        "relative_standard_error": mean_error / image_abs.mean(axis=0),
        "n_redraws": len(redrawn),
        "ranking_unchanged": same_order.mean(), "first_unchanged": (order[:, 0] == np.argmax(share)).mean(),
        "kendall_tau": tau.mean(), "kendall_tau_low": np.percentile(tau, 2.5), "kendall_tau_high": np.percentile(tau, 97.5),
    })


SAMPLING_COLUMNS = ["channel", "share_of_abs", "share_low", "share_high", "mean_abs", "mean_standard_error",
                    "relative_standard_error", "n_redraws", "ranking_unchanged", "first_unchanged", "kendall_tau",
                    "kendall_tau_low", "kendall_tau_high"]


def no_sampling_table() -> pd.DataFrame:
    """:func:`sampling_table`'s columns and no row: a game with no background redraws (a CSV of
    it reads back, where a frame of no columns would not)."""
    return pd.DataFrame({c: pd.Series(dtype=object if c == "channel" else float) for c in SAMPLING_COLUMNS})


def sampling_sentence(table: pd.DataFrame, n_background: int, min_unchanged: float = 0.95) -> str:
    """A plain-language sentence from :func:`sampling_table`: how noisy one pixel's contribution
    is, and whether the channel ranking holds whatever background images are drawn (the global
    order unchanged in at least ``min_unchanged`` of the redraws). An empty table raises ``ValueError``."""
    require_count(len(table), 1, "table", "rows")
    first = table.iloc[0]
    relative = (table["mean_standard_error"].sum() / table["mean_abs"].sum())
    order = " > ".join(table.sort_values("share_of_abs", ascending=False)["channel"])
    moves = 100 * np.maximum(table["share_high"] - table["share_of_abs"], table["share_of_abs"] - table["share_low"]).max()
    ordered = table.sort_values("share_of_abs", ascending=False)["channel"].tolist()
    if first["ranking_unchanged"] >= min_unchanged:
        verdict = f"the channel ranking ({order}) holds whatever background images are drawn"
    elif first["first_unchanged"] >= min_unchanged:
        verdict = (f"{ordered[0]} stays first whatever background images are drawn (in "
                   f"{100 * first['first_unchanged']:.0f} % of the redraws), but the order of the others "
                   f"({' > '.join(ordered[1:])}) depends on the draw")
    else:
        verdict = f"the channel ranking ({order}) depends on which background images are drawn"
    return (
        f"Per pixel, the standard error of a contribution from drawing {n_background} background images is "
        f"{100 * relative:.0f} % of the mean |φ|, so single-pixel values are rough estimates. Over "
        f"{int(first['n_redraws'])} redraws of those images, each channel's share of the mean |φ| moves by at most "
        f"{moves:.1f} points (95 % range), the global order is unchanged in {100 * first['ranking_unchanged']:.0f} % "
        f"of them and the per-image ranking keeps a Kendall τ of {first['kendall_tau']:.2f} "
        f"[{first['kendall_tau_low']:.2f}, {first['kendall_tau_high']:.2f}]: {verdict}."
    )
