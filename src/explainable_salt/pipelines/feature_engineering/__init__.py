"""Seismic attributes as input channels, normalised on the train split."""

from explainable_salt.pipelines.feature_engineering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
