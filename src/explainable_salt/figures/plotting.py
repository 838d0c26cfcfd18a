"""Figures of the project, all drawn with one style (:func:`figure`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files, never shown

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

CONTRIBUTION_CMAP = "RdBu_r"  # red: pushes towards salt, blue: away from it
IMAGE_CMAP = "gray"
INSIGNIFICANT_COLOUR, INSIGNIFICANT_ALPHA = "#8c8c8c", 0.8  # over φ not distinguishable from 0: the noise greyed out


def figure(n_rows: int = 1, n_cols: int = 1, panel_size: float = 2.4, **kwargs):
    """A figure of ``n_rows × n_cols`` square panels in the project's style."""
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(panel_size * n_cols, panel_size * n_rows), squeeze=False,
        constrained_layout=True, **kwargs,
    )
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    return fig, axes


def _image(ax, data, title, cmap=IMAGE_CMAP, vmin=None, vmax=None, colorbar=True):
    shown = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        ax.figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    return shown


def grey_out(ax, insignificant: np.ndarray) -> None:
    """Cover the pixels of ``insignificant`` ``(H, W)`` bool with translucent grey: values that are
    not distinguishable from 0 fade, the others keep their colour."""
    ax.imshow(np.ma.masked_where(~insignificant, np.ones(insignificant.shape)), cmap=ListedColormap([INSIGNIFICANT_COLOUR]),
              alpha=INSIGNIFICANT_ALPHA, vmin=0, vmax=1, interpolation="nearest")


def learning_curves(history: pd.DataFrame) -> Figure:
    """Losses per epoch (left axis) and the validation competition metric (right axis), with
    training stages marked."""
    fig, axes = figure(1, 1, panel_size=4.0)
    ax = axes[0, 0]
    for column in [c for c in history.columns if c.endswith("loss")]:
        ax.plot(history["epoch"], history[column], marker="o", ms=3, label=column)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if "stage" in history:
        for start in history.groupby("stage")["epoch"].min().iloc[1:]:
            ax.axvline(start - 0.5, color="grey", ls=":", lw=1)
    handles, labels = ax.get_legend_handles_labels()
    if "val_competition_metric" in history:
        metric_ax = ax.twinx()
        metric_ax.plot(history["epoch"], history["val_competition_metric"], color="k", ls="--", marker="s", ms=3,
                       label="val_competition_metric")
        metric_ax.set_ylabel("competition metric")
        metric_ax.set_ylim(0, 1)
        more_handles, more_labels = metric_ax.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.set_title("Learning curves", fontsize=9)
    ax.legend(handles, labels, fontsize=7)
    return fig


def channel_contribution_panel(
    ids: list[str],
    inputs: np.ndarray,
    truth: np.ndarray,
    probabilities: np.ndarray,
    contributions: np.ndarray,
    expected_value: np.ndarray,
    channels: tuple[str, ...],
    threshold: float,
    insignificant: np.ndarray | None = None,
    note: str = "",
) -> Figure:
    """One row per image: truth, each input channel with the predicted outline, the
    expected-value map, each channel's contribution (symmetric diverging scale), the prediction.
    The φ pixels of ``insignificant`` (those not distinguishable from 0) are greyed out; ``note``,
    what the marking means or why there is none, heads the figure.

    Shapes: ``inputs``, ``contributions`` and ``insignificant`` ``(n, H, W, C)``; ``truth``,
    ``probabilities`` ``(n, H, W)``; ``expected_value`` ``(H, W)``.
    """
    n_channels = len(channels)
    n_cols = 3 + 2 * n_channels
    fig, axes = figure(len(ids), n_cols)
    limit = float(np.abs(contributions).max()) or 1.0
    for row, image_id in enumerate(ids):
        ax = axes[row]
        _image(ax[0], truth[row], f"{image_id}\ntruth", vmin=0, vmax=1, colorbar=False)
        for c, name in enumerate(channels):
            _image(ax[1 + c], inputs[row, ..., c], name)
            ax[1 + c].contour(probabilities[row] > threshold, levels=[0.5], colors="yellow", linewidths=0.8)
        _image(ax[1 + n_channels], expected_value, "expected value", cmap="viridis", vmin=0, vmax=1)
        for c, name in enumerate(channels):
            _image(ax[2 + n_channels + c], contributions[row, ..., c], f"φ {name}",
                   cmap=CONTRIBUTION_CMAP, vmin=-limit, vmax=limit)
            if insignificant is not None:
                grey_out(ax[2 + n_channels + c], insignificant[row, ..., c])
        _image(ax[-1], probabilities[row], "prediction", cmap="viridis", vmin=0, vmax=1)
    if note:
        fig.suptitle(note, fontsize=8)
    return fig


def additive_build_up(
    ids: list[str],
    truth: np.ndarray,
    contributions: np.ndarray,
    expected_value: np.ndarray,
    channels: tuple[str, ...],
) -> Figure:
    """Per image: expected value, + each channel's contribution in turn, = prediction, vs truth."""
    n_cols = len(channels) + 2
    fig, axes = figure(len(ids), n_cols)
    for row, image_id in enumerate(ids):
        running = expected_value.astype(np.float64)
        _image(axes[row, 0], running, f"{image_id}\nexpected value", cmap="viridis", vmin=0, vmax=1)
        for c, name in enumerate(channels):
            running = running + contributions[row, ..., c]
            last = c == len(channels) - 1
            _image(axes[row, 1 + c], running, f"+ φ {name}" + ("\n= prediction" if last else ""),
                   cmap="viridis", vmin=0, vmax=1)
        _image(axes[row, -1], truth[row], "truth", vmin=0, vmax=1, colorbar=False)
    return fig


def expected_value_map(expected_value: np.ndarray) -> Figure:
    """The model's mean output over the background: where every explanation starts."""
    fig, axes = figure(1, 1, panel_size=4.0)
    _image(axes[0, 0], expected_value, "expected value E[f(background)]", cmap="viridis", vmin=0, vmax=1)
    return fig


def _bar_clusters(ax, table: pd.DataFrame, groups: list[str], series: str, value: str = "mean_abs") -> None:
    """One bar per ``series`` value in each cluster of ``groups`` (column ``group``), height
    ``value``, error bars from ``<value>_low`` to ``<value>_high``."""
    names = list(dict.fromkeys(table[series]))
    width = 0.8 / max(len(names), 1)
    for c, name in enumerate(names):
        rows = table[table[series] == name].set_index("group").loc[groups]
        x = np.arange(len(groups)) + (c - (len(names) - 1) / 2) * width
        err = np.vstack([rows[value] - rows[f"{value}_low"], rows[f"{value}_high"] - rows[value]])
        ax.bar(x, rows[value], width, yerr=np.clip(err, 0, None), capsize=2, label=name)
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=7)
    ax.legend(fontsize=7, ncols=min(len(names), 4))


def importance_bars(table: pd.DataFrame, groups: list[str], title: str) -> Figure:
    """Mean |φ| per channel with 95 % bootstrap intervals, one bar cluster per pixel group."""
    table = table[table["group"].isin(groups)]
    channels = list(dict.fromkeys(table["channel"]))
    groups = [g for g in groups if g in set(table["group"])]
    fig, axes = figure(1, 1, panel_size=1.0)
    fig.set_size_inches(max(6.0, 1.1 * len(groups) * len(channels) ** 0.5 + 2), 3.6)
    ax = axes[0, 0]
    _bar_clusters(ax, table, groups, "channel")
    ax.set_ylabel("mean |φ| (probability)")
    ax.set_title(title, fontsize=9)
    return fig


def absence_sensitivity(table: pd.DataFrame) -> Figure:
    """Left: each channel's share of mean |φ| under each absence definition (interval: the
    channel's mean |φ| interval over the definition's total). Right: agreement with the primary,
    the mean per-image Kendall τ of the channel ranking and correlation of the φ maps, with 95 %
    intervals. ``table``: :func:`~explainable_salt.attribution.sensitivity.sensitivity_table`."""
    definitions = list(dict.fromkeys(table["definition"]))
    total = table.groupby("definition")["mean_abs"].transform("sum")
    shares = table.assign(group=table["definition"], share=table["share_of_abs"],
                          share_low=table["mean_abs_low"] / total, share_high=table["mean_abs_high"] / total)
    first = table.drop_duplicates("definition")
    agreement = pd.concat([
        pd.DataFrame({"group": first["definition"], "measure": label, "value": first[column],
                      "value_low": first[f"{column}_low"], "value_high": first[f"{column}_high"]})
        for column, label in (("kendall_tau", "Kendall τ of the ranking"), ("map_correlation", "φ-map correlation"))
    ])
    fig, axes = figure(1, 2, panel_size=1.0)
    fig.set_size_inches(max(8.0, 2.2 * len(definitions) + 4), 3.6)
    _bar_clusters(axes[0, 0], shares, definitions, "channel", "share")
    axes[0, 0].set_ylabel("share of mean |φ|")
    axes[0, 0].set_title("Channel importance by definition of absence", fontsize=9)
    _bar_clusters(axes[0, 1], agreement, definitions, "measure", "value")
    axes[0, 1].axhline(0, color="grey", lw=0.5)
    axes[0, 1].set_ylim(-1.05, 1.15)
    axes[0, 1].set_ylabel(f"agreement with {definitions[0]}")
    axes[0, 1].set_title("Per-image agreement with the primary" if len(definitions) > 1
                         else f"Only {definitions[0]} was run: nothing to compare", fontsize=9)
    return fig


def interaction_matrix(table: pd.DataFrame) -> Figure:
    """The ``C × C`` matrix of each pair's mean Shapley interaction index over images, with its
    95 % interval in the cell: red synergy, blue redundancy. ``table``:
    :func:`~explainable_salt.attribution.interactions.interaction_table`."""
    channels = list(dict.fromkeys([*table["channel_a"], *table["channel_b"]]))
    index = {c: i for i, c in enumerate(channels)}
    matrix = np.full((len(channels), len(channels)), np.nan)
    fig, axes = figure(1, 1, panel_size=max(4.5, 1.6 * len(channels)))
    ax = axes[0, 0]
    if table.empty:  # sampled explanations (above max_exact_channels) have no interactions
        ax.text(0.5, 0.5, "no pair interactions in this run", ha="center", va="center")
        return fig
    for r in table.itertuples():
        matrix[index[r.channel_a], index[r.channel_b]] = matrix[index[r.channel_b], index[r.channel_a]] = r.mean
    limit = float(np.nanmax(np.abs(matrix))) if np.isfinite(matrix).any() else 1.0
    for r in table.itertuples():
        strong = abs(r.mean) > 0.6 * limit  # white text on the darkest cells
        for i, j in ((index[r.channel_a], index[r.channel_b]), (index[r.channel_b], index[r.channel_a])):
            ax.text(j, i, f"{r.mean:+.2g}\n[{r.mean_low:+.2g},\n{r.mean_high:+.2g}]", ha="center", va="center",
                    fontsize=6, color="white" if strong else "black")
    shown = ax.imshow(matrix, cmap=CONTRIBUTION_CMAP, vmin=-(limit or 1.0), vmax=limit or 1.0)
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    ax.set_xticks(range(len(channels)), channels, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(channels)), channels, fontsize=7)
    ax.set_title("Mean interaction index (95 % interval)\nred: synergy, blue: redundancy", fontsize=9)
    return fig


def interaction_maps(ids: list[str], interactions: np.ndarray, pairs: tuple[str, ...], predicted: np.ndarray) -> Figure:
    """Per image (rows), the Shapley interaction index map of each channel pair (columns) with the
    predicted outline, on one symmetric scale. Shapes: ``interactions`` ``(n, H, W, P)``,
    ``predicted`` ``(n, H, W)`` 0/1."""
    fig, axes = figure(len(ids), max(len(pairs), 1))
    limit = float(np.abs(interactions).max()) if interactions.size else 0.0
    for row, image_id in enumerate(ids):
        for p, pair in enumerate(pairs):
            ax = axes[row, p]
            _image(ax, interactions[row, ..., p], f"{image_id}\nI {pair}" if p == 0 else f"I {pair}",
                   cmap=CONTRIBUTION_CMAP, vmin=-(limit or 1.0), vmax=limit or 1.0)
            ax.contour(predicted[row], levels=[0.5], colors="k", linewidths=0.6)
    return fig


def standard_error_maps(
    ids: list[str], errors: np.ndarray, mean_errors: np.ndarray, channels: tuple[str, ...], predicted: np.ndarray,
) -> Figure:
    """Per channel (columns), the per-pixel standard error of φ from the background draw: averaged
    over every explained image (first row), then for each showcase image with its predicted
    outline; one scale. Shapes: ``errors`` ``(n, H, W, C)``, ``mean_errors`` ``(H, W, C)``,
    ``predicted`` ``(n, H, W)`` 0/1. A game without sampling (no channels) gets one note."""
    if not channels:
        fig, axes = figure(1, 1, panel_size=3.0)
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "The primary game's references are no\nrandom draw: no sampling error.",
                        ha="center", va="center", fontsize=9)
        return fig
    fig, axes = figure(len(ids) + 1, len(channels))
    limit = float(max(errors.max(), mean_errors.max()))
    for c, channel in enumerate(channels):
        _image(axes[0, c], mean_errors[..., c], f"mean over images\nSE of φ {channel}", cmap="magma", vmin=0, vmax=limit)
        for row, image_id in enumerate(ids, start=1):
            _image(axes[row, c], errors[row - 1, ..., c], f"{image_id}\nSE of φ {channel}" if c == 0 else f"SE of φ {channel}",
                   cmap="magma", vmin=0, vmax=limit)
            axes[row, c].contour(predicted[row - 1], levels=[0.5], colors="w", linewidths=0.6)
    return fig


def value_contribution_hexbin(samples: pd.DataFrame) -> Figure:
    """Channel value vs its contribution, one row per channel, salt and sediment side by side."""
    channels = list(dict.fromkeys(samples["channel"]))
    fig, axes = figure(len(channels), 2, panel_size=2.6)
    for row, channel in enumerate(channels):
        subset = samples[samples["channel"] == channel]
        for col, (label, is_salt) in enumerate((("salt", True), ("sediment", False))):
            part = subset[subset["salt"] == is_salt]
            ax = axes[row, col]
            if len(part):
                ax.hexbin(part["value"], part["contribution"], gridsize=30, bins="log", cmap="magma")
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_title(f"{channel} — {label} pixels", fontsize=8)
            ax.set_xlabel("normalised value", fontsize=7)
            ax.set_ylabel("φ", fontsize=7)
    return fig


def segmentation_examples(
    examples: dict[str, str], amplitude: np.ndarray, truth: np.ndarray, probabilities: np.ndarray,
    threshold: float, scores: list[float],
) -> Figure:
    """Rows of amplitude, truth, probability and predicted mask, labelled (e.g. best/median/worst)."""
    fig, axes = figure(len(examples), 4)
    for row, ((label, image_id), score) in enumerate(zip(examples.items(), scores)):
        _image(axes[row, 0], amplitude[row], f"{label}: {image_id}\nscore {score:.2f}", colorbar=False)
        _image(axes[row, 1], truth[row], "truth", vmin=0, vmax=1, colorbar=False)
        _image(axes[row, 2], probabilities[row], "probability", cmap="viridis", vmin=0, vmax=1)
        _image(axes[row, 3], probabilities[row] > threshold, "prediction", vmin=0, vmax=1, colorbar=False)
    return fig


def metric_by_coverage_class(per_image: pd.DataFrame) -> Figure:
    """Mean competition score and IoU per coverage class (0 = no salt), with image counts."""
    grouped = per_image.groupby("coverage_class").agg(score=("score", "mean"), iou=("iou", "mean"), n=("score", "size"))
    fig, axes = figure(1, 1, panel_size=4.0)
    ax = axes[0, 0]
    x = np.arange(len(grouped))
    ax.bar(x - 0.2, grouped["score"], 0.4, label="competition score")
    ax.bar(x + 0.2, grouped["iou"], 0.4, label="IoU")
    ax.set_xticks(x, [f"{k}\n(n={n})" for k, n in zip(grouped.index, grouped["n"])], fontsize=7)
    ax.set_xlabel("coverage class")
    ax.set_ylim(0, 1.05)
    ax.set_title("Internal test by salt coverage", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def deletion_curves(curves: pd.DataFrame) -> Figure:
    """Competition metric as channels are replaced by background, by importance vs other orders."""
    fig, axes = figure(1, 1, panel_size=4.0)
    ax = axes[0, 0]
    styles = {"importance": ("C3", "-", 2.0), "reverse": ("C0", "-", 2.0), "random (mean)": ("k", "--", 1.5)}
    for order, part in curves.groupby("order"):
        colour, style, width = styles.get(order, ("grey", ":", 0.6))
        ax.plot(part["n_removed"], part["competition_metric"], style, color=colour, lw=width, marker="o", ms=3,
                label=order if order in styles else None)
    ax.set_xlabel("channels replaced by background")
    ax.set_ylabel("competition metric")
    ax.set_title("Deletion curves", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def salt_location_maps(
    ids: list[str], inputs: np.ndarray, predicted: np.ndarray, maps: np.ndarray, channels: tuple[str, ...]
) -> Figure:
    """Per image and channel: the input with the predicted outline, and its expected-gradient map."""
    fig, axes = figure(len(ids), 2 * len(channels))
    limit = float(np.abs(maps).max()) or 1.0
    for row, image_id in enumerate(ids):
        for c, name in enumerate(channels):
            ax_in, ax_map = axes[row, 2 * c], axes[row, 2 * c + 1]
            _image(ax_in, inputs[row, ..., c], f"{image_id}\n{name}" if c == 0 else name, colorbar=False)
            ax_in.contour(predicted[row], levels=[0.5], colors="yellow", linewidths=0.8)
            _image(ax_map, maps[row, ..., c], f"where {name} drives salt", cmap=CONTRIBUTION_CMAP,
                   vmin=-limit, vmax=limit)
    return fig


def section_quicklook(title: str, amplitude: np.ndarray, mask: np.ndarray, probability: np.ndarray,
                      contributions: np.ndarray | None, channels: list[str]) -> Figure:
    """One seismic section ``(n_samples, n_traces)``: its amplitudes with the predicted salt
    outlined, and, where it was explained, the channel contributing most (largest |φ|) at each
    pixel, else the salt probability, with the salt outlined again."""
    height, width = amplitude.shape
    fig, axes = figure(1, 2, panel_size=3.2 * max(1.0, width / height) ** 0.5)
    clip = float(np.percentile(np.abs(amplitude), 99)) or 1.0
    _image(axes[0, 0], amplitude, f"{title}: amplitude, salt outlined", cmap="seismic", vmin=-clip, vmax=clip,
           colorbar=False)
    if contributions is None:
        _image(axes[0, 1], probability, "salt probability", cmap="magma", vmin=0, vmax=1)
    else:
        dominant = np.abs(contributions).argmax(axis=-1)
        palette = ListedColormap(plt.get_cmap("tab10").colors[: len(channels)])
        shown = _image(axes[0, 1], dominant, "channel contributing most", cmap=palette, vmin=-0.5,
                       vmax=len(channels) - 0.5, colorbar=False)
        bar = fig.colorbar(shown, ax=axes[0, 1], ticks=range(len(channels)), fraction=0.046, pad=0.02)
        bar.ax.set_yticklabels(channels, fontsize=6)
    for ax in axes[0]:
        ax.set_aspect("auto")
        if mask.any():
            ax.contour(mask, levels=[0.5], colors="yellow", linewidths=1.0)
    return fig
