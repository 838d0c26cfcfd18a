"""Nodes of the reporting pipeline: figures of the run from the catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from explainable_salt import plotting
from explainable_salt.stacks import ImageStack


def plot_learning_curves(training_history: pd.DataFrame) -> Figure:
    """Loss per epoch for train and validation."""
    return plotting.learning_curves(training_history)


def choose_report_images(manifest: pd.DataFrame, channel_contributions: ImageStack, params: dict) -> list[str]:
    """``n_images`` explained images spread evenly over salt coverage (empty to full)."""
    explained = manifest.set_index("id").loc[channel_contributions.ids].sort_values("coverage")
    n = min(params["n_images"], len(explained))
    positions = np.unique(np.linspace(0, len(explained) - 1, n).round().astype(int))
    return explained.index[positions].tolist()


def plot_channel_contributions(
    report_image_ids: list[str],
    model_inputs: ImageStack,
    train_masks: ImageStack,
    explained_probabilities: ImageStack,
    channel_contributions: ImageStack,
    expected_value_map: ImageStack,
    decision_rule: dict,
) -> Figure:
    """Inputs, expected value and per-channel contributions for the chosen images."""
    return plotting.channel_contribution_panel(
        report_image_ids,
        model_inputs.select(report_image_ids).select_channels(channel_contributions.channels).data,
        train_masks.select(report_image_ids).data,
        explained_probabilities.select(report_image_ids).data,
        channel_contributions.select(report_image_ids).data,
        expected_value_map.data[0],
        channel_contributions.channels,
        decision_rule["threshold"],
    )
