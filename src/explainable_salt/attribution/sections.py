"""Channel Shapley values of sections of any size from 101 × 101 up, stitched from their tiles.

Each overlapping 101 × 101 tile is explained exactly as an image is (:mod:`.shapley`); the
contributions, the expected-value map and the predictions are then blended with the same tile
weights (:mod:`explainable_salt.segmentation.tiling`). Those weights sum to 1 at every pixel, so
``expected + Σ φ = prediction`` holds at every stitched pixel as it does on each tile.

Against one background shared by every tile, the stitched expected-value map depends only on the
section's size, and its 101 × 101 pattern repeats with every tile; φ, which adds up to the
prediction minus it, repeats it too. Each tile against its own draw of background images
(:class:`~explainable_salt.attribution.absence.DrawnBackgroundAbsence`) has its own expected
value, and the stitched maps carry no tile grid.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from explainable_salt.attribution.additivity import max_additivity_error
from explainable_salt.attribution.inputs import require_stack
from explainable_salt.attribution.shapley import ChannelShapley
from explainable_salt.segmentation.tiling import DEFAULT_OVERLAP, blend, cut, plan_tiles


def stitched_shapley(
    explain: Callable[[np.ndarray], ChannelShapley], sections: np.ndarray, overlap: int = DEFAULT_OVERLAP
) -> ChannelShapley:
    """Stitched channel Shapley values of sections ``(n, H, W, C)`` of one size.

    ``explain`` maps tiles ``(m, 101, 101, C)`` to their :class:`ChannelShapley`. Returns
    contributions ``(n, H, W, C)``, the expected-value map (``(H, W)`` when the tiles share one,
    else ``(n, H, W)``) and predictions ``(n, H, W)``, all float32, with the worst additivity
    error of those float32 values; no section gives ``n = 0``.
    """
    require_stack(sections, "sections")
    tiling = plan_tiles(sections.shape[1:3], overlap)
    tiles = explain(cut(sections, tiling))
    contributions = blend(tiles.contributions, tiling).astype(np.float32)
    if tiles.expected_value.ndim == 2:  # one map shared by every tile: one stitched map
        shared = np.broadcast_to(tiles.expected_value, (len(tiling), *tiles.expected_value.shape))
        expected = blend(shared, tiling)[0].astype(np.float32)
    else:
        expected = blend(tiles.expected_value, tiling).astype(np.float32)
    predictions = blend(tiles.predictions, tiling).astype(np.float32)
    return ChannelShapley(contributions, expected, predictions,
                          max_additivity_error(expected, contributions, predictions))
