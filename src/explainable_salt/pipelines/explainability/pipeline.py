"""The explainability pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.explainability.nodes import explain_channels, sample_background
from explainable_salt.tracking import as_metrics


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                sample_background,
                inputs=["model_inputs", "salt_model_channels", "manifest", "params:explainability.background"],
                outputs="shapley_background",
                name="sample_background",
            ),
            node(
                explain_channels,
                inputs=[
                    "salt_model", "salt_model_channels", "model_inputs", "manifest",
                    "shapley_background", "params:explainability",
                ],
                outputs=["channel_contributions", "expected_value_map", "explained_probabilities", "explanation_checks"],
                name="explain_channels",
            ),
            node(
                as_metrics,
                inputs="explanation_checks",
                outputs="explanation_checks_tracked",
                name="track_explanation_checks",
            ),
        ],
        tags="explainability",
    )
