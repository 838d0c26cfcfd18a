"""How the explanation engine answers input too small to compute anything from.

An empty image stack ``(0, H, W, C)`` is no error: every function that maps images to per-image
arrays returns them with ``N = 0``, and the bootstrap tables give their rows with ``n_images`` 0
and NaN statistics. What no result can come from (no background image, no permutation, no
bootstrap resample, no absence definition, no chunk to join, no image for a one-number summary)
is refused at the function's entry with a ``ValueError`` naming the argument and, where the run
sets it, its parameter.
"""

from __future__ import annotations

import numpy as np


def require_count(count: int, minimum: int, argument: str, unit: str, parameter: str | None = None) -> None:
    """``ValueError`` unless ``count ≥ minimum``, worded as
    ``"background: 0 images; at least 1 needed (explainability.background.size)"``."""
    if count < minimum:
        where = f" ({parameter})" if parameter else ""
        raise ValueError(f"{argument}: {count} {unit}; at least {minimum} needed{where}")


def require_stack(images: np.ndarray, argument: str) -> None:
    """``ValueError`` unless ``images`` is a stack ``(N, H, W, C)`` of at least one channel
    (``N`` may be 0)."""
    shape = np.shape(images)
    if len(shape) != 4 or shape[-1] < 1:
        raise ValueError(f"{argument} must be a stack (N, H, W, C) with C ≥ 1, not of shape {shape}")
