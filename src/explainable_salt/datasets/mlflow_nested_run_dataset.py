"""``MlflowNestedRunDataset``: saves parameters and metric histories as an MLflow run nested in
the active (kedro-mlflow) run. kedro-mlflow logs into the run of the Kedro session only."""

from __future__ import annotations

import logging
import time
from typing import Any

import mlflow
from kedro.io import AbstractDataset, DatasetError
from mlflow.entities import Metric, Param, RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

logger = logging.getLogger(__name__)


def parent_run_id() -> str | None:
    """The run to nest under: this thread's active run. kedro-mlflow reopens its run in the
    thread of every node (``before_node_run``), so this holds under ``ThreadRunner`` too."""
    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


class MlflowNestedRunDataset(AbstractDataset[dict, dict]):
    """Each save creates a FINISHED run named ``run_name`` under the active run, with
    ``data["params"]`` (``{name: value}``) and ``data["metrics"]`` (``{name: [{"value", "step"}]}``).

    Example catalog entry, one nested run per cross-validation fold::

        "{fold}.fold_run":
          type: explainable_salt.datasets.MlflowNestedRunDataset
          run_name: "{fold}"

    Loading returns what the newest such run under the active run recorded. Without an active
    run (tracking disabled), saving logs a warning and records nothing.
    """

    def __init__(self, run_name: str, metadata: dict[str, Any] | None = None):
        self.run_name = run_name
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"run_name": self.run_name}

    def _save(self, data: dict) -> None:
        parent = parent_run_id()
        if parent is None:
            logger.warning("No active MLflow run: nested run %r not recorded", self.run_name)
            return
        client = mlflow.MlflowClient()
        experiment_id = client.get_run(parent).info.experiment_id
        run = client.create_run(experiment_id, run_name=self.run_name, tags={MLFLOW_PARENT_RUN_ID: parent})
        try:
            now = int(time.time() * 1000)
            params = [Param(str(k), str(v)) for k, v in data.get("params", {}).items()]
            points = [
                Metric(name, float(p["value"]), now, int(p["step"]))
                for name, history in data.get("metrics", {}).items()
                for p in history
            ]
            for start in range(0, max(len(points), 1), 1000):  # MLflow's batch limit
                client.log_batch(run.info.run_id, metrics=points[start : start + 1000],
                                 params=params if start == 0 else [])
        except Exception:
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            raise
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
        logger.info("Logged MLflow run %r (%s) nested in %s", self.run_name, run.info.run_id, parent)

    def _load(self) -> dict:
        parent = parent_run_id()
        if parent is None:
            raise DatasetError(f"No active MLflow run to find the nested run {self.run_name!r} under")
        client = mlflow.MlflowClient()
        experiment_id = client.get_run(parent).info.experiment_id
        runs = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent}' and attributes.run_name = '{self.run_name}'",
            order_by=["attributes.start_time DESC"], max_results=1,
        )
        if not runs:
            raise DatasetError(f"No MLflow run {self.run_name!r} nested in {parent}")
        run_id = runs[0].info.run_id
        return {
            "params": dict(runs[0].data.params),
            "metrics": {
                name: [{"value": m.value, "step": m.step} for m in client.get_metric_history(run_id, name)]
                for name in runs[0].data.metrics
            },
        }
