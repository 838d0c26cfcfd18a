"""Project pipelines."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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


# The parameters of the run being made (``--env``, ``conf/local`` and ``--params`` included), with
# the configuration folder they were read from, handed over by
# :class:`~explainable_salt.hooks.ConfigurationHook` once the run's context exists. Outside a
# session (``kedro registry``, ``kedro viz``) the configuration is read as a bare run would read it.
_RUN_PARAMETERS: tuple[Path, dict] | None = None


def _parameters(conf_source: Path | None = None, env: str | None = None) -> dict:
    conf_source = Path(conf_source or Path.cwd() / settings.CONF_SOURCE).resolve()
    if _RUN_PARAMETERS is not None and _RUN_PARAMETERS[0] == conf_source and env is None:
        return _RUN_PARAMETERS[1]
    loader = settings.CONFIG_LOADER_CLASS(str(conf_source), env=env or os.environ.get("KEDRO_ENV"),
                                          **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def pipeline_shape(params: dict) -> tuple[tuple[str, ...], int, str, str]:
    """What the pipelines' nodes depend on: the definitions of absence (one explanation node each),
    the number of folds (one training pipeline each), the kind of sections the inference
    pipeline reads (PNG, SEG-Y or zarr / NetCDF: its first and last nodes) and the estimator of
    the primary explanations (``exact``, or ``amortized``: the explainer's nodes)."""
    from explainable_salt.pipelines.explainability.nodes import absence_definitions

    explainability_params = params.get("explainability", {})
    return (tuple(absence_definitions(explainability_params)), int(params["data_engineering"]["n_folds"]),
            inference.sections_kind((params.get("inference") or {}).get("sections")),
            explainability_params.get("estimator", "exact"))


def use_run_parameters(conf_source: Path, params: dict) -> bool:
    """Build the pipelines of the project configured in ``conf_source`` from the run's own
    ``params`` from now on; ``True`` when that changes their shape (so pipelines built before
    must be built again)."""
    global _RUN_PARAMETERS
    conf_source = Path(conf_source).resolve()
    before = pipeline_shape(_parameters(conf_source))
    _RUN_PARAMETERS = (conf_source, params)
    return pipeline_shape(params) != before


def configured_absence(conf_source: Path | None = None, env: str | None = None) -> list[str]:
    """``explainability.absence`` of the run's configuration: one explanation node per definition
    of an absent channel."""
    return list(pipeline_shape(_parameters(conf_source, env))[0])


def configured_n_folds(conf_source: Path | None = None, env: str | None = None) -> int:
    """``data_engineering.n_folds`` of the run's configuration: the number of fold pipelines.

    In a ``kedro run`` that is its own configuration, ``--env``, ``KEDRO_ENV``, ``conf/local`` and
    ``--params`` alike (:class:`~explainable_salt.hooks.ConfigurationHook`); outside a session
    (``kedro registry``, ``kedro viz``), ``conf/base`` with ``KEDRO_ENV`` or ``conf/local``.
    """
    return pipeline_shape(_parameters(conf_source, env))[1]


def configured_sections_kind(conf_source: Path | None = None, env: str | None = None) -> str:
    """How the inference pipeline reads its sections in the run's configuration (``png``, ``segy``,
    ``xarray``), by ``inference.sections``: ``kedro viz`` shows the PNG pipeline."""
    return pipeline_shape(_parameters(conf_source, env))[2]


def configured_estimator(conf_source: Path | None = None, env: str | None = None) -> str:
    """``explainability.estimator`` of the run's configuration: ``exact``, or ``amortized`` (the
    explainer is trained in the explainability pipeline and explains the inference pipeline's sections)."""
    return pipeline_shape(_parameters(conf_source, env))[3]


def register_pipelines() -> dict[str, Pipeline]:
    """The five stages, ``__default__`` (all five in order), ``synthetic_data``,
    ``cross_validation`` and ``inference``.

    None of the last three is in the default run: ``synthetic_data`` writes the built-in dataset
    into ``data/01_raw`` (``make run`` calls it only when no competition data is there),
    ``cross_validation`` trains one model per fold (``kedro run --pipeline cross_validation``) and
    ``inference`` applies the trained model to new sections (``kedro run --pipeline inference``;
    the default run's test masks come from the same prediction code, in ``modelling``), PNG
    sections or a seismic file as ``inference.sections`` says.
    """
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    pipelines["explainability"] = explainability.create_pipeline(absence=configured_absence(),
                                                                 estimator=configured_estimator())
    pipelines["reporting"] = reporting.create_pipeline(absence=configured_absence())
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    pipelines["synthetic_data"] = synthetic_data.create_pipeline()
    pipelines["cross_validation"] = cross_validation.create_pipeline(n_folds=configured_n_folds())
    pipelines["inference"] = inference.create_pipeline(kind=configured_sections_kind(),
                                                       estimator=configured_estimator())
    return pipelines
