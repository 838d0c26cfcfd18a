"""Additivity of an explanation, ``expected + Σ terms = prediction`` at every pixel: how far it
is missed, and the error a run raises when that exceeds its tolerance. Shapley values, the
Shapley–Taylor terms and stitched section explanations are all checked here."""

from __future__ import annotations

import numpy as np


class AdditivityError(RuntimeError):
    """expected + Σ contributions differs from the prediction by more than the tolerance."""


def max_additivity_error(expected: np.ndarray, terms: np.ndarray, predictions: np.ndarray) -> float:
    """``max |expected + Σ terms − prediction|`` in float64, for terms ``(N, H, W, T)``, expected
    ``(H, W)`` or ``(N, H, W)`` and predictions ``(N, H, W)``; 0 for no image (nothing is missed)."""
    residual = expected + terms.astype(np.float64).sum(axis=-1) - predictions
    return float(np.abs(residual).max(initial=0.0))


def require_additive(error: float, tolerance: float, what: str) -> None:
    """Raise :class:`AdditivityError` naming ``what`` was explained if its worst additivity
    ``error`` exceeds ``tolerance`` (``additivity_tolerance``)."""
    if error > tolerance:
        raise AdditivityError(f"Shapley additivity violated ({what}): max error {error:.3g} > {tolerance}")
