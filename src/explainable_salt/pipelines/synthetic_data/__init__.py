"""The built-in synthetic TGS-like dataset, written into data/01_raw in the competition layout."""

from explainable_salt.pipelines.synthetic_data.pipeline import create_pipeline

__all__ = ["create_pipeline"]
