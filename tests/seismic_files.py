"""Seismic test files made from images: a stack of 101 x 101 grey images as a SEG-Y volume."""

from __future__ import annotations

import numpy as np
import segyio


def write_volume(path, images: list[np.ndarray], gain: float, sample_format: int = 1) -> None:
    """``images`` as a 3-D SEG-Y volume, inline k + 1 = image k (crosslines its columns, samples its
    rows), amplitudes ``gain × (grey − 128)``, IBM floats by default."""
    spec = segyio.spec()
    spec.iline, spec.xline, spec.format, spec.sorting = 189, 193, sample_format, 2
    spec.ilines, spec.xlines, spec.samples = np.arange(1, len(images) + 1), np.arange(1, 102), np.arange(101) * 4.0
    with segyio.create(str(path), spec) as out:
        out.bin.update(hdt=4000, hns=101)
        k = 0
        for il, image in zip(spec.ilines, images):
            for xl in spec.xlines:
                out.header[k] = {segyio.TraceField.INLINE_3D: int(il), segyio.TraceField.CROSSLINE_3D: int(xl),
                                 segyio.TraceField.TRACE_SAMPLE_COUNT: 101, segyio.TraceField.TRACE_SAMPLE_INTERVAL: 4000}
                out.trace[k] = gain * (image[:, xl - 1].astype(np.float32) - 128)
                k += 1
