"""The modelling pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.modelling.nodes import (
    evaluate_model,
    predict_test_masks,
    train_model,
    tune_decision_rule,
)
from explainable_salt.tgs.rle import make_submission
from explainable_salt.tracking.metrics import history_as_metrics, tracking_node


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                train_model,
                inputs=["model_inputs", "train_masks", "manifest", "params:modelling"],
                outputs=["salt_model", "training_history", "salt_model_channels"],
                name="train_model",
            ),
            node(
                history_as_metrics,
                inputs="training_history",
                outputs="training_metrics",
                name="track_training_history",
            ),
            node(
                tune_decision_rule,
                inputs=[
                    "salt_model", "salt_model_channels", "model_inputs", "train_masks", "manifest",
                    "params:modelling.inference",
                ],
                outputs="decision_rule",
                name="tune_decision_rule",
            ),
            node(
                evaluate_model,
                inputs=[
                    "salt_model", "salt_model_channels", "model_inputs", "train_masks", "manifest",
                    "decision_rule", "params:modelling.inference",
                ],
                outputs=["evaluation_metrics", "per_image_metrics"],
                name="evaluate_model",
            ),
            tracking_node("evaluation_metrics"),
            node(
                predict_test_masks,
                inputs=[
                    "salt_model", "salt_model_channels", "model_inputs_test", "decision_rule",
                    "params:modelling.inference", "params:execution",
                ],
                outputs="test_masks_predicted",
                name="predict_test_masks",
            ),
            node(make_submission, inputs="test_masks_predicted", outputs="submission", name="make_submission"),
        ],
        tags="modelling",
    )
