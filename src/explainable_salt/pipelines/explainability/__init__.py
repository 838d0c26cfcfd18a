"""Exact Shapley contributions of each input channel to every predicted pixel."""

from explainable_salt.pipelines.explainability.pipeline import create_pipeline

__all__ = ["create_pipeline"]
