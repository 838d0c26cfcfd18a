"""Artifacts that belong together are checked: a mismatched set stops the run, naming the node to rerun.

When an output of a node has been written, :class:`LineageRecords` (driven by ``hooks.LineageHook``) stores
``data/.lineage/<dataset>.json``: the node, the time, the artifact's own fingerprint, its node's
inputs' fingerprints and its *ancestors*: those inputs plus each input's recorded ancestors, so the
record of a figure names the versions of the model, normaliser, stacks and tables it was made from,
however many steps back. Parameters and in-memory datasets are not artifacts (an in-memory dataset
passes its ancestry on within the run).

Before a node runs, its inputs are checked against each other:

- an input made, at any remove, from another input must have been made from the version there now
  (the model, from the normaliser that ``predict_sections`` reads beside it);
- two inputs made from a common ancestor must have been made from the same version of it (the model
  and the test channels, from one normaliser, though neither reads it directly).

Otherwise :class:`StaleArtifactError` names the stale artifacts and the nodes to rerun: walking back
from each stale one through the records now on disk, the first nodes whose inputs have changed since
they ran (rerunning a later one would remake it from other stale artifacts).

A record belongs to the artifact whose fingerprint it holds. An artifact replaced outside a run (by
hand, or by a copy) is not the one its record describes: a warning says its lineage is unknown, and
it counts as a root (what is made from it now starts from it).

Fingerprints cost little whatever the size. A dataset on the local disk is fingerprinted by its file
or folder (:func:`path_fingerprint`: names, sizes, and the bytes of small files or of 17 chunks spread
over large ones), so a volume larger than memory is never read whole, and a stack written in chunks
is fingerprinted from its folder once the last chunk is published. A refitted normaliser or a
retrained model changes every chunk; a model saved again is a new version even with the same weights
(its file holds the time). Other datasets are fingerprinted by their value (:func:`fingerprint`).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro.io import DatasetError, MemoryDataset

from explainable_salt.stacks import StackChunk
from explainable_salt.storage.atomic import publish, staging_path
from explainable_salt.storage.dataset_paths import read_path
from explainable_salt.storage.fingerprints import fingerprint, path_fingerprint

logger = logging.getLogger(__name__)

LINEAGE_FOLDER = ".lineage"
class StaleArtifactError(RuntimeError):
    """Artifacts read together were made from different versions of a common input.

    Attributes:
        stale: the names of the inputs that are out of date, sorted.
        rerun: the nodes to rerun (``kedro run --from-nodes``), sorted.
    """

    def __init__(self, message: str, stale: tuple[str, ...] = (), rerun: tuple[str, ...] = ()):
        super().__init__(message)
        self.stale, self.rerun = stale, rerun


def nodes_to_rerun(name: str, records: Callable[[str], dict | None], current: Callable[[str], str | None],
                   _memo: dict | None = None) -> set[str]:
    """The nodes whose rerun remakes ``name`` from what is there now: walking back through the
    ``records`` of its inputs, the first nodes that read an input whose ``current`` fingerprint is
    not the one they read (later nodes are rerun with them by ``--from-nodes``)."""
    memo = {} if _memo is None else _memo
    if name in memo:
        return memo[name]
    memo[name] = set()  # a cycle of hand-edited records ends here
    record = records(name)
    if record is None:
        return set()
    upstream, changed = set(), False
    for source, version in record["inputs"].items():
        upstream |= nodes_to_rerun(source, records, current, memo)
        changed |= current(source) not in (None, version)
    memo[name] = upstream or ({record["node"]} if changed else set())
    return memo[name]


def _conflicts(fingerprints: dict[str, str], lineage: dict[str, dict],
               current: Callable[[str], str | None]) -> list[tuple[str, str]]:
    """``(stale input, why)`` for each input made from another version of an input than the one
    there now, and for each pair of inputs made from different versions of a common ancestor."""
    found = []
    for name, record in lineage.items():
        for source, version in record["ancestors"].items():
            if source != name and fingerprints.get(source, version) != version:
                why = f"{name!r} (made by node {record['node']!r}) comes from another version of {source!r} than the one there now"
                found.append((name, why))
                break
    names = sorted(lineage)
    for position, first in enumerate(names):
        for second in names[position + 1:]:
            a, b = lineage[first]["ancestors"], lineage[second]["ancestors"]
            for source in sorted((set(a) & set(b)) - set(fingerprints)):  # inputs are the first rule's
                if a[source] == b[source]:
                    continue
                now = current(source)
                if now in (a[source], b[source]):
                    stale = first if b[source] == now else second
                    why = f"{stale!r} from one that is no longer there"
                else:
                    stale = first if lineage[first]["written"] < lineage[second]["written"] else second
                    why = f"{stale!r} from the older"
                found.append((stale, f"{first!r} and {second!r} come from different versions of {source!r}, {why}"))
                break
    return found


def check_inputs(node_name: str, fingerprints: dict[str, str], lineage: dict[str, dict],
                 records: Callable[[str], dict | None] | None = None,
                 current: Callable[[str], str | None] | None = None) -> None:
    """Raise :class:`StaleArtifactError` if the inputs of ``node_name`` do not belong together.

    Args:
        fingerprints: the fingerprint of each input now, by dataset name.
        lineage: the records of the inputs that have one (that of the version there now).
        records: the record of any dataset, to walk back from a stale input (default: ``lineage``).
        current: the fingerprint of any dataset as it is now (default: its record's), to tell the
            stale one of two inputs made from different versions of an ancestor.
    """
    records = records or lineage.get
    current = current or (lambda name: fingerprints.get(name) or (records(name) or {}).get("fingerprint"))
    found = _conflicts(fingerprints, lineage, current)
    if not found:
        return
    stale = tuple(sorted({name for name, _ in found}))
    memo: dict = {}
    rerun = set().union(*(nodes_to_rerun(name, records, current, memo) for name in stale))
    rerun = tuple(sorted(rerun or {lineage[name]["node"] for name in stale}))
    reasons = list(dict.fromkeys(why for _, why in found))
    raise StaleArtifactError(
        f"Node {node_name!r} reads artifacts that were not made together:\n"
        + "".join(f"- {why};\n" for why in reasons[:6]) + ("- …\n" if len(reasons) > 6 else "")
        + f"Rerun `kedro run --from-nodes {','.join(rerun)}` (or the whole pipeline).",
        stale=stale, rerun=rerun,
    )


class LineageRecords:
    """The lineage records of a project's ``data/.lineage/``: checks each node's inputs and records
    each artifact's ancestry as it is written (module docstring). Driven by
    :class:`~explainable_salt.hooks.LineageHook`."""

    def __init__(self, folder: Path) -> None:
        self._folder = Path(folder)
        self._catalog: Any = None
        self._pending: dict[str, dict] = {}  # output → what it is being made from, until written
        self._transient: dict[str, dict] = {}  # in-memory output of this run → its record

    def start_run(self, catalog: Any) -> None:
        """A run begins with ``catalog``: in-memory records of an earlier run are forgotten."""
        self._catalog, self._transient = catalog, {}

    def _read(self, name: str) -> dict | None:
        if name in self._transient:
            return self._transient[name]
        path = self._folder / f"{name}.json"
        try:
            record = json.loads(path.read_text()) if path.is_file() else None
        except ValueError:  # records are written whole: this one was edited
            logger.warning("Ignoring %s: not a lineage record", path)
            return None
        # One written before lineage was transitive fingerprinted values, not files: not comparable.
        return record if record is not None and "ancestors" in record else None

    def _dataset(self, name: str) -> Any:
        try:
            return self._catalog.get(name) if self._catalog is not None else None
        except DatasetError:  # an ancestor's name that a catalog pattern matches but cannot build
            return None

    def _fingerprint(self, name: str, value: Any) -> str | None:
        """``name``'s fingerprint: of its file or folder if local (as loaded or just written), of
        ``value`` otherwise; ``None`` for in-memory datasets."""
        dataset = self._dataset(name)
        if isinstance(dataset, MemoryDataset):
            return None
        path = read_path(dataset)
        return path_fingerprint(path) if path is not None else fingerprint(value)

    def _current(self, name: str) -> str | None:
        """The fingerprint of ``name`` as it is now: of its file, else as last recorded."""
        path = read_path(self._dataset(name))
        if path is not None:
            return path_fingerprint(path)
        return (self._read(name) or {}).get("fingerprint")

    def check_node(self, node: Any, catalog: Any, inputs: dict[str, Any]) -> None:
        """Raise :class:`StaleArtifactError` if ``node``'s ``inputs`` do not belong together; else
        remember what its outputs are being made from."""
        self._catalog = catalog
        fingerprints, lineage = {}, {}
        for name, value in inputs.items():
            if name.startswith("params:") or name == "parameters":
                continue
            if name in self._transient:
                lineage[name] = self._transient[name]
                continue
            version = self._fingerprint(name, value)
            if version is None:
                continue
            fingerprints[name] = version
            record = self._read(name)
            if record is not None and record.get("fingerprint", version) != version:
                logger.warning("%r is not the version its lineage record describes (replaced outside a run?): its "
                               "lineage is unknown, and what %r makes from it starts from it", name, node.name)
            elif record is not None:
                lineage[name] = record
        check_inputs(node.name, fingerprints, lineage, self._read, functools.cache(self._current))
        made_from = {}
        for record in lineage.values():
            made_from.update(record["ancestors"])
        record = {"node": node.name, "inputs": fingerprints, "ancestors": {**made_from, **fingerprints}}
        for output in node.outputs:
            self._pending[output] = record

    def record_saved(self, dataset_name: str, data: Any) -> None:
        """Write the record of ``dataset_name``, once all of it is written."""
        if isinstance(data, StackChunk) and data.start + len(data.chunk) < data.total:
            return  # an image stack is written when its last chunk is
        record = self._pending.pop(dataset_name, None)
        if record is None:
            return
        record = {**record, "written": time.time()}
        if isinstance(self._dataset(dataset_name), MemoryDataset):
            self._transient[dataset_name] = record
            return
        # What is on disk now, as the next node will read it: a chunked stack's published folder.
        record["fingerprint"] = self._fingerprint(dataset_name, data)
        target = self._folder / f"{dataset_name}.json"
        staged = staging_path(target)
        staged.write_text(json.dumps(record, indent=1))
        publish(staged, target)
