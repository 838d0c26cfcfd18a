"""The reporting pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.reporting.nodes import (
    choose_report_images,
    plot_channel_contributions,
    plot_learning_curves,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(plot_learning_curves, inputs="training_history", outputs="learning_curves_figure",
                 name="plot_learning_curves"),
            node(
                choose_report_images,
                inputs=["manifest", "channel_contributions", "params:reporting"],
                outputs="report_image_ids",
                name="choose_report_images",
            ),
            node(
                plot_channel_contributions,
                inputs=[
                    "report_image_ids", "model_inputs", "train_masks", "explained_probabilities",
                    "channel_contributions", "expected_value_map", "decision_rule",
                ],
                outputs="channel_contributions_figure",
                name="plot_channel_contributions",
            ),
        ],
        tags="reporting",
    )
