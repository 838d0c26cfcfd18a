"""``OptionalDataset``: a raw file that may or may not be there (``sample_submission.csv``)."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.core import parse_dataset_definition


class OptionalDataset(AbstractDataset[Any, Any]):
    """Loads the wrapped dataset, or ``None`` when it does not exist; read-only.

    Example catalog entry::

        sample_submission:
          type: explainable_salt.datasets.OptionalDataset
          dataset:
            type: pandas.CSVDataset
            filepath: data/01_raw/sample_submission.csv
    """

    def __init__(self, dataset: dict[str, Any], metadata: dict[str, Any] | None = None):
        dataset_class, config = parse_dataset_definition(dict(dataset))
        self._dataset = dataset_class(**config)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe()}

    def load(self) -> Any:
        return self._dataset.load() if self._dataset.exists() else None

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._dataset} is raw input: the project never writes it")

    def _exists(self) -> bool:
        return True
