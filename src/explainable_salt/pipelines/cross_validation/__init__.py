"""K-fold cross-validation: one namespaced training pipeline per fold, and their ensemble."""

from explainable_salt.pipelines.cross_validation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
