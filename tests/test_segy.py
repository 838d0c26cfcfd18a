"""SEG-Y in and out (seismic/segy.py, datasets/seismic_datasets.py) on the real files of
../shared/seismic, and every bad input refused naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import segyio
import xarray as xr
from kedro.io import DatasetError

from explainable_salt.datasets import SegyDataset, XarrayDataset
from explainable_salt.seismic.segy import arrange, in_file_order, read_segy, write_like
from explainable_salt.tgs.validation import RawDataError

LIMITS = {"max_traces": 10**6, "max_samples": 10**5, "max_total_samples": 10**9}


def _read(path, **limits):
    return read_segy(path, **{**LIMITS, **limits})


@pytest.mark.parametrize(("name", "dims", "shape", "first_lines"), [
    ("small.sgy", ("iline", "xline", "sample"), (5, 5, 50), (1, 20)),
    ("f3.sgy", ("iline", "xline", "sample"), (23, 18, 75), (111, 875)),
    ("volve10-migvel-depth-sub3d.sgy", ("iline", "xline", "sample"), (18, 52, 226), None),
    ("volve10r12-full-twt-arb.sgy", ("trace", "sample"), (225, 850), None),
])
def test_the_real_files_are_read_in_their_geometry(seismic_dir, name, dims, shape, first_lines):
    values = arrange(_read(seismic_dir / name))
    assert values.dims == dims and values.shape == shape
    with segyio.open(str(seismic_dir / name), ignore_geometry=True) as segy:
        raw = segy.trace.raw[:].astype(np.float32)
        assert np.array_equal(values["sample"].to_numpy(), segy.samples)
    assert np.array_equal(in_file_order(values), raw)  # every trace where the file has it
    if first_lines:
        assert (int(values["iline"][0]), int(values["xline"][0])) == first_lines
    if dims[0] == "iline":  # the same geometry segyio itself infers
        with segyio.open(str(seismic_dir / name)) as segy:
            assert np.array_equal(values["iline"], segy.ilines) and np.array_equal(values["xline"], segy.xlines)
            assert np.array_equal(values.sel(iline=segy.ilines[1]).to_numpy(), segy.iline[segy.ilines[1]])


def test_a_2d_line_keeps_its_cdp_numbers_and_file_order(seismic_dir):
    line = arrange(_read(seismic_dir / "volve10r12-full-twt-arb.sgy"))
    assert np.array_equal(line["cdp"].to_numpy(), np.arange(1, 226))
    assert np.array_equal(line["trace_index"].to_numpy(), np.arange(225))


def test_the_2_byte_integer_f3_file_is_read_as_its_integers(seismic_dir):
    values = _read(seismic_dir / "f3.sgy")["amplitude"].to_numpy()
    assert values.dtype == np.float32 and np.array_equal(values, np.round(values))
    assert values.min() == -10239 and values.max() == 10827


@pytest.mark.parametrize("name", ["f3.sgy", "volve10r12-full-twt-arb.sgy", "small.sgy"])
def test_values_written_like_a_file_carry_its_headers_and_geometry(seismic_dir, tmp_path, name):
    source = seismic_dir / name
    values = arrange(_read(source))
    SegyDataset(filepath=str(tmp_path / "out.sgy"), template=str(source)).save(in_file_order(values) * 0.5 + 1)
    with segyio.open(str(source), ignore_geometry=True) as a, segyio.open(str(tmp_path / "out.sgy"),
                                                                           ignore_geometry=True) as b:
        assert b.tracecount == a.tracecount and np.array_equal(b.samples, a.samples)
        assert [dict(h) for h in b.header] == [dict(h) for h in a.header]
        assert b.text[0] == a.text[0] and b.bin[segyio.BinField.Format] == 5  # IEEE float, whatever the input's format
        assert np.allclose(b.trace.raw[:], a.trace.raw[:].astype(np.float32) * 0.5 + 1, rtol=1e-6)
    reread = arrange(_read(tmp_path / "out.sgy"))
    assert reread.dims == values.dims and all(np.array_equal(reread[d], values[d]) for d in values.dims)


def test_a_save_of_the_wrong_shape_or_without_template_is_refused(seismic_dir, tmp_path):
    with pytest.raises(ValueError, match="for .*f3.sgy's 414 traces of 75 samples"):
        write_like(seismic_dir / "f3.sgy", tmp_path / "x.sgy", np.zeros((10, 75), np.float32))
    with pytest.raises(DatasetError, match="needs the template"):
        SegyDataset(filepath=str(tmp_path / "y.sgy")).save(np.zeros((1, 1)))


def test_the_header_bytes_are_parameters(seismic_dir):
    # f3's crossline number sits at byte 193; read as byte 21 (CDP), the file is still a volume
    traces = _read(seismic_dir / "f3.sgy")
    assert arrange(traces, 189, 193).shape == (23, 18, 75)
    with pytest.raises(ValueError, match="byte 190 starts no standard trace-header field"):
        arrange(traces, 190, 193)
    # with a byte that holds one value (the line's zeros), a volume is read as a line in file order
    assert arrange(traces, 189, 233).dims == ("trace", "sample")


# --- bad input: each refused naming the file, nothing written ---

def _copy(seismic_dir, tmp_path, name="f3.sgy"):
    target = tmp_path / name
    shutil.copy(seismic_dir / name, target)
    target.chmod(0o644)
    return target


def _rewrite(source, target, change):
    """A copy of ``source`` with ``change(traces, headers)`` applied (IEEE floats)."""
    with segyio.open(str(source), ignore_geometry=True) as f:
        spec = segyio.tools.metadata(f)
        traces, headers = f.trace.raw[:].astype(np.float32), [dict(h) for h in f.header]
        text, binary = f.text[0], dict(f.bin)
    traces, headers = change(traces, headers)
    spec.tracecount, spec.format = len(traces), 5
    with segyio.create(str(target), spec) as out:
        out.text[0] = text
        out.bin.update({k: v for k, v in binary.items()})
        out.bin.update(format=5)
        for k, (trace, header) in enumerate(zip(traces, headers)):
            out.header[k] = header
            out.trace[k] = trace
    return target


def test_a_file_that_is_not_segy_is_refused_by_name(tmp_path):
    text = tmp_path / "notes.sgy"
    text.write_text("not seismic\n" * 10)
    with pytest.raises(RawDataError, match=r"notes.sgy: not a SEG-Y file \(120 bytes"):
        _read(text)
    noise = tmp_path / "noise.sgy"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(RawDataError, match="noise.sgy: (not a readable SEG-Y|truncated)"):
        _read(noise)
    with pytest.raises(RawDataError, match="missing.sgy: no such file"):
        _read(tmp_path / "missing.sgy")


def test_a_truncated_file_is_refused_by_name(seismic_dir, tmp_path):
    target = _copy(seismic_dir, tmp_path)
    target.write_bytes(target.read_bytes()[:-100])
    with pytest.raises(RawDataError, match="f3.sgy: truncated, or traces of different lengths"):
        _read(target)


def test_traces_of_different_lengths_are_refused_by_name(seismic_dir, tmp_path):
    target = _copy(seismic_dir, tmp_path)
    data = target.read_bytes()
    trace_bytes = 240 + 75 * 2
    cut = 3600 + 7 * trace_bytes + 240 + 20  # trace 7 gets three extra samples
    target.write_bytes(data[:cut] + b"\x00" * 6 + data[cut:])
    with pytest.raises(RawDataError, match="f3.sgy: truncated, or traces of different lengths"):
        _read(target)


def test_a_missing_trace_makes_the_geometry_irregular(seismic_dir, tmp_path):
    target = _rewrite(seismic_dir / "f3.sgy", tmp_path / "holed.sgy", lambda t, h: (np.delete(t, 40, 0), h[:40] + h[41:]))
    with pytest.raises(RawDataError, match=r"holed.sgy: irregular geometry: 1 of the 414 positions .* have no trace, "
                                            r"first inline 113 crossline 879"):
        arrange(_read(target))


def test_a_repeated_position_makes_the_geometry_irregular(seismic_dir, tmp_path):
    def repeat(traces, headers):
        headers[5] = {**headers[5], segyio.TraceField.INLINE_3D: headers[4][segyio.TraceField.INLINE_3D],
                      segyio.TraceField.CROSSLINE_3D: headers[4][segyio.TraceField.CROSSLINE_3D]}
        return traces, headers
    target = _rewrite(seismic_dir / "f3.sgy", tmp_path / "twice.sgy", repeat)
    with pytest.raises(RawDataError, match="twice.sgy: irregular geometry: trace 5 repeats inline 111, crossline 879"):
        arrange(_read(target))


@pytest.mark.parametrize(("value", "message"), [(np.nan, "hold NaN or infinite samples"), (np.inf, "hold NaN or infinite samples"),
                                                (0.0, "all zero")])
def test_nan_infinite_and_all_zero_traces_are_refused_by_name(seismic_dir, tmp_path, value, message):
    def spoil(traces, headers):
        traces[[3, 9]] = value if value == 0 else traces[[3, 9]]
        if value != 0:
            traces[[3, 9], 10] = value
        return traces, headers
    target = _rewrite(seismic_dir / "volve10r12-full-twt-arb.sgy", tmp_path / "spoilt.sgy", spoil)
    with pytest.raises(RawDataError, match=rf"spoilt.sgy: 2 .*trace\(s\) (are )?{message}, first \[3, 9\]"):
        _read(target)


@pytest.mark.parametrize(("limit", "what"), [("max_traces", "414 traces"), ("max_samples", "75 samples per trace"),
                                             ("max_total_samples", "31,050 samples in all")])
def test_absurd_sizes_are_refused_from_the_headers(seismic_dir, limit, what):
    with pytest.raises(RawDataError, match=f"f3.sgy: {what}, more than the 10 allowed"):
        _read(seismic_dir / "f3.sgy", **{limit: 10})


def test_a_zarr_store_and_a_netcdf_file_round_trip(tmp_path):
    volume = xr.Dataset({"amplitude": (("iline", "xline", "twt"), np.arange(24, dtype=np.float32).reshape(2, 3, 4))},
                        coords={"iline": [10, 11], "xline": [1, 2, 3], "twt": [0.0, 4.0, 8.0, 12.0]})
    XarrayDataset(filepath=str(tmp_path / "v.zarr")).save(volume)
    xr.testing.assert_identical(XarrayDataset(filepath=str(tmp_path / "v.zarr")).load().load(), volume)
    volume.to_netcdf(tmp_path / "v.nc")
    xr.testing.assert_identical(XarrayDataset(filepath=str(tmp_path / "v.nc")).load().load(), volume)
    (tmp_path / "bad.nc").write_text("no")
    with pytest.raises(DatasetError, match="bad.nc: not a readable NetCDF file"):
        XarrayDataset(filepath=str(tmp_path / "bad.nc")).load()
    with pytest.raises(DatasetError, match="v.nc: XarrayDataset writes zarr stores"):
        XarrayDataset(filepath=str(tmp_path / "v.nc")).save(volume)
