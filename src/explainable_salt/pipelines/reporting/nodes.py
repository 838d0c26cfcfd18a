"""Nodes of the reporting pipeline: figures and the HTML report of the run, from the catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from explainable_salt.attribution import sampling
from explainable_salt.figures import explorer, explorer_data, plotting, report
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule
from explainable_salt.tgs.splits import spread_over_coverage

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
    contribution_standard_error: ImageStack,
    explanation_significance: pd.DataFrame,
) -> Figure:
    """Inputs, expected value and per-channel contributions for the chosen images, the φ that are
    not distinguishable from 0 greyed out (the primary's standard error and ``K``, the first
    definition of ``explanation_significance``), or a note that the primary game is exact."""
    phi = channel_contributions.select(showcase_image_ids).data
    primary = explanation_significance.iloc[0]
    insignificant, note = None, f"φ {primary['sampling_error']}"
    if contribution_standard_error.channels:
        k = int(primary["n_references"])
        insignificant = ~sampling.significant(phi, contribution_standard_error.select(showcase_image_ids).data, k)
        note = f"greyed φ: {sampling.insignificance_rule(k)}"
    return plotting.channel_contribution_panel(
        showcase_image_ids,
        model_inputs.select(showcase_image_ids).select_channels(channel_contributions.channels).data,
        train_masks.select(showcase_image_ids).data,
        explained_probabilities.select(showcase_image_ids).data,
        phi,
        expected_value_map.data[0],
        channel_contributions.channels,
        decision_rule["threshold"],
        insignificant,
        note,
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


def plot_interaction_maps(
    showcase_image_ids: list[str],
    channel_interactions: ImageStack,
    explained_probabilities: ImageStack,
    decision_rule: dict,
) -> Figure:
    """The Shapley interaction index of each channel pair, per showcase image."""
    return plotting.interaction_maps(
        showcase_image_ids,
        channel_interactions.select(showcase_image_ids).data,
        channel_interactions.channels,
        apply_decision_rule(explained_probabilities.select(showcase_image_ids).data, decision_rule),
    )


def plot_standard_error_maps(
    showcase_image_ids: list[str],
    contribution_standard_error: ImageStack,
    explained_probabilities: ImageStack,
    decision_rule: dict,
) -> Figure:
    """The per-pixel standard error of the contributions, averaged and per showcase image."""
    channels = contribution_standard_error.channels
    shown = contribution_standard_error.select(showcase_image_ids).data if channels else None
    return plotting.standard_error_maps(
        showcase_image_ids, shown, contribution_standard_error.data.mean(axis=0) if channels else None, channels,
        apply_decision_rule(explained_probabilities.select(showcase_image_ids).data, decision_rule),
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
    explanation_sensitivity: pd.DataFrame,
    explanation_sensitivity_sentence: str,
    channel_interaction_matrix: pd.DataFrame,
    explanation_sampling_error: pd.DataFrame,
    explanation_sampling_error_sentence: str,
    explanation_significance: pd.DataFrame,
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
    sections = [
        ("Does it depend on what \"absent\" means?",
         report.sensitivity_reading(explanation_sensitivity, explanation_sensitivity_sentence),
         report.sensitivity_summary(explanation_sensitivity)),
        ("Does it depend on the background images drawn?", explanation_sampling_error_sentence,
         report.sampling_summary(explanation_sampling_error)),
        ("Which pixels stand out from the sampling noise?", report.significance_reading(explanation_significance),
         report.significance_summary(explanation_significance)),
        ("Which channels work together", report.interaction_reading(channel_interaction_matrix),
         channel_interaction_matrix[["pair", "mean", "mean_low", "mean_high", "mean_abs", "mean_abs_low", "mean_abs_high"]]),
    ]
    captions = {"channel_contributions": report.contribution_caption(explanation_significance)}
    return report.render("explainable-salt: run report", summary, parameters, metrics, reading, ranking, figures,
                         sections, captions)


def count_test_images(submission: pd.DataFrame) -> dict:
    """How many competition test images the submission covers."""
    return {"n_test_images": len(submission)}


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
    channel_interactions: ImageStack | None = None,
    *other_explanations: ImageStack,
    definitions: list[str] | tuple[str, ...] = ("background",),
) -> str:
    """The interactive explorer (self-contained HTML) of ``params["n_images"]`` explained images
    spread over coverage classes, with a switch between the absence ``definitions`` (the primary
    first) and the primary's ``channel_interactions``.

    ``other_explanations``: ``<d>.channel_contributions``, ``<d>.expected_value_map`` for each
    other definition, in turn; then, as the pipeline passes them, ``explanation_significance`` and
    each definition's ``contribution_standard_error`` (the primary's first), from which each pixel
    shows its 95 % interval and the φ maps grey what is not distinguishable from 0. Without that
    last group the page says the sampling error was not given."""
    explained = per_image_metrics.set_index("id").loc[channel_contributions.ids].reset_index()
    ids = spread_over_coverage(explained, params["n_images"])
    n_other = 2 * (len(definitions) - 1)
    stacks = [channel_contributions, expected_value_map, *other_explanations[:n_other]]
    explanations = {
        name: (_expected_values(expected, ids), contributions.select(ids).data)
        for name, contributions, expected in zip(definitions, stacks[::2], stacks[1::2], strict=True)
    }
    errors = _errors(definitions, other_explanations[n_other:], ids)
    data = explorer_data.explorer_data(
        explained.set_index("id").loc[ids].reset_index(),
        model_inputs.select(ids).select_channels(channel_contributions.channels).data,
        train_masks.select(ids).data,
        explained_probabilities.select(ids).data,
        explanations,
        channel_contributions.channels,
        decision_rule,
        (channel_interactions.select(ids).data, channel_interactions.channels)
        if channel_interactions is not None and channel_interactions.channels else None,
        errors,
    )
    return explorer.explorer_html(data, params["title"])


def _errors(definitions, given: tuple, ids: list[str]) -> dict[str, tuple[np.ndarray | None, int, str]] | None:
    """Each definition's standard errors of ``ids`` (``None`` where its game has none), ``K`` and
    note, from ``given``: ``explanation_significance`` then one standard-error stack per definition;
    ``None`` when nothing is given."""
    if not given:
        return None
    significance, *standard_errors = given
    if len(standard_errors) != len(definitions):
        raise ValueError(f"{len(standard_errors)} standard-error stacks for the definitions {list(definitions)}")
    games = significance.drop_duplicates("definition").set_index("definition")
    return {
        name: (errors.select(ids).data if errors.channels else None, int(games.loc[name, "n_references"]),
               games.loc[name, "sampling_error"])
        for name, errors in zip(definitions, standard_errors, strict=True)
    }


def _expected_values(expected_value_map: ImageStack, ids: list[str]):
    """The shared ``(H, W)`` expected value, or ``(N, H, W)`` for ``ids`` where it is per image."""
    if len(expected_value_map) == 1 and expected_value_map.ids[0] not in ids:
        return expected_value_map.data[0]
    return expected_value_map.select(ids).data
