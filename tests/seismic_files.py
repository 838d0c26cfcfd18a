"""Seismic test files made from images: a stack of 101 x 101 grey images as a SEG-Y volume."""

from __future__ import annotations

import numpy as np

from explainable_salt.seismic.segy import write_volume as write_segy_volume


def write_volume(path, images: list[np.ndarray], gain: float, sample_format: int = 1) -> None:
    """``images`` as a 3-D SEG-Y volume, inline k + 1 = image k (crosslines its columns, samples its
    rows), amplitudes ``gain × (grey − 128)``, IBM floats by default."""
    amplitudes = gain * (np.stack(images).astype(np.float32).transpose(0, 2, 1) - 128)
    write_segy_volume(path, amplitudes, 4000.0, sample_format)
