"""Project pipelines."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.pipeline import Pipeline

from explainable_salt.pipelines import (
    cross_validation,
    data_engineering,
    explainability,
    feature_engineering,
    inference,
    modelling,
    reporting,
    synthetic_data,
)

logger = logging.getLogger(__name__)

STAGES = {
    "data_engineering": data_engineering,
    "feature_engineering": feature_engineering,
    "modelling": modelling,
    "explainability": explainability,
    "reporting": reporting,
}


def _parameters(conf_source: Path | None, env: str | None) -> dict:
    conf_source = conf_source or Path.cwd() / settings.CONF_SOURCE
    loader = OmegaConfigLoader(str(conf_source), env=env or os.environ.get("KEDRO_ENV"), **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def configured_absence(conf_source: Path | None = None, env: str | None = None) -> list[str]:
    """``explainability.absence`` of the project's configuration, read like
    :func:`configured_n_folds`: one explanation node per definition of an absent channel."""
    from explainable_salt.pipelines.explainability.nodes import absence_definitions

    return absence_definitions(_parameters(conf_source, env).get("explainability", {}))


def configured_n_folds(conf_source: Path | None = None, env: str | None = None) -> int:
    """``data_engineering.n_folds`` of the project's configuration (``conf/base`` and the run's
    environment, ``KEDRO_ENV`` or the default ``local``): the number of fold pipelines.

    Pipelines are built before Kedro reads its configuration, so this reads it once more here;
    a value given with ``--params`` cannot change the number of pipelines (the ensemble node
    checks that the manifest has as many folds).
    """
    return int(_parameters(conf_source, env)["data_engineering"]["n_folds"])


def register_pipelines() -> dict[str, Pipeline]:
    """The five stages, ``__default__`` (all five in order), ``synthetic_data``,
    ``cross_validation`` and ``inference``.

    None of the last three is in the default run: ``synthetic_data`` writes the built-in dataset
    into ``data/01_raw`` (``make run`` calls it only when no competition data is there),
    ``cross_validation`` trains one model per fold (``kedro run --pipeline cross_validation``) and
    ``inference`` applies the trained model to new sections (``kedro run --pipeline inference``;
    the default run's test masks come from the same prediction code, in ``modelling``).
    """
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["explainability"] = explainability.create_pipeline(absence=configured_absence())
    pipelines["reporting"] = reporting.create_pipeline(absence=configured_absence())
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines["synthetic_data"] = synthetic_data.create_pipeline()
    pipelines["cross_validation"] = cross_validation.create_pipeline(n_folds=configured_n_folds())
    pipelines["inference"] = inference.create_pipeline()
    return pipelines
