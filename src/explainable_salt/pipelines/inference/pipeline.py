"""The inference pipeline: ``kedro run --pipeline inference``."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.inference.nodes import (
    explain_sections,
    make_section_submission,
    predict_sections,
    prepare_sections,
)
from explainable_salt.tracking.metrics import tracking_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                prepare_sections,
                inputs=["inference_images_raw", "inference_depths", "salt_model_channels"],
                outputs="inference_sections",
                name="prepare_sections",
            ),
            node(
                predict_sections,
                inputs=[
                    "inference_sections", "salt_model", "salt_model_channels", "channel_normaliser",
                    "decision_rule", "params:feature_engineering", "params:modelling.inference",
                    "params:inference", "params:execution",
                ],
                outputs=["inference_probabilities", "inference_masks"],
                name="predict_sections",
            ),
            node(make_section_submission, inputs="inference_masks", outputs="inference_submission",
                 name="make_section_submission"),
            node(
                explain_sections,
                inputs=[
                    "inference_sections", "salt_model", "salt_model_channels", "channel_normaliser",
                    "shapley_background", "shapley_background_weights", "params:feature_engineering",
                    "params:explainability", "params:inference", "params:execution",
                ],
                outputs=["inference_explanations", "inference_explanation_checks"],
                name="explain_sections",
            ),
            tracking_node("inference_explanation_checks"),
        ],
        tags="inference",
    )
