"""Project pipelines."""

from kedro.pipeline import Pipeline

from explainable_salt.pipelines import (
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
    """The five stages, ``__default__`` (all five in order) and ``synthetic_data``.

    ``synthetic_data`` is not part of the default run: it writes the built-in dataset into
    ``data/01_raw`` and ``make run`` calls it only when no competition data is there.
    """
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines["synthetic_data"] = synthetic_data.create_pipeline()
    return pipelines
