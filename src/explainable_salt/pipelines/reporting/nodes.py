"""Nodes of the reporting pipeline: figures and the HTML report of the run, from the catalog."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from explainable_salt.figures import explorer, explorer_data, plotting, report
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule

OVERALL_GROUPS = [
    "all", "salt (truth)", "sediment (truth)", "salt (predicted)", "sediment (predicted)", "boundary (truth)",
]


def plot_channel_contributions(
    showcase_image_ids: list[str],
    model_inputs: ImageStack,
    train_masks: ImageStack,
    explained_probabilities: ImageStack,
    channel_contributions: ImageStack,
    expected_value_map: ImageStack,
    decision_rule: dict,
) -> Figure:
    """Inputs, expected value and per-channel contributions for the chosen images."""
    return plotting.channel_contribution_panel(
        showcase_image_ids,
        model_inputs.select(showcase_image_ids).select_channels(channel_contributions.channels).data,
        train_masks.select(showcase_image_ids).data,
        explained_probabilities.select(showcase_image_ids).data,
        channel_contributions.select(showcase_image_ids).data,
        expected_value_map.data[0],
        channel_contributions.channels,
        decision_rule["threshold"],
    )


def plot_additive_build_up(
    showcase_image_ids: list[str],
    train_masks: ImageStack,
    channel_contributions: ImageStack,
    expected_value_map: ImageStack,
) -> Figure:
    """Expected value + each channel's contribution in turn = prediction, for the chosen images."""
    return plotting.additive_build_up(
        showcase_image_ids,
        train_masks.select(showcase_image_ids).data,
        channel_contributions.select(showcase_image_ids).data,
        expected_value_map.data[0],
        channel_contributions.channels,
    )


def plot_expected_value_map(expected_value_map: ImageStack) -> Figure:
    """The expected-value map."""
    return plotting.expected_value_map(expected_value_map.data[0])


def plot_importance(global_importance: pd.DataFrame) -> tuple[Figure, Figure, Figure]:
    """Importance bars overall and by pixel group, by coverage class and by depth band."""
    groups = global_importance["group"].unique().tolist()
    return (
        plotting.importance_bars(global_importance, OVERALL_GROUPS, "Channel importance by pixel group"),
        plotting.importance_bars(
            global_importance, [g for g in groups if g.startswith("coverage class")], "By coverage class"
        ),
        plotting.importance_bars(global_importance, [g for g in groups if g.startswith("depth band")], "By depth band"),
    )


def plot_segmentation_examples(
    per_image_metrics: pd.DataFrame,
    train_images: ImageStack,
    train_masks: ImageStack,
    explained_probabilities: ImageStack,
    decision_rule: dict,
) -> Figure:
    """The best, median and worst explained internal-test images by competition score."""
    scores = per_image_metrics.set_index("id").loc[explained_probabilities.ids, "score"].sort_values(kind="stable")
    examples = {"best": scores.index[-1], "median": scores.index[len(scores) // 2], "worst": scores.index[0]}
    ids = list(examples.values())
    return plotting.segmentation_examples(
        examples, train_images.select(ids).data, train_masks.select(ids).data,
        explained_probabilities.select(ids).data, decision_rule["threshold"], scores.loc[ids].tolist(),
    )


def build_report(
    manifest: pd.DataFrame,
    test_images_count: dict,
    parameters: dict,
    evaluation_metrics: dict,
    explanation_checks: dict,
    importance_metrics: dict,
    deletion_metrics: dict,
    randomisation_metrics: dict,
    global_importance: pd.DataFrame,
    **figures: Figure,
) -> str:
    """The self-contained HTML report of the run."""
    summary = {
        "labelled images": len(manifest),
        **{f"{split} images": int(n) for split, n in manifest["split"].value_counts().items()},
        "images without salt": f"{100 * (manifest['coverage'] == 0).mean():.1f} %",
        "competition test images": test_images_count["n_test_images"],
        "input channels": ", ".join(global_importance["channel"].unique()),
    }
    overall = global_importance[global_importance["group"] == "all"].sort_values("mean_abs", ascending=False)
    ranking = overall[["channel", "mean_abs", "mean_abs_low", "mean_abs_high", "mean_signed", "share_of_abs"]]
    metrics = {**evaluation_metrics, **explanation_checks, **importance_metrics, **deletion_metrics, **randomisation_metrics}
    reading = report.importance_reading(global_importance, deletion_metrics, randomisation_metrics)
    return report.render("explainable-salt: run report", summary, parameters, metrics, reading, ranking, figures)


def count_test_images(submission: pd.DataFrame) -> dict:
    """How many competition test images the submission covers."""
    return {"n_test_images": int(len(submission))}


def plot_salt_location_maps(
    salt_location_maps: ImageStack,
    model_inputs: ImageStack,
    explained_probabilities: ImageStack,
    decision_rule: dict,
) -> Figure:
    """Which input locations of each channel drive the predicted salt, per showcase image."""
    ids = list(salt_location_maps.ids)
    return plotting.salt_location_maps(
        ids,
        model_inputs.select(ids).select_channels(salt_location_maps.channels).data,
        apply_decision_rule(explained_probabilities.select(ids).data, decision_rule),
        salt_location_maps.data,
        salt_location_maps.channels,
    )


def build_explorer(
    per_image_metrics: pd.DataFrame,
    model_inputs: ImageStack,
    train_masks: ImageStack,
    explained_probabilities: ImageStack,
    channel_contributions: ImageStack,
    expected_value_map: ImageStack,
    decision_rule: dict,
    params: dict,
) -> str:
    """The interactive explorer (self-contained HTML) of ``params["n_images"]`` explained images
    spread over coverage classes."""
    explained = per_image_metrics.set_index("id").loc[channel_contributions.ids].reset_index()
    ids = explorer_data.choose_images(explained, params["n_images"])
    data = explorer_data.explorer_data(
        explained.set_index("id").loc[ids].reset_index(),
        model_inputs.select(ids).select_channels(channel_contributions.channels).data,
        train_masks.select(ids).data,
        explained_probabilities.select(ids).data,
        {params["absence_definition"]: (expected_value_map.data[0], channel_contributions.select(ids).data)},
        channel_contributions.channels,
        decision_rule,
    )
    return explorer.explorer_html(data, params["title"])
