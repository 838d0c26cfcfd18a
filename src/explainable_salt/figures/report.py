"""The run's self-contained HTML report: figures embedded as PNG data, no network needed."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime

import pandas as pd
from matplotlib.figure import Figure

from explainable_salt.attribution import sampling


def figure_as_data_uri(fig: Figure, dpi: int = 100) -> str:
    """A ``data:image/png;base64,…`` URI of ``fig``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def importance_reading(table: pd.DataFrame, deletion: dict, randomisation: dict) -> str:
    """One plain-language paragraph read off the global importance, deletion and sanity numbers."""
    overall = table[table["group"] == "all"].sort_values("mean_abs", ascending=False)
    if overall.empty:
        return "No explanations were computed in this run."
    n_images = int(overall["n_images"].iloc[0])
    top = overall.iloc[0]
    ranking = ", ".join(f"{r.channel} ({100 * r.share_of_abs:.0f} %)" for r in overall.itertuples())
    sentences = [
        f"Over {n_images} explained internal-test images, {top.channel} moves the predicted salt "
        f"probability the most: on average {top.mean_abs:.3f} per pixel (95 % interval "
        f"{top.mean_abs_low:.3f}–{top.mean_abs_high:.3f}), {100 * top.share_of_abs:.0f} % of all "
        f"attribution. Ranking by share of mean |φ|: {ranking}."
    ]
    salt = table[table["group"] == "salt (truth)"].sort_values("mean_signed", ascending=False)
    sediment = table[table["group"] == "sediment (truth)"].sort_values("mean_signed")
    if not salt.empty and not sediment.empty and salt["n_images"].iloc[0] > 0:
        sentences.append(
            f"Inside true salt, {salt.iloc[0].channel} pushes the probability up most "
            f"(mean φ {salt.iloc[0].mean_signed:+.3f}); in sediment, {sediment.iloc[0].channel} pushes "
            f"it down most (mean φ {sediment.iloc[0].mean_signed:+.3f})."
        )
    boundary = table[table["group"] == "boundary (truth)"].sort_values("mean_abs", ascending=False)
    if not boundary.empty and boundary["n_images"].iloc[0] > 0:
        sentences.append(f"At salt boundaries, {boundary.iloc[0].channel} matters most.")
    if deletion:
        by_importance = deletion.get("deletion.importance.mean_metric")
        by_random = deletion.get("deletion.random.mean_metric")
        if by_importance is not None and by_random is not None:
            verdict = "lower" if by_importance < by_random else "not lower"
            sentences.append(
                f"Replacing channels by background in importance order leaves a mean competition "
                f"metric of {by_importance:.3f} along the deletion curve, {verdict} than random order "
                f"({by_random:.3f}), so the ranking is {'faithful' if by_importance < by_random else 'not confirmed'} "
                "by this check."
            )
    rho = randomisation.get("sanity.randomised_model_spearman") if randomisation else None
    if rho is not None:
        sentences.append(
            f"Explanations of a model with random weights correlate with these at Spearman ρ = {rho:.2f} "
            f"({'they depend on what the model learned' if rho < 0.5 else 'a warning sign: they barely depend on the weights'})."
        )
    return " ".join(sentences)


ADD_DEFINITIONS = (
    "To compare, list more definitions in explainability.absence (conf/base/parameters_explainability.yml), "
    "for instance [background, baseline, blur, conditional] as conf/quick does, and run the explainability "
    "and reporting pipelines again."
)

# What each figure shows and how to read it, under its heading in the report.
CAPTIONS = {
    "absence_sensitivity": (
        "Left: each channel's share of the mean |φ| under each definition of an absent channel (error bars: "
        "95 % bootstrap interval over images). Right: per-image agreement with the primary definition, the "
        "Kendall τ of the channel ranking and the correlation of the φ maps (1: the same; 0: unrelated)."
    ),
    "interaction_matrix": (
        "Each pair's Shapley interaction index, averaged over pixels and images (95 % interval in the cell). "
        "Positive (red): synergy, the pair moves the probability more together than apart. Negative (blue): "
        "redundancy, the two channels carry the same information for the model. It is not part of the sum "
        "expected value + Σφ."
    ),
    "standard_error_maps": (
        "The per-pixel standard error of each channel's φ in the primary game, from its K references (the "
        "background images drawn, or the conditional neighbours: the spread of the K single-reference games over "
        "√K): first averaged over every explained image, then for the showcase images (white: predicted salt "
        "outline). Where it is as large as |φ| itself, that pixel's value is a rough estimate; global shares and "
        "rankings average it away (see the section on the background images)."
    ),
    "interaction_maps": (
        "Where each pair interacts in the showcase images (black: predicted salt outline), on one scale; "
        "red synergy, blue redundancy."
    ),
}


def sensitivity_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per absence definition: the channel ranking, each channel's share of mean |φ|,
    and the Kendall τ and φ-map correlation against the primary with their 95 % intervals."""
    rows = []
    for definition, part in table.groupby("definition", sort=False):
        first = part.iloc[0]
        rows.append({
            "definition": definition,
            "ranking": " > ".join(part.sort_values("rank")["channel"]),
            **{f"share {r.channel}": f"{100 * r.share_of_abs:.0f} %" for r in part.itertuples()},
            "Kendall τ": f"{first.kendall_tau:.2f} [{first.kendall_tau_low:.2f}, {first.kendall_tau_high:.2f}]",
            "φ-map correlation": (f"{first.map_correlation:.2f} [{first.map_correlation_low:.2f}, "
                                  f"{first.map_correlation_high:.2f}]"),
        })
    return pd.DataFrame(rows)


def sensitivity_reading(table: pd.DataFrame, sentence: str) -> str:
    """The generated sentence, what the comparison means, and how to add definitions when only
    one was run."""
    definitions = list(dict.fromkeys(table["definition"]))
    what = (
        "A channel's Shapley value depends on what replaces it when it is absent. The same images were "
        f"explained under {len(definitions)} definitions ({', '.join(definitions)}; the first is primary and "
        "feeds the rest of this report); Kendall τ compares each image's channel ranking with the primary's, "
        "the φ-map correlation its maps."
    )
    if len(definitions) == 1:
        return f"{sentence} {ADD_DEFINITIONS}"
    return f"{what} {sentence}"


def sampling_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per channel: its share of mean |φ| with the 95 % range over background redraws, and
    the mean per-pixel standard error (absolute, and relative to the mean |φ|)."""
    if table.empty:
        return pd.DataFrame({"note": [("the primary values carry no random draw of train images to redraw (an exact "
                                       "game, k-means centroids or the amortized explainer)")]})
    return pd.DataFrame({
        "channel": table["channel"],
        "share of mean |φ|": [f"{100 * r.share_of_abs:.1f} % [{100 * r.share_low:.1f}, {100 * r.share_high:.1f}]"
                              for r in table.itertuples()],
        "mean |φ|": table["mean_abs"], "mean standard error": table["mean_standard_error"],
        "standard error / mean |φ|": [f"{100 * v:.0f} %" for v in table["relative_standard_error"]],
    })


CONTRIBUTIONS_CAPTION = (
    "Per showcase image: the truth, each input channel (yellow: predicted salt outline), the expected value, each "
    "channel's contribution φ on one symmetric scale (red pushes towards salt, blue away from it) and the prediction."
)


def contribution_caption(significance: pd.DataFrame) -> str:
    """The caption of the φ maps: what their grey marks (from the primary's rows of
    :func:`~explainable_salt.attribution.sampling.significance_table`, the first definition), or
    that the primary game has no sampling error."""
    primary = significance.iloc[0]
    if pd.isna(primary["t_quantile"]):
        return f"{CONTRIBUTIONS_CAPTION} The φ of {primary['definition']} are {primary['sampling_error']}."
    k = int(primary["n_references"])
    return (
        f"{CONTRIBUTIONS_CAPTION} Greyed φ pixels are not distinguishable from 0: |φ| ≤ t × SE, with SE the per-pixel "
        f"standard error from the K = {k} references of {primary['definition']} and t = {primary['t_quantile']:.2f} "
        f"(Student's t, {sampling.freedom(k)}, two-sided 95 %); the others' sign is settled by the draw."
    )


def significance_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per definition: for each channel the share of predicted-salt pixels whose φ is
    distinguishable from 0 (— where the game has no sampling error), the salt pixels counted,
    ``t`` and the game's sampling error."""
    rows = []
    for definition, part in table.groupby("definition", sort=False):
        first = part.iloc[0]
        rows.append({
            "definition": definition,
            **{f"{r.channel}: |φ| > t × SE": "—" if pd.isna(r.share) else f"{100 * r.share:.0f} %"
               for r in part.itertuples()},
            "salt pixels": int(first["n_salt_pixels"]),
            "t": "—" if pd.isna(first["t_quantile"]) else f"{first['t_quantile']:.2f}",
            "sampling error": first["sampling_error"],
        })
    return pd.DataFrame(rows)


def significance_reading(table: pd.DataFrame) -> str:
    """What the significance table says: per game with a standard error, the channel whose φ
    stands out of the noise at the most and the fewest salt pixels; which games are exact."""
    sentences = [(
        "A single pixel's φ under a game that averages over K references (background images drawn at random, or "
        "the conditional neighbours) is an estimate: it is distinguishable from 0 when |φ| > t × SE, with SE its "
        "standard error (the spread of the K single-reference games over √K) and t Student's quantile with K − 1 "
        "degrees of freedom (2.36 at K = 8). The share is taken over the predicted-salt pixels of the explained images."
    )]
    for definition, part in table.groupby("definition", sort=False):
        shares = part.dropna(subset=["share"]).sort_values("share", ascending=False)
        if shares.empty:
            sentences.append(f"{definition}: {part['sampling_error'].iloc[0]}.")
            continue
        first, last = shares.iloc[0], shares.iloc[-1]
        sentences.append(
            f"{definition} (K = {int(first.n_references)}, t = {first.t_quantile:.2f}): {first.channel}'s φ is "
            f"distinguishable from 0 at {100 * first.share:.0f} % of {int(first.n_salt_pixels)} salt pixels, "
            f"{last.channel}'s at {100 * last.share:.0f} %."
        )
    return " ".join(sentences)


def interaction_reading(table: pd.DataFrame) -> str:
    """The most redundant and the most synergistic channel pair, with their intervals."""
    if table.empty:
        return "No pair interactions were computed in this run (more channels than max_exact_channels)."
    ordered = table.sort_values("mean")

    def pair(r: pd.Series) -> str:
        mean, low, high = r["mean"], r["mean_low"], r["mean_high"]
        settled = "its interval excludes 0" if low > 0 or high < 0 else "its interval includes 0"
        return f"{r['channel_a']} and {r['channel_b']} (mean index {mean:+.4f}, 95 % [{low:+.4f}, {high:+.4f}]; {settled})"

    return (
        "The Shapley interaction index of a channel pair is how much more (synergy, positive) or less "
        "(redundancy, negative) the two move the predicted probability together than the sum of their "
        f"separate effects. Most redundant: {pair(ordered.iloc[0])}. Most synergistic: {pair(ordered.iloc[-1])}. "
        "The order-2 Shapley–Taylor terms (shapley_taylor) split each prediction exactly into main effects "
        "and pair terms: expected value + Σ main + Σ pairs = prediction."
    )


def _table(data: dict | pd.DataFrame) -> str:
    frame = pd.DataFrame(sorted(data.items()), columns=["name", "value"]) if isinstance(data, dict) else data
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="table")


def render(
    title: str,
    summary: dict,
    parameters: dict,
    metrics: dict,
    reading: str,
    ranking: pd.DataFrame,
    figures: dict[str, Figure],
    more: list[tuple[str, str, pd.DataFrame]] = (),
    captions: dict[str, str] | None = None,
) -> str:
    """The HTML document: summary, importance reading and ranking, further sections ``more``
    (heading, paragraph, table), metrics, figures (with :data:`CAPTIONS`, and the run's own
    ``captions`` before them), parameters."""
    captions = {**CAPTIONS, **(captions or {})}
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "img{max-width:100%;border:1px solid #ddd}.table{border-collapse:collapse;font-size:13px}"
        ".table td,.table th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}"
        "pre{background:#f6f6f6;padding:1em;font-size:12px;overflow:auto}"
    )
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>",
        "<h2>Data</h2>", _table(summary),
        "<h2>What matters for salt</h2>", f"<p>{html.escape(reading)}</p>", _table(ranking),
        *(part for heading, text, table in more
          for part in (f"<h2>{html.escape(heading)}</h2>", f"<p>{html.escape(text)}</p>", _table(table))),
        "<h2>Metrics</h2>", _table(metrics),
        "<h2>Figures</h2>",
    ]
    for name, fig in figures.items():
        caption = html.escape(name.replace("_", " "))
        text = f"<p>{html.escape(captions[name])}</p>" if name in captions else ""
        sections.append(f'<h3>{caption}</h3>{text}<img alt="{caption}" src="{figure_as_data_uri(fig)}">')
    sections += ["<h2>Parameters</h2>", f"<pre>{html.escape(json.dumps(parameters, indent=2, default=str))}</pre>"]
    body = "\n".join(sections)
    return f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{style}</style></head><body>\n{body}\n</body></html>\n'
