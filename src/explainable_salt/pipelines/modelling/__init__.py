"""U-Net training, evaluation, test predictions and the competition submission."""

from explainable_salt.pipelines.modelling.pipeline import create_pipeline

__all__ = ["create_pipeline"]
