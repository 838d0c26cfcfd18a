"""Shapes that kedro-mlflow's ``MlflowMetricsHistoryDataset`` logs."""

from __future__ import annotations

import pandas as pd
from kedro.pipeline import Node, node


def as_metrics(values: dict[str, float]) -> dict[str, dict]:
    """Flat ``{name: value}`` → ``{name: {"value": v, "step": 0}}`` (one point per metric)."""
    return {name: {"value": float(v), "step": 0} for name, v in values.items()}


def history_as_metrics(
    history: pd.DataFrame, step_column: str = "epoch", skip: tuple[str, ...] = ("stage",)
) -> dict[str, list]:
    """A per-epoch table → ``{column: [{"value": v, "step": epoch}, …]}`` for every column but
    the step and the ``skip`` (labelling) columns; empty cells (a column kept for some epochs
    only, such as the averaged-weight scores) are not logged."""
    steps = history[step_column].astype(int).tolist()
    return {
        column: [{"value": float(v), "step": s} for v, s in zip(history[column], steps) if pd.notna(v)]
        for column in history.columns
        if column != step_column and column not in skip
    }


def tracking_node(name: str) -> Node:
    """The node logging the flat metrics dataset ``name`` to MLflow as ``<name>_tracked``."""
    return node(as_metrics, inputs=name, outputs=f"{name}_tracked", name=f"track_{name}")
