"""Figures of the project, all drawn with one style (:func:`figure`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures are written to files, never shown

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CONTRIBUTION_CMAP = "RdBu_r"  # red: pushes towards salt, blue: away from it
IMAGE_CMAP = "gray"


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


def learning_curves(history: pd.DataFrame) -> Figure:
    """Training and validation loss per epoch (and any other logged series)."""
    series = [c for c in history.columns if c not in ("epoch", "learning_rate")]
    fig, axes = figure(1, 1, panel_size=4.0)
    ax = axes[0, 0]
    for column in series:
        ax.plot(history["epoch"], history[column], marker="o", ms=3, label=column)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Learning curves", fontsize=9)
    ax.legend(fontsize=7)
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
) -> Figure:
    """One row per image: truth, each input channel with the predicted outline, the
    expected-value map, each channel's contribution (symmetric diverging scale), the prediction.

    Shapes: ``inputs`` and ``contributions`` ``(n, H, W, C)``; ``truth``, ``probabilities``
    ``(n, H, W)``; ``expected_value`` ``(H, W)``.
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
        _image(ax[-1], probabilities[row], "prediction", cmap="viridis", vmin=0, vmax=1)
    return fig
