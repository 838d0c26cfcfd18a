"""Project pipelines."""

from kedro.pipeline import Pipeline

from explainable_salt.pipelines import (
    cross_validation,
    data_engineering,
    explainability,
    feature_engineering,
    modelling,
    reporting,
    synthetic_data,
)

STAGES = {
    "data_engineering": data_engineering,
    "feature_engineering": feature_engineering,
    "modelling": modelling,
    "explainability": explainability,
    "reporting": reporting,
}


def register_pipelines() -> dict[str, Pipeline]:
    """The five stages, ``__default__`` (all five in order), ``synthetic_data`` and
    ``cross_validation``.

    Neither of the last two is in the default run: ``synthetic_data`` writes the built-in dataset
    into ``data/01_raw`` (``make run`` calls it only when no competition data is there), and
    ``cross_validation`` trains one model per fold (``kedro run --pipeline cross_validation``).
    """
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines["synthetic_data"] = synthetic_data.create_pipeline()
    pipelines["cross_validation"] = cross_validation.create_pipeline()
    return pipelines
