"""Figures of the run, from the catalog, into 08_reporting and MLflow."""

from explainable_salt.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
