"""Amplitudes to grey levels (seismic/amplitude.py) and lines and volumes to sections and back
(seismic/sections.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from explainable_salt.seismic.amplitude import amplitude_quantiles, grey_map, grey_quantiles, resampled, to_grey
from explainable_salt.seismic.sections import prepared, restored


def _volume(shape=(3, 4, 120), seed=0):
    values = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return xr.DataArray(values, dims=("iline", "xline", "sample"),
                        coords={"iline": [10, 11, 12], "xline": [5, 6, 7, 8], "sample": np.arange(shape[2]) * 4.0})


def test_grey_quantiles_are_read_from_the_histogram():
    images = np.repeat(np.arange(100, dtype=np.uint8), 10)  # 0..99, ten of each
    q = grey_quantiles(images)
    assert q[0] == 0 and q[-1] == 99 and q[500] in (49, 50)


def test_the_linear_map_sends_the_matched_quantiles_to_the_reference_grey_levels():
    reference = grey_quantiles(np.random.default_rng(1).normal(120, 28, 200_000).clip(0, 255).astype(np.uint8))
    amplitude = np.random.default_rng(2).laplace(0, 3000, 500_000)
    knots = grey_map(amplitude_quantiles(amplitude), reference, "linear", (0.05, 0.95))
    grey = to_grey(amplitude, knots)
    assert abs(np.quantile(grey, 0.05) - reference[50]) <= 1 and abs(np.quantile(grey, 0.95) - reference[950]) <= 1
    # linear: equal steps of amplitude are equal steps of grey between the clips
    assert to_grey(np.array([0.0]), knots)[0] - to_grey(np.array([-1000.0]), knots)[0] == pytest.approx(
        to_grey(np.array([1000.0]), knots)[0] - to_grey(np.array([0.0]), knots)[0], abs=1)


def test_the_histogram_map_makes_the_whole_grey_distribution_the_references():
    reference_images = np.random.default_rng(1).normal(120, 28, 200_000).clip(0, 255).astype(np.uint8)
    reference = grey_quantiles(reference_images)
    amplitude = np.random.default_rng(2).standard_cauchy(300_000)  # heavy tails: a linear map would not fit
    grey = to_grey(amplitude, grey_map(amplitude_quantiles(amplitude), reference, "histogram", (0.05, 0.95)))
    assert np.abs(np.quantile(grey, np.linspace(0.01, 0.99, 99)) - np.quantile(reference_images,
                                                                                np.linspace(0.01, 0.99, 99))).max() <= 2


def test_a_constant_section_has_nothing_to_match():
    with pytest.raises(ValueError, match="quantiles are equal"):
        grey_map(amplitude_quantiles(np.ones(1000)), np.linspace(0, 255, 1001), "linear", (0.05, 0.95))


IDENTITY = (np.array([0.0, 255.0]), np.array([0.0, 255.0]))  # grey = amplitude, for volumes of grey levels
PARAMS = {"direction": "inline", "resample": [1.0, 1.0]}


def _grey_volume(shape=(3, 4, 120), seed=0, chunks=None):
    volume = _volume(shape, seed).copy(data=np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32))
    return volume.chunk(chunks) if chunks else volume


@pytest.mark.parametrize("direction", ["inline", "crossline", "both"])
@pytest.mark.parametrize("chunks", [None, {"iline": 1}, {"xline": 2}])  # in memory, or Dask (lazy) either way
def test_a_volume_cut_into_sections_is_put_back_whole(direction, chunks):
    from explainable_salt.pipelines.inference.seismic_nodes import seismic_volume
    from explainable_salt.seismic.sections import PreparedSections, cut_dims, section_id

    volume = _grey_volume(chunks=chunks)
    cut = {}
    for dim in cut_dims(volume, direction):
        stack = PreparedSections(volume, dim, IDENTITY, 1.0, (1.0, 1.0))
        assert stack.section_shape == (120, 4 if dim == "iline" else 3) and len(stack) == volume.sizes[dim]
        sections = stack[:]  # samples down, padded at the right to one tile
        assert sections.shape == (len(stack), 120, 101) and sections.dtype == np.uint8
        for k, v in enumerate(volume[dim].to_numpy()):
            cut[section_id(dim, v)] = sections[k, :, : stack.section_shape[1]].astype(np.float32)
            np.testing.assert_array_equal(stack[k], sections[k])  # one section read alone is the same
    assert len(cut) == {"inline": 3, "crossline": 4, "both": 7}[direction]
    assert "iline_000010" in cut or "xline_000005" in cut
    out = seismic_volume(cut, {}, volume, {}, {"threshold": 100.0}, {**PARAMS, "direction": direction})
    np.testing.assert_array_equal(out["probability"].to_numpy(), volume.to_numpy())
    np.testing.assert_array_equal(out["mask"].to_numpy(), volume.to_numpy() > 100)
    assert out["probability"].chunks[cut_dims(volume, direction)[0] == "xline"] == (1,) * volume.sizes[
        cut_dims(volume, direction)[0]]  # one section per chunk along the first direction


def test_a_line_is_one_section_samples_down():
    from explainable_salt.pipelines.inference.seismic_nodes import seismic_volume
    from explainable_salt.seismic.sections import PreparedSections

    line = xr.DataArray(np.arange(12.0).reshape(3, 4) * 20, dims=("trace", "sample"),
                        coords={"trace": [0, 1, 2], "sample": [0, 4, 8, 12]}, attrs={"source": "/x/my_line.sgy"})
    stack = PreparedSections(line, None, IDENTITY, 1.0, (1.0, 1.0))
    assert len(stack) == 1 and stack.section_shape == (4, 3) and stack[:].shape == (1, 101, 101)
    np.testing.assert_array_equal(stack[0][:4, :3], line.to_numpy().T)
    out = seismic_volume({"my_line": stack[0][:4, :3].astype(np.float32)}, {}, line, {}, {"threshold": 100.0}, PARAMS)
    np.testing.assert_array_equal(out["probability"].to_numpy(), line.to_numpy())


def test_prepared_sections_flip_polarity_and_map_to_grey():
    from explainable_salt.seismic.sections import PreparedSections

    volume = _volume()
    knots = (np.array([-2.0, 2.0]), np.array([0.0, 255.0]))
    flipped = PreparedSections(volume, "xline", knots, -1.0, (1.0, 1.0))[1]
    expected = to_grey(-volume.isel(xline=1).transpose("sample", "iline").to_numpy(), knots)
    np.testing.assert_array_equal(flipped[:, :3], expected)


@pytest.mark.parametrize(("shape", "factors"), [((50, 5), (1, 1)), ((280, 260), (1, 1)), ((140, 90), (2, 1.5)),
                                                ((300, 400), (0.5, 0.5))])
def test_a_prepared_section_is_at_least_one_tile_and_its_outputs_come_back_on_its_grid(shape, factors):
    section = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    ready = prepared(section, factors)
    assert min(ready.shape) >= 101 and ready.dtype == np.uint8
    scaled = resampled(section, factors)
    np.testing.assert_array_equal(ready[: scaled.shape[0], : scaled.shape[1]], scaled)  # padded at bottom / right
    output = np.stack([ready, ready], axis=-1).astype(np.float32)
    back = restored(output, shape, factors)
    assert back.shape == (*shape, 2)
    if factors == (1, 1):
        np.testing.assert_array_equal(back[..., 0], section)


def test_restoring_is_linear_so_additive_maps_stay_additive():
    rng = np.random.default_rng(3)
    phi, expected = rng.normal(size=(150, 130, 4)).astype(np.float32), rng.normal(size=(150, 130)).astype(np.float32)
    probability = expected + phi.sum(-1)
    r = {k: restored(v, (100, 80), (1.5, 1.6)) for k, v in
         {"phi": phi, "expected": expected, "probability": probability}.items()}
    np.testing.assert_allclose(r["expected"] + r["phi"].sum(-1), r["probability"], atol=1e-5)


@pytest.mark.parametrize("sample_format", [1, 5])  # IBM and IEEE floats
def test_real_tgs_images_written_as_segy_with_a_random_gain_come_back_as_the_same_grey_levels(
    tgs_dir, tmp_path, sample_format
):
    """The round trip of the seismic path's input: what the model reads from the SEG-Y file is
    what it reads from the PNGs, so its masks are the same (the end-to-end run is
    tests/test_inference_seismic.py)."""
    import yaml
    from seismic_files import write_volume

    from explainable_salt.datasets import PNGSetDataset
    from explainable_salt.pipelines.inference.seismic_nodes import seismic_sections
    from explainable_salt.seismic.segy import arrange, read_segy
    from explainable_salt.stacks import ImageStack

    loaded = PNGSetDataset(str(tgs_dir / "train/images"), archive=str(tgs_dir / "train.zip"), member_dir="images").load()
    ids = sorted(loaded)[:400]
    images = np.stack([loaded[i][..., 0] if loaded[i].ndim == 3 else loaded[i] for i in ids])
    gain = float(np.random.default_rng(sample_format).uniform(1e-3, 1e4))
    write_volume(tmp_path / "tgs.sgy", list(images), gain, sample_format)
    params = yaml.safe_load((Path(__file__).parents[1] / "conf/base/parameters_inference.yml").read_text())
    volume = arrange(read_segy(tmp_path / "tgs.sgy", 10**7, 10**5, 10**9))
    (stack, _), = seismic_sections(volume, ImageStack(np.array(ids), images), ["amplitude"],
                                   params["inference"]["seismic"])[0]
    assert stack.data.shape == images.shape
    difference = stack.data[:].astype(int) - images
    assert np.abs(difference).max() <= 1 and (difference == 0).mean() >= 0.999


@pytest.mark.parametrize("direction", ["inline", "crossline", "both"])
def test_section_shapes_are_those_of_the_sections(direction):
    from explainable_salt.seismic.sections import PreparedSections, cut_dims, section_id, section_shapes

    volume = _volume()
    expected = {section_id(dim, v): PreparedSections(volume, dim, IDENTITY, 1.0, (1.0, 1.0)).section_shape
                for dim in cut_dims(volume, direction) for v in volume[dim].to_numpy()}
    assert section_shapes(volume, direction, "x") == expected


def test_a_model_that_needs_depths_is_refused_without_a_depth_and_given_the_stated_one():
    from explainable_salt.pipelines.inference.seismic_nodes import seismic_sections
    from explainable_salt.stacks import ImageStack
    from explainable_salt.tgs.validation import RawDataError

    volume = _grey_volume().assign_attrs(source="/surveys/north.sgy")
    train = ImageStack(["a", "b"], np.random.default_rng(1).integers(0, 256, (2, 101, 101)).astype(np.uint8))
    params = {**PARAMS, "polarity": 1, "scaling": {"method": "linear", "matched_quantiles": [0.05, 0.95]}}
    with pytest.raises(RawDataError, match=r"north\.sgy.*depth.*inference\.seismic\.depth"):
        seismic_sections(volume, train, ["amplitude", "depth"], {**params, "depth": None})
    [(sections, depths)], _ = seismic_sections(volume, train, ["amplitude", "depth"], {**params, "depth": 1500.0})
    assert len(sections.ids) == 3 and np.array_equal(depths, [1500.0] * 3)
    [(_, depths)], _ = seismic_sections(volume, train, ["amplitude"], {**params, "depth": None})
    assert np.isnan(depths).all()  # a model without depth needs none
