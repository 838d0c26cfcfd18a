"""The reporting pipeline: every figure through the catalog (saved, logged to MLflow), then the
HTML report that embeds them."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from explainable_salt.figures import plotting
from explainable_salt.pipelines.reporting import nodes

FIGURES = [
    "learning_curves", "channel_contributions", "additive_build_up", "expected_value",
    "importance_by_group", "importance_by_coverage", "importance_by_depth", "value_vs_contribution",
    "segmentation_examples", "metric_by_coverage", "deletion_curves", "salt_location_maps",
    "absence_sensitivity", "interaction_matrix", "interaction_maps", "standard_error_maps",
]


def create_pipeline(absence: list[str] | tuple[str, ...] = ("background",), **kwargs) -> Pipeline:
    """The reporting pipeline for the definitions of absence ``absence`` (as explainability's:
    the first is primary); the explorer switches between them."""
    shown = ["showcase_image_ids"]
    explorer = update_wrapper(partial(nodes.build_explorer, definitions=list(absence)), nodes.build_explorer)
    return Pipeline(
        [
            node(plotting.learning_curves, "training_history", "learning_curves_figure", name="plot_learning_curves"),
            node(
                nodes.plot_salt_location_maps,
                inputs=["salt_location_maps", "model_inputs", "explained_probabilities", "decision_rule"],
                outputs="salt_location_maps_figure",
                name="plot_salt_location_maps",
            ),
            node(
                nodes.plot_channel_contributions,
                inputs=[*shown, "model_inputs", "train_masks", "explained_probabilities",
                        "channel_contributions", "expected_value_map", "decision_rule",
                        "contribution_standard_error", "explanation_significance"],
                outputs="channel_contributions_figure",
                name="plot_channel_contributions",
            ),
            node(
                nodes.plot_additive_build_up,
                inputs=[*shown, "train_masks", "channel_contributions", "expected_value_map"],
                outputs="additive_build_up_figure",
                name="plot_additive_build_up",
            ),
            node(nodes.plot_expected_value_map, "expected_value_map", "expected_value_figure", name="plot_expected_value_map"),
            node(
                nodes.plot_importance,
                inputs="global_importance",
                outputs=["importance_by_group_figure", "importance_by_coverage_figure", "importance_by_depth_figure"],
                name="plot_importance",
            ),
            node(plotting.value_contribution_hexbin, "contribution_samples", "value_vs_contribution_figure",
                 name="plot_value_contribution"),
            node(
                nodes.plot_segmentation_examples,
                inputs=["per_image_metrics", "train_images", "train_masks", "explained_probabilities", "decision_rule"],
                outputs="segmentation_examples_figure",
                name="plot_segmentation_examples",
            ),
            node(plotting.metric_by_coverage_class, "per_image_metrics", "metric_by_coverage_figure",
                 name="plot_metric_by_coverage"),
            node(plotting.deletion_curves, "deletion_curves", "deletion_curves_figure", name="plot_deletion_curves"),
            node(plotting.absence_sensitivity, "explanation_sensitivity", "absence_sensitivity_figure",
                 name="plot_absence_sensitivity"),
            node(plotting.interaction_matrix, "channel_interaction_matrix", "interaction_matrix_figure",
                 name="plot_interaction_matrix"),
            node(
                nodes.plot_interaction_maps,
                inputs=[*shown, "channel_interactions", "explained_probabilities", "decision_rule"],
                outputs="interaction_maps_figure",
                name="plot_interaction_maps",
            ),
            node(
                nodes.plot_standard_error_maps,
                inputs=[*shown, "contribution_standard_error", "explained_probabilities", "decision_rule"],
                outputs="standard_error_maps_figure",
                name="plot_standard_error_maps",
            ),
            node(
                explorer,
                inputs=["per_image_metrics", "model_inputs", "train_masks", "explained_probabilities",
                        "channel_contributions", "expected_value_map", "decision_rule", "params:reporting.explorer",
                        "channel_interactions",
                        *(f"{d}.{name}" for d in absence[1:] for name in ("channel_contributions", "expected_value_map")),
                        "explanation_significance", "contribution_standard_error",
                        *(f"{d}.contribution_standard_error" for d in absence[1:])],
                outputs="explorer",
                name="build_explorer",
            ),
            node(nodes.count_test_images, "submission", "test_images_count", name="count_test_images"),
            node(
                nodes.build_report,
                inputs={
                    "manifest": "manifest", "test_images_count": "test_images_count", "parameters": "parameters",
                    "evaluation_metrics": "evaluation_metrics", "explanation_checks": "explanation_checks",
                    "importance_metrics": "importance_metrics", "deletion_metrics": "deletion_metrics",
                    "randomisation_metrics": "randomisation_metrics", "global_importance": "global_importance",
                    "explanation_sensitivity": "explanation_sensitivity",
                    "explanation_sensitivity_sentence": "explanation_sensitivity_sentence",
                    "channel_interaction_matrix": "channel_interaction_matrix",
                    "explanation_sampling_error": "explanation_sampling_error",
                    "explanation_sampling_error_sentence": "explanation_sampling_error_sentence",
                    "explanation_significance": "explanation_significance",
                    **{name: f"{name}_figure" for name in FIGURES},
                },
                outputs="report",
                name="build_report",
            ),
        ],
        tags="reporting",
    )
