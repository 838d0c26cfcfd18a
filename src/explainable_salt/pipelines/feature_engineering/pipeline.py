"""The feature_engineering pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.feature_engineering.nodes import (
    build_model_inputs,
    fit_channel_normaliser,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                fit_channel_normaliser,
                inputs=["train_images", "depths", "manifest", "params:feature_engineering", "params:modelling.channels"],
                outputs="channel_normaliser",
                name="fit_channel_normaliser",
            ),
            node(
                build_model_inputs,
                inputs=["train_images", "depths", "channel_normaliser", "params:feature_engineering", "params:execution"],
                outputs="model_inputs",
                name="build_model_inputs",
            ),
            node(
                build_model_inputs,
                inputs=["test_images", "depths", "channel_normaliser", "params:feature_engineering", "params:execution"],
                outputs="model_inputs_test",
                name="build_model_inputs_test",
            ),
        ],
        tags="feature_engineering",
    )
