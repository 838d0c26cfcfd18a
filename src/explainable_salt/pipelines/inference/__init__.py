"""The trained model applied to new sections: masks, probabilities, a submission, explanations."""

from explainable_salt.pipelines.inference.pipeline import create_pipeline, sections_kind

__all__ = ["create_pipeline", "sections_kind"]
