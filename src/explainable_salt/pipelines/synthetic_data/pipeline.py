"""The synthetic_data pipeline: writes the raw datasets that data_engineering reads."""

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.synthetic_data.nodes import generate_synthetic_dataset


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                generate_synthetic_dataset,
                inputs="params:synthetic_data",
                outputs=["train_images_raw", "train_masks_raw", "train_rle", "depths", "test_images_raw",
                         "synthetic_data_record"],
                name="generate_synthetic_dataset",
            )
        ],
        tags="synthetic_data",
    )
