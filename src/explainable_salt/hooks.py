"""Every Kedro hook of the project (registered in ``settings.py``). Each is a thin adapter: the work
is done by the domain module it names.

- :class:`ConfigurationHook`: the parameters checked (``configuration/schema.py``), the pipelines built from
  them (``pipeline_registry``);
- :class:`RunLockHook`: one run at a time (``storage/run_lock.py``);
- :class:`LineageHook`: artifacts that belong together (``storage/lineage.py``);
- :class:`RunEnvironmentHook`: what the run ran on, as MLflow tags (``tracking/provenance.py``);
- :class:`CheckpointCleanupHook`: finished trainings' checkpoints removed (``segmentation/checkpoints.py``);
- :class:`DataProtectionHook`: no unsafe runner, no raw data overwritten, no stack left short
  (``storage/atomic.py``, ``storage/raw_data.py``).

:class:`ConfigurationHook` checks the run's parameters (``--env``, ``KEDRO_ENV``, ``conf/local`` and
``--params`` merged) against the one schema (:mod:`explainable_salt.configuration.schema`) before
anything runs, then hands them to the pipeline registry before the pipelines are built, so that the
explanation nodes (one per definition of absence) and the fold pipelines are the ones the run
configures.

:class:`DataProtectionHook` checks, before a run, that its catalog writes atomically (Kedro's
``ParallelRunner`` builds its own catalog class, which does not) and that it will not write raw data
over a user's; and, after the run, that every image stack written in chunks was written to its end
(a node that reads a stack left short fails at once: :class:`~explainable_salt.datasets.ImageStackDataset`).
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from explainable_salt.configuration.schema import check_parameters, parameter_files
from explainable_salt.segmentation.checkpoints import remove_complete_checkpoints
from explainable_salt.stacks import StackChunk
from explainable_salt.storage.atomic import AtomicDataCatalog
from explainable_salt.storage.lineage import LINEAGE_FOLDER, LineageRecords
from explainable_salt.storage.raw_data import refuse_raw_outputs
from explainable_salt.storage.run_lock import (
    LOCK_NAME,
    acquire,
    end_interrupted_mlflow_run,
    record_active_mlflow_run,
    release,
)
from explainable_salt.tracking.provenance import run_tags

logger = logging.getLogger(__name__)


class ConfigurationHook:
    """Checks the run's parameters, then builds the pipelines from them (module docstring)."""

    @hook_impl(tryfirst=True)  # before any other hook reads a parameter
    def after_context_created(self, context: Any) -> None:
        from kedro.framework import project

        from explainable_salt import pipeline_registry  # imports every pipeline: not at settings' import

        conf_source = Path(context.project_path) / project.settings.CONF_SOURCE
        params = context.params
        environment = context.env or context.config_loader.default_run_env
        check_parameters(params, parameter_files(conf_source, environment), getattr(context, "_runtime_params", None))
        if pipeline_registry.use_run_parameters(conf_source, params):
            # Built before the context existed (or for another run in this process): build again.
            project.pipelines.configure(f"{project.PACKAGE_NAME}.pipeline_registry")


class RunLockHook:
    """Holds the project's run lock (``data/.kedro_run.lock``) from before the first node to the end.

    The MLflow run kedro-mlflow opens is written into the lock as soon as the first dataset loads;
    a run interrupted with Ctrl-C ends its MLflow run KILLED at exit.
    """

    def __init__(self) -> None:
        self._lock: Path | None = None
        self._running = False
        self._at_exit = False

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._lock = Path(context.project_path) / "data" / LOCK_NAME

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run that a refusal would leave open
    def before_pipeline_run(self) -> None:
        acquire(self._lock)
        self._running = True
        if not self._at_exit:  # registered after MLflow's own exit handler (imported by now): runs before it
            import mlflow  # noqa: F401

            atexit.register(self._at_interpreter_exit)
            self._at_exit = True

    @hook_impl
    def before_dataset_loaded(self) -> None:
        record_active_mlflow_run(self._lock)

    @hook_impl
    def before_node_run(self) -> None:
        record_active_mlflow_run(self._lock)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._running = False
        release(self._lock)

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._running = False
        release(self._lock)

    def _at_interpreter_exit(self) -> None:
        if self._running:
            end_interrupted_mlflow_run()


class LineageHook:
    """Checks each node's inputs and records each artifact's ancestry (``data/.lineage/``)."""

    def __init__(self) -> None:
        self._records: LineageRecords | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._records = LineageRecords(Path(context.project_path) / "data" / LINEAGE_FOLDER)

    @hook_impl
    def before_pipeline_run(self, catalog: Any) -> None:
        if self._records is not None:
            self._records.start_run(catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        if self._records is not None:
            self._records.check_node(node, catalog, inputs)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if self._records is not None:
            self._records.record_saved(dataset_name, data)


class RunEnvironmentHook:
    """Tags the run's MLflow run (opened by kedro-mlflow) with what it ran on and with which
    configuration, once, before its first node."""

    def __init__(self) -> None:
        self._pending: tuple | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        params = context.params
        self._pending = (params.get("modelling", {}).get("dtype_policy", "float32"),
                         Path(context.project_path) / "data" / "01_raw",
                         context.env or context.config_loader.default_run_env, params)

    @hook_impl
    def before_node_run(self) -> None:
        import mlflow

        if self._pending is not None and mlflow.active_run() is not None:
            mlflow.set_tags(run_tags(*self._pending))
            self._pending = None


class CheckpointCleanupHook:
    """Once a run has succeeded, the checkpoints of its finished trainings are removed."""

    def __init__(self) -> None:
        self._folder: Path | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        settings = context.params.get("modelling", {}).get("training", {}).get("checkpoints") or {}
        self._folder = Path(context.project_path) / settings["folder"] if "folder" in settings else None

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._folder is not None:
            for removed in remove_complete_checkpoints(self._folder):
                logger.info("Training finished and saved: removed its checkpoint %s/", removed)


class UnsafeRunnerError(RuntimeError):
    """The run's catalog would write outputs in place, not whole or not at all."""


class DataProtectionHook:
    """Refuses runs that could overwrite data or leave it half written (module docstring)."""

    def __init__(self) -> None:
        self._chunks: dict[str, tuple[int, int]] = {}  # stack → (images written, images in all)
        self._catalog: Any = None

    @hook_impl(tryfirst=True)  # before the run lock and kedro-mlflow: a refusal leaves nothing open
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._chunks, self._catalog = {}, catalog
        if not isinstance(catalog, AtomicDataCatalog):
            raise UnsafeRunnerError(
                f"The {run_params.get('runner') or 'chosen'} runner gives the run a {type(catalog).__name__}, which "
                "writes outputs in place: a crash would leave them half written. Run with the default "
                "SequentialRunner or with --runner ThreadRunner; the per-image stages run in parallel on Dask "
                "with --params \"execution.mode=local_cluster\"."
            )
        refuse_raw_outputs(set(pipeline.all_outputs()), catalog)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if isinstance(data, StackChunk):
            self._chunks[dataset_name] = (data.start + len(data.chunk), data.total)

    def _abandon_short_stacks(self) -> list[str]:
        """The stacks of this run written short, each with its staging folder removed."""
        short = [f"{name!r} stopped after {written} of its {total} images"
                 for name, (written, total) in self._chunks.items() if written < total]
        for name, (written, total) in self._chunks.items():
            dataset = self._catalog.get(name) if written < total and self._catalog is not None else None
            if hasattr(dataset, "abandon"):
                dataset.abandon()
        self._chunks = {}
        return short

    @hook_impl(trylast=True)  # after the run lock's release: a refusal here must not leave it held
    def after_pipeline_run(self) -> None:
        if short := self._abandon_short_stacks():
            raise DatasetError(f"The node writing {'; '.join(short)}: not written, and the previous version "
                               "(if any) is left as it was.")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._abandon_short_stacks()
