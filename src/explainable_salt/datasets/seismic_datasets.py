"""Seismic files through the catalog: ``SegyDataset`` (SEG-Y, by segyio) and ``XarrayDataset``
(zarr stores and NetCDF files, by xarray). kedro-datasets has neither a SEG-Y nor a zarr
dataset.

- ``SegyDataset`` loads a file's traces with their headers
  lazily (:func:`~explainable_salt.seismic.segy.read_segy`, bounded by ``max_traces``,
  ``max_samples`` and ``max_total_samples``, read from the headers before any trace) and saves
  values ``(n_traces, n_samples)`` (NumPy, or Dask written block by block) in a ``template``
  file's trace order with that file's headers (:func:`~explainable_salt.seismic.segy.write_like`).
- ``XarrayDataset`` loads a zarr store (``.zarr``) or NetCDF file (``.nc``) as a lazy
  ``xarray.Dataset`` and saves one as a zarr store (Dask variables computed chunk by chunk).

Both name their location ``_filepath``, so the catalog writes them to a staging name first and
moves them into place whole (:class:`~explainable_salt.storage.atomic.AtomicDataCatalog`), and
refuses to replace them when they are raw data.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from kedro.io import AbstractDataset, DatasetError

from explainable_salt.seismic.segy import read_segy, write_like

logger = logging.getLogger(__name__)


class SegyDataset(AbstractDataset[Any, xr.Dataset]):
    """A SEG-Y file. Example catalog entries::

        seismic_segy_raw:
          type: explainable_salt.datasets.SegyDataset
          filepath: ${runtime_params:inference.sections, data/01_raw/line.sgy}

        seismic_probability_segy:
          type: explainable_salt.datasets.SegyDataset
          filepath: data/07_model_output/inference/probability.sgy
          template: ${runtime_params:inference.sections, data/01_raw/line.sgy}
    """

    def __init__(self, filepath: str, template: str | None = None, max_traces: int = 10_000_000,
                 max_samples: int = 20_000, max_total_samples: int = 500_000_000,
                 metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self._template = Path(template) if template else None
        self._limits = {"max_traces": max_traces, "max_samples": max_samples, "max_total_samples": max_total_samples}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "template": str(self._template), **self._limits}

    def load(self) -> xr.Dataset:
        return read_segy(self._filepath, **self._limits)

    def save(self, data: np.ndarray) -> None:
        if self._template is None:
            raise DatasetError(f"{self._filepath}: a SEG-Y output needs the template whose headers it copies")
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        write_like(self._template, self._filepath, data if hasattr(data, "dask") else np.asarray(data))
        logger.info("Wrote %s (headers of %s)", self._filepath, self._template)

    def _exists(self) -> bool:
        return self._filepath.is_file()


class XarrayDataset(AbstractDataset[xr.Dataset, xr.Dataset]):
    """A zarr store or a NetCDF file; saves zarr stores. Example catalog entry::

        seismic_volume:
          type: explainable_salt.datasets.XarrayDataset
          filepath: data/07_model_output/inference/volume.zarr
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def load(self) -> xr.Dataset:
        path = self._filepath
        if not path.exists():
            raise DatasetError(f"{path}: no such file or store")
        try:
            if path.suffix == ".nc":
                return xr.open_dataset(path)
            return xr.open_zarr(path)
        except Exception as error:  # xarray's backends raise many types for a file that is not theirs
            kind = "NetCDF file" if path.suffix == ".nc" else "zarr store"
            raise DatasetError(f"{path}: not a readable {kind} ({type(error).__name__}: {error})") from error

    def save(self, data: xr.Dataset) -> None:
        if self._filepath.suffix != ".zarr":
            raise DatasetError(f"{self._filepath}: XarrayDataset writes zarr stores, named *.zarr")
        data.to_zarr(self._filepath, mode="w")
        logger.info("Wrote %s (%s)", self._filepath, ", ".join(data.data_vars))

    def _exists(self) -> bool:
        return self._filepath.exists()
