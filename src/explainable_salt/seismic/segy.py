"""SEG-Y files in and out, through segyio: traces with their headers, arranged into lines and
volumes by the inline / crossline numbers of their headers, and written back with the input's
headers.

A file is read as it is stored, a table of traces ``(trace, sample)`` with every standard
trace-header field as a coordinate named by its first byte (``byte_189``): which bytes hold the
inline and crossline numbers is a parameter, not a property of the file, so the geometry is
settled afterwards (:func:`arrange`). Every refusal raises
:class:`~explainable_salt.tgs.validation.RawDataError` naming the file and what is wrong.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import segyio
import xarray as xr

from explainable_salt.tgs.validation import RawDataError

logger = logging.getLogger(__name__)

# The standard trace-header fields (segyio's ``TraceField``), by first byte: the values an inline
# or crossline header byte may take.
TRACE_FIELDS: dict[int, str] = {int(field): str(field) for field in segyio.TraceField.enums()}
# SEG-Y rev 1's inline / crossline bytes and the CDP number, kept on 2-D lines.
INLINE_BYTE, CROSSLINE_BYTE, CDP_BYTE = 189, 193, 21
VOLUME_DIMS = ("iline", "xline", "sample")
LINE_DIMS = ("trace", "sample")


def header_coordinate(byte: int) -> str:
    """The name of the trace-header field starting at ``byte`` as a coordinate of a read file."""
    if byte not in TRACE_FIELDS:
        raise ValueError(f"byte {byte} starts no standard trace-header field; one of {sorted(TRACE_FIELDS)}")
    return f"byte_{byte}"


def _open(path: Path):
    try:
        return segyio.open(str(path), ignore_geometry=True)
    except (RuntimeError, OSError, ValueError) as error:
        size = path.stat().st_size if path.is_file() else None
        if size is not None and size < 3600 + 240:
            raise RawDataError(f"{path}: not a SEG-Y file ({size} bytes, less than the 3,600-byte file header "
                               "and one trace header)") from error
        if "inconsistent with file size" in str(error):
            raise RawDataError(f"{path}: truncated, or traces of different lengths: its {size:,} bytes are not "
                               "a whole number of traces of the length its binary header gives") from error
        raise RawDataError(f"{path}: not a readable SEG-Y file ({error})") from error


TRACE_BLOCK_BYTES = 64 * 2**20  # a lazily read file is read in blocks of traces of about this size


def _read_traces(path: str, start: int, stop: int, n_samples: int) -> np.ndarray:
    with segyio.open(path, ignore_geometry=True) as segy:
        return np.asarray(segy.trace.raw[start:stop], dtype=np.float32).reshape(stop - start, n_samples)


def _read_header(path: str, byte: int) -> np.ndarray:
    with segyio.open(path, ignore_geometry=True) as segy:
        return np.asarray(segy.attributes(byte)[:]).ravel()


def read_segy(path: str | Path, max_traces: int, max_samples: int, max_total_samples: int) -> xr.Dataset:
    """The traces of a SEG-Y file in file order: ``amplitude (trace, sample) float32``, whatever the
    stored sample format (IBM or IEEE float, integers), with each trace-header field as a
    ``(trace,)`` coordinate (:func:`header_coordinate`) and ``sample`` in ms (or m for depth data)
    from the binary header's interval.

    Lazy: amplitudes and header fields are Dask arrays read from the file when computed, in
    blocks of traces of about :data:`TRACE_BLOCK_BYTES`, so a file larger than memory can be
    read section by section. One pass over the file, block by block, checks its samples first.

    Refused, naming the file: not SEG-Y, truncated or traces of unequal length, more than
    ``max_traces`` traces, ``max_samples`` samples per trace or ``max_total_samples`` in all (read
    from the headers, before any trace), no samples, NaN or infinite samples, traces that are all
    zero.
    """
    import dask
    import dask.array as da

    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: no such file")
    with _open(path) as segy:
        n_traces, n_samples = segy.tracecount, len(segy.samples)
        for what, value, limit in (("traces", n_traces, max_traces), ("samples per trace", n_samples, max_samples),
                                   ("samples in all", n_traces * n_samples, max_total_samples)):
            if value > limit:
                raise RawDataError(f"{path}: {value:,} {what}, more than the {limit:,} allowed")
        if n_traces == 0 or n_samples == 0:
            raise RawDataError(f"{path}: {n_traces} traces of {n_samples} samples: nothing to read")
        samples, interval, sample_format = np.asarray(segy.samples, np.float64), segyio.tools.dt(segy), segy.format
        header_dtype = np.asarray(segy.attributes(INLINE_BYTE)[0:1]).dtype
    per_block = max(1, TRACE_BLOCK_BYTES // (4 * n_samples))
    blocks = [da.from_delayed(dask.delayed(_read_traces, pure=True)(str(path), a, min(a + per_block, n_traces),
                                                                    n_samples),
                              (min(a + per_block, n_traces) - a, n_samples), np.float32)
              for a in range(0, n_traces, per_block)]
    amplitude = da.concatenate(blocks)
    headers = {header_coordinate(byte): ("trace", da.from_delayed(dask.delayed(_read_header, pure=True)(
        str(path), byte), (n_traces,), header_dtype)) for byte in TRACE_FIELDS}
    traces = xr.Dataset({"amplitude": (LINE_DIMS, amplitude)}, coords={"sample": samples, **headers},
                        attrs={"source": str(path), "sample_interval_us": float(interval),
                               "sample_format": str(sample_format)})
    require_live_samples(traces["amplitude"], path)
    logger.info("Read %s: %d traces of %d samples (%s, every %g µs)", path, n_traces, n_samples, sample_format,
                interval)
    return traces


def trace_blocks(values: xr.DataArray | np.ndarray, max_bytes: int = TRACE_BLOCK_BYTES):
    """Yield ``(first trace, block (n, n_samples) float32)`` over a line ``(trace, sample)`` or a
    volume ``(iline, xline, sample)`` (traces numbered in that order), a few whole lines of
    about ``max_bytes`` at a time: a lazy (Dask, zarr) array is read block by block."""
    shape = values.shape
    per_trace = int(np.prod(shape[1:])) * 4
    step = max(1, max_bytes // per_trace)
    traces_per_line = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
    for start in range(0, shape[0], step):
        block = np.asarray(values[start:start + step], dtype=np.float32)
        yield start * traces_per_line, block.reshape(-1, shape[-1])


def require_live_samples(amplitude: xr.DataArray | np.ndarray, path: Path | str) -> None:
    """Refuse NaN or infinite samples and all-zero traces of a line ``(n_traces, n_samples)`` or a
    volume ``(iline, xline, sample)``, naming the first traces (0-based, in the order of the
    array); read block by block (:func:`trace_blocks`)."""
    bad, dead = [], []
    for start, block in trace_blocks(amplitude):
        bad.extend((start + np.flatnonzero(~np.isfinite(block).all(axis=1))).tolist())
        dead.extend((start + np.flatnonzero(~block.any(axis=1))).tolist())
    n_traces = int(np.prod(amplitude.shape[:-1]))
    if bad:
        raise RawDataError(f"{path}: {len(bad)} trace(s) hold NaN or infinite samples, first {bad[:5]} "
                           "(0-based, file order)")
    if dead:
        raise RawDataError(f"{path}: {len(dead)} of {n_traces} trace(s) are all zero, first "
                           f"{dead[:5]} (0-based, file order): a dead or missing trace cannot be told from "
                           "salt; fill or remove them before running")


def arrange(traces: xr.Dataset, iline_byte: int = INLINE_BYTE, xline_byte: int = CROSSLINE_BYTE) -> xr.DataArray:
    """The amplitudes of :func:`read_segy` in their geometry.

    When the headers at ``iline_byte`` and ``xline_byte`` both take more than one value, a 3-D
    volume ``(iline, xline, sample)`` with those numbers as coordinates and ``trace_index``
    ``(iline, xline)``, each trace's position in the file; each (inline, crossline) must occur
    exactly once and together fill the grid, else the file's geometry is refused as irregular.
    Otherwise a 2-D line ``(trace, sample)`` in file order, with the CDP numbers and ``trace_index``
    as coordinates.
    """
    source = traces.attrs.get("source", "the input")
    inline = traces[header_coordinate(iline_byte)].to_numpy()
    crossline = traces[header_coordinate(xline_byte)].to_numpy()
    amplitude = traces["amplitude"]
    attrs = {**traces.attrs, "iline_byte": iline_byte, "xline_byte": xline_byte}
    if len(np.unique(inline)) < 2 or len(np.unique(crossline)) < 2:
        return xr.DataArray(amplitude.data, dims=LINE_DIMS, name="amplitude", attrs=attrs, coords={
            "trace": np.arange(amplitude.sizes["trace"]), "sample": traces["sample"].to_numpy(),
            "cdp": ("trace", traces[header_coordinate(CDP_BYTE)].to_numpy()),
            "trace_index": ("trace", np.arange(amplitude.sizes["trace"]))})
    ilines, i = np.unique(inline, return_inverse=True)
    xlines, j = np.unique(crossline, return_inverse=True)
    trace_index = np.full((len(ilines), len(xlines)), -1, dtype=np.int64)
    trace_index[i, j] = np.arange(len(inline))
    _, first = np.unique(i * len(xlines) + j, return_index=True)
    repeated = np.setdiff1d(np.arange(len(inline)), first)
    if len(repeated):
        k = repeated[0]
        raise RawDataError(f"{source}: irregular geometry: trace {k} repeats inline {inline[k]}, crossline "
                           f"{crossline[k]} ({len(repeated)} trace(s) at a position taken; inline / crossline "
                           f"header bytes {iline_byte} / {xline_byte})")
    missing = np.argwhere(trace_index < 0)
    if len(missing):
        a, b = missing[0]
        raise RawDataError(f"{source}: irregular geometry: {len(missing)} of the {trace_index.size} positions of its "
                           f"{len(ilines)} inlines x {len(xlines)} crosslines have no trace, first inline {ilines[a]} "
                           f"crossline {xlines[b]} (header bytes {iline_byte} / {xline_byte})")
    volume = amplitude.data[trace_index.ravel()]
    if not isinstance(volume, np.ndarray):  # Dask: blocks of whole inlines, so that the reshape needs no shuffle
        inlines_per_block = max(1, TRACE_BLOCK_BYTES // (4 * volume.shape[1] * len(xlines)))
        volume = volume.rechunk({0: inlines_per_block * len(xlines), 1: -1})
    volume = volume.reshape(len(ilines), len(xlines), -1)
    return xr.DataArray(volume, dims=VOLUME_DIMS, name="amplitude", attrs=attrs, coords={
        "iline": ilines, "xline": xlines, "sample": traces["sample"].to_numpy(),
        "trace_index": (("iline", "xline"), trace_index)})


def in_file_order(values: xr.DataArray):
    """``(n_traces, n_samples) float32``: a line's or volume's values back in the order of the file
    they were read from (its ``trace_index`` coordinate); lazy (Dask) when ``values`` is."""
    trace_index = values["trace_index"].to_numpy().ravel()
    flat = values.transpose(*values["trace_index"].dims, "sample").data.reshape(len(trace_index), -1)
    return flat[np.argsort(trace_index)].astype(np.float32)


def write_like(template: str | Path, target: str | Path, traces) -> None:
    """Write ``traces`` ``(n_traces, n_samples)`` (NumPy or Dask), in ``template``'s trace order, to ``target`` as
    a SEG-Y file with ``template``'s textual, binary and trace headers, samples as 4-byte IEEE
    floats: it opens wherever the template opens, on the same geometry."""
    with segyio.open(str(template), ignore_geometry=True) as source:
        if traces.shape != (source.tracecount, len(source.samples)):
            raise ValueError(f"{traces.shape} values for {template}'s {source.tracecount} traces of "
                             f"{len(source.samples)} samples")
        spec = segyio.tools.metadata(source)
        spec.format = 5  # IEEE float, whatever the template's samples were
        with segyio.create(str(target), spec) as out:
            for k in range(1 + spec.ext_headers):
                out.text[k] = source.text[k]
            out.bin = source.bin
            out.bin.update(format=5)
            out.header = source.header
            for start, block in trace_blocks(traces):  # lazy (Dask) values computed a block at a time
                for k, trace in enumerate(block):
                    out.trace[start + k] = np.ascontiguousarray(trace)


def write_volume(path: str | Path, amplitudes: np.ndarray, sample_interval_us: float = 4000.0,
                 sample_format: int = 5) -> None:
    """Write ``amplitudes`` ``(n_inlines, n_crosslines, n_samples)`` as an inline-sorted SEG-Y
    volume: inlines and crosslines numbered from 1 at bytes 189 / 193, CDP numbers at byte 21 in
    file order, samples every ``sample_interval_us`` in ``sample_format`` (segyio's codes: 1 IBM
    float, 5 IEEE float). One inline is a 2-D line once read back."""
    n_inlines, n_crosslines, n_samples = amplitudes.shape
    spec = segyio.spec()
    spec.iline, spec.xline, spec.format, spec.sorting = INLINE_BYTE, CROSSLINE_BYTE, sample_format, 2
    spec.ilines, spec.xlines = np.arange(1, n_inlines + 1), np.arange(1, n_crosslines + 1)
    spec.samples = np.arange(n_samples) * sample_interval_us / 1000
    with segyio.create(str(path), spec) as out:
        out.bin.update(hdt=int(sample_interval_us), hns=n_samples)
        for k, (i, j) in enumerate(np.ndindex(n_inlines, n_crosslines)):
            out.header[k] = {INLINE_BYTE: i + 1, CROSSLINE_BYTE: j + 1, CDP_BYTE: k + 1,
                             segyio.TraceField.TRACE_SAMPLE_COUNT: n_samples,
                             segyio.TraceField.TRACE_SAMPLE_INTERVAL: int(sample_interval_us)}
            out.trace[k] = np.ascontiguousarray(amplitudes[i, j], dtype=np.float32)
