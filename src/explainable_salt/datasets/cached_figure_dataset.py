"""``CachedFigureDataset``: Kedro's ``CachedDataset`` around a figure file, previewable in kedro-viz.

The reporting pipeline keeps each figure it draws in memory (``CachedDataset``), because
``build_report`` embeds it and ``MatplotlibDataset`` cannot load. kedro-viz previews a dataset
only if the catalog's object has a ``preview()``, which ``CachedDataset`` lacks: this one hands the
wrapped dataset's image preview on.
"""

from __future__ import annotations

from kedro.io import CachedDataset
from kedro_datasets._typing import ImagePreview


class CachedFigureDataset(CachedDataset):
    """A ``CachedDataset`` whose kedro-viz preview is the saved figure's.

    Example catalog entry::

        "{name}_figure":
          type: explainable_salt.datasets.cached_figure_dataset.CachedFigureDataset
          dataset:
            type: matplotlib.MatplotlibDataset
            filepath: data/08_reporting/{name}.png
    """

    def preview(self) -> ImagePreview:
        return self._dataset.preview()
