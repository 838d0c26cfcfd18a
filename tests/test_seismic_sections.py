"""Amplitudes to grey levels (seismic/amplitude.py) and lines and volumes to sections and back
(seismic/sections.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from explainable_salt.seismic.amplitude import amplitude_quantiles, grey_map, grey_quantiles, resampled, to_grey
from explainable_salt.seismic.sections import on_grid, prepared, restored, sections


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


@pytest.mark.parametrize("direction", ["inline", "crossline", "both"])
def test_a_volume_cut_into_sections_is_put_back_whole(direction):
    volume = _volume()
    cut = sections(volume, direction, "x")
    expected = {"inline": 3, "crossline": 4, "both": 7}[direction]
    assert len(cut) == expected and all(s.shape[0] == 120 for s in cut.values())  # samples down
    assert "iline_000010" in cut or "xline_000005" in cut
    np.testing.assert_allclose(on_grid(cut, volume, direction, "x"), volume.to_numpy(), rtol=1e-6)


def test_trailing_axes_follow_the_section_back_to_the_grid():
    volume = _volume()
    cut = {i: np.stack([s, 2 * s], axis=-1) for i, s in sections(volume, "inline", "x").items()}
    back = on_grid(cut, volume, "inline", "x")
    assert back.shape == (3, 4, 120, 2)
    np.testing.assert_allclose(back[..., 1], 2 * volume.to_numpy(), rtol=1e-6)


def test_a_line_is_one_section_samples_down():
    line = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("trace", "sample"),
                        coords={"trace": [0, 1, 2], "sample": [0, 4, 8, 12]})
    cut = sections(line, "inline", "my_line")
    assert list(cut) == ["my_line"] and cut["my_line"].shape == (4, 3)
    np.testing.assert_array_equal(on_grid(cut, line, "inline", "my_line"), line.to_numpy())


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
    difference = stack.data.astype(int) - images
    assert np.abs(difference).max() <= 1 and (difference == 0).mean() >= 0.999


@pytest.mark.parametrize("direction", ["inline", "crossline", "both"])
def test_section_shapes_are_those_of_the_sections(direction):
    from explainable_salt.seismic.sections import section_shapes

    volume = _volume()
    assert section_shapes(volume, direction, "x") == {i: s.shape for i, s in sections(volume, direction, "x").items()}
