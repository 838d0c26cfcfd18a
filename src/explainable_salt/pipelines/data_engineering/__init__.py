"""Ingest, validate and split the competition data."""

from explainable_salt.pipelines.data_engineering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
