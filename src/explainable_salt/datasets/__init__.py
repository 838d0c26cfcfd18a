"""The project's custom Kedro datasets, for what kedro-datasets does not cover."""

from explainable_salt.datasets.image_stack_dataset import ImageStackDataset
from explainable_salt.datasets.mlflow_nested_run_dataset import MlflowNestedRunDataset
from explainable_salt.datasets.optional_dataset import OptionalDataset
from explainable_salt.datasets.png_set_dataset import PNGSetDataset
from explainable_salt.datasets.section_set_dataset import SectionSetDataset
from explainable_salt.datasets.seismic_datasets import SegyDataset, XarrayDataset

__all__ = ["ImageStackDataset", "MlflowNestedRunDataset", "OptionalDataset", "PNGSetDataset", "SectionSetDataset", "SegyDataset",
           "XarrayDataset"]
