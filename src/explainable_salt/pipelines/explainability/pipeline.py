"""The explainability pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.explainability.nodes import (
    analyse_importance,
    choose_showcase_images,
    compute_deletion_curves,
    explain_channels,
    map_salt_locations,
    randomisation_check,
    sample_background,
)
from explainable_salt.runtime.tracking import tracking_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                sample_background,
                inputs=["model_inputs", "salt_model_channels", "manifest", "params:explainability.background"],
                outputs=["shapley_background", "shapley_background_weights"],
                name="sample_background",
            ),
            node(
                explain_channels,
                inputs=[
                    "salt_model", "salt_model_channels", "model_inputs", "manifest",
                    "shapley_background", "shapley_background_weights", "params:explainability", "params:execution",
                ],
                outputs=["channel_contributions", "expected_value_map", "explained_probabilities", "explanation_checks"],
                name="explain_channels",
            ),
            node(
                analyse_importance,
                inputs=[
                    "channel_contributions", "model_inputs", "train_masks", "explained_probabilities",
                    "manifest", "decision_rule", "params:explainability.analysis",
                ],
                outputs=["global_importance", "contribution_samples", "importance_metrics"],
                name="analyse_importance",
            ),
            node(
                compute_deletion_curves,
                inputs=[
                    "salt_model", "channel_contributions", "model_inputs", "train_masks",
                    "shapley_background", "shapley_background_weights", "global_importance",
                    "decision_rule", "params:explainability.deletion",
                ],
                outputs=["deletion_curves", "deletion_metrics"],
                name="compute_deletion_curves",
            ),
            node(
                randomisation_check,
                inputs=[
                    "salt_model", "channel_contributions", "model_inputs", "shapley_background",
                    "shapley_background_weights", "params:explainability.randomisation",
                ],
                outputs="randomisation_metrics",
                name="randomisation_check",
            ),
            node(
                choose_showcase_images,
                inputs=["manifest", "channel_contributions", "params:explainability.showcase"],
                outputs="showcase_image_ids",
                name="choose_showcase_images",
            ),
            node(
                map_salt_locations,
                inputs=[
                    "salt_model", "showcase_image_ids", "model_inputs", "explained_probabilities",
                    "shapley_background", "decision_rule", "params:explainability.pixel_maps",
                ],
                outputs="salt_location_maps",
                name="map_salt_locations",
            ),
            tracking_node("explanation_checks"),
            tracking_node("importance_metrics"),
            tracking_node("deletion_metrics"),
            tracking_node("randomisation_metrics"),
        ],
        tags="explainability",
    )
