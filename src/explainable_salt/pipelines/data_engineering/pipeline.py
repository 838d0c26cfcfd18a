"""The data_engineering pipeline."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.data_engineering.nodes import (
    build_manifest,
    validate_test_set,
    validate_train_set,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                validate_train_set,
                inputs=["train_images_raw", "train_masks_raw", "train_rle", "depths"],
                outputs=["train_images", "train_masks"],
                name="validate_train_set",
            ),
            node(
                validate_test_set,
                inputs=["test_images_raw", "depths", "train_rle", "sample_submission"],
                outputs="test_images",
                name="validate_test_set",
            ),
            node(
                build_manifest,
                inputs=["train_masks", "depths", "params:data_engineering"],
                outputs="manifest",
                name="build_manifest",
            ),
        ],
        tags="data_engineering",
    )
