"""What a user gave the project is never overwritten: raw datasets are written once, never replaced.

A dataset is raw when the catalog says so (``metadata: kedro-viz: layer: raw``) or when it lives
under a ``01_raw`` folder. This module is the one place that decides it:

- :func:`refuse_to_replace` is called by :class:`~explainable_salt.storage.atomic.AtomicDataCatalog`
  before every save, whatever runner or notebook saves: a raw dataset that exists is not written;
- :func:`refuse_raw_outputs` is called before a run (:class:`DataProtectionHook`): a pipeline that
  writes raw datasets (``synthetic_data``) refuses to start when ``01_raw`` holds anything, so it
  never mixes its files with a user's or stops half way through them.

Outputs of the other layers are replaced as usual, each one whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from explainable_salt.storage.dataset_paths import local_path

RAW_LAYER = "raw"
RAW_FOLDER = "01_raw"
# Files that mark a folder, not data.
MARKERS = {".gitkeep"}


def is_raw(dataset: Any) -> bool:
    """Whether ``dataset`` holds raw data: declared in the catalog's ``raw`` layer, or stored
    under a ``01_raw`` folder."""
    metadata = getattr(dataset, "metadata", None) or {}
    if (metadata.get("kedro-viz") or {}).get("layer") == RAW_LAYER:
        return True
    inner = getattr(dataset, "_dataset", None)
    if inner is not None and is_raw(inner):
        return True
    path = local_path(dataset)
    return path is not None and RAW_FOLDER in path.parts


def _present(dataset: Any) -> bool:
    inner = getattr(dataset, "_dataset", None)
    if inner is not None:  # a wrapper (OptionalDataset "exists" even when its file does not)
        return _present(inner)
    try:
        return bool(dataset.exists())
    except DatasetError:
        return True  # cannot tell: assume there is something to protect


def refuse_to_replace(name: str, dataset: Any) -> None:
    """Raise ``DatasetError`` when ``dataset`` is raw and already exists; do nothing otherwise."""
    if is_raw(dataset) and _present(dataset):
        where = local_path(dataset) or name
        raise DatasetError(
            f"Refusing to write {name!r} ({where}): it is raw data that already exists, and raw data is "
            "never replaced. Move it away yourself if you mean to replace it."
        )


def raw_folder_entries(folders: set[Path]) -> list[Path]:
    """Every file or folder in ``folders`` except markers, in name order."""
    return sorted(entry for folder in folders if folder.is_dir() for entry in folder.iterdir()
                  if entry.name not in MARKERS)


def refuse_raw_outputs(outputs: set[str], catalog: Any) -> None:
    """Raise ``DatasetError`` before a run whose pipeline writes raw datasets (``outputs``) when
    any raw dataset of ``catalog`` exists or its ``01_raw`` folders hold anything."""
    names = [name for name in catalog if not name.startswith("params:") and name != "parameters"]
    raw = {name: catalog.get(name) for name in names}
    raw = {name: dataset for name, dataset in raw.items() if dataset is not None and is_raw(dataset)}
    written = sorted(set(raw) & set(outputs))
    if not written:
        return
    present = [str(local_path(raw[name]) or name) for name in sorted(raw) if _present(raw[name])]
    folders = {parent for dataset in raw.values() if (path := local_path(dataset)) is not None
               for parent in path.parents if parent.name == RAW_FOLDER}
    present += [str(entry) for entry in raw_folder_entries(folders) if str(entry) not in present]
    if present:
        raise DatasetError(
            f"Refusing to run: this pipeline writes raw data ({', '.join(written)}), but the raw folder already "
            f"holds {', '.join(present[:6])}{' and more' if len(present) > 6 else ''}. Raw data is never "
            "replaced: empty the raw folder first if you mean to generate the built-in dataset there."
        )
