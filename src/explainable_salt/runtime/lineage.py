"""Artifacts that belong together are checked: a mismatched set stops the run, naming the node to rerun.

Every output records which versions of its node's inputs it was made from: when a node runs,
:class:`LineageHook` fingerprints its inputs (the model's weights, image stacks, JSON artifacts:
the decision rule, the channels, the normaliser, ...), and when each output has been written it
stores ``data/.lineage/<dataset>.json`` (the node, the time, the input fingerprints).

Before a node runs, its inputs are checked against each other:

- an input ``A`` made from an input ``B`` must have been made from the ``B`` that is there now
  (the decision rule from the model now in ``data/06_models``);
- two inputs made from the same artifact must have been made from the same version of it (the
  explanations and the decision rule, from one model).

Otherwise :class:`StaleArtifactError` names the stale artifact and the node to rerun. Parameters and
in-memory datasets are not checked; tables (CSV, Parquet) are not fingerprinted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from kedro.framework.hooks import hook_impl

from explainable_salt.runtime.atomic import publish, staging_path
from explainable_salt.stacks import ImageStack, StackChunk

logger = logging.getLogger(__name__)

LINEAGE_FOLDER = ".lineage"


class StaleArtifactError(RuntimeError):
    """Artifacts read together were made from different versions of a common input."""


def fingerprint(value: Any) -> str | None:
    """A short hash of an artifact, or ``None`` for what is not fingerprinted. A model: its weights.
    An image stack: ids, channels, shape, dtype and 17 images spread over it (cheap on a memory map,
    and any refit of the normaliser or new data changes them). JSON-like values: their JSON."""
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(value, ImageStack):
        digest.update(json.dumps([list(map(str, value.ids)), list(value.channels), value.data.shape,
                                  str(value.data.dtype)]).encode())
        for index in np.unique(np.linspace(0, len(value.data) - 1, 17).astype(int)) if len(value.data) else []:
            digest.update(np.ascontiguousarray(value.data[index]).data)
    elif isinstance(value, (dict, list, str, int, float)):
        try:
            digest.update(json.dumps(value, sort_keys=True).encode())
        except TypeError:
            return None
    elif hasattr(value, "get_weights") and hasattr(value, "save"):  # a Keras model
        for weight in value.get_weights():
            digest.update(np.ascontiguousarray(weight).data)
    else:
        return None
    return digest.hexdigest()


def check_inputs(node_name: str, fingerprints: dict[str, str], lineage: dict[str, dict]) -> None:
    """Raise :class:`StaleArtifactError` if the inputs of ``node_name`` (current ``fingerprints``
    by dataset name, and the stored ``lineage`` of those that have one) do not belong together."""
    for name, record in lineage.items():
        for source, recorded in record["inputs"].items():
            if source in fingerprints and fingerprints[source] != recorded:
                raise StaleArtifactError(
                    f"Node {node_name!r} reads {name!r} and {source!r}, but {name!r} was made by node "
                    f"{record['node']!r} from another version of {source!r} than the one there now. Rerun "
                    f"`kedro run --from-nodes {record['node']}` (or the whole pipeline)."
                )
    names = sorted(lineage)
    for position, first in enumerate(names):
        for second in names[position + 1:]:
            a, b = lineage[first], lineage[second]
            for source in set(a["inputs"]) & set(b["inputs"]):
                if a["inputs"][source] != b["inputs"][source]:
                    stale = first if a["written"] < b["written"] else second
                    raise StaleArtifactError(
                        f"Node {node_name!r} reads {first!r} and {second!r}, which were made from different "
                        f"versions of {source!r}: {stale!r} is the older. Rerun "
                        f"`kedro run --from-nodes {lineage[stale]['node']}` (or the whole pipeline)."
                    )


class LineageHook:
    """Records each output's input fingerprints and checks each node's inputs (module docstring)."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._pending: dict[str, dict] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._folder = Path(context.project_path) / "data" / LINEAGE_FOLDER

    def _read(self, name: str) -> dict | None:
        path = self._folder / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any]) -> None:
        if self._folder is None:
            return
        fingerprints = {
            name: value_fingerprint
            for name, value in inputs.items()
            if not name.startswith("params:") and name != "parameters"
            and (value_fingerprint := fingerprint(value)) is not None
        }
        lineage = {name: record for name in fingerprints if (record := self._read(name)) is not None}
        check_inputs(node.name, fingerprints, lineage)
        record = {"node": node.name, "inputs": fingerprints}
        for output in node.outputs:
            self._pending[output] = record

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        if isinstance(data, StackChunk) and data.start + len(data.chunk) < data.total:
            return  # an image stack is written when its last chunk is
        record = self._pending.pop(dataset_name, None)
        if record is None or self._folder is None:
            return
        target = self._folder / f"{dataset_name}.json"
        staged = staging_path(target)
        staged.write_text(json.dumps({**record, "written": time.time()}, indent=1))
        publish(staged, target)
