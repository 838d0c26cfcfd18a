"""``kedro run --pipeline inference --params "inference.sections=FILE"`` with SEG-Y files and zarr
stores, after a default run on the built-in data: the round trip of TGS-like images through SEG-Y,
the real fixtures, outputs in the input's geometry, and bad files refused with nothing written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import segyio
import xarray as xr
from kedro_project import kedro_run
from PIL import Image
from seismic_files import write_volume

pytestmark = pytest.mark.integration

OUTPUT = "data/07_model_output/inference"


def _train_images(project) -> dict[str, np.ndarray]:
    """The built-in train images, 8-bit grey: the grey levels the scaling matches, so that a volume
    of them all comes back as they were."""
    paths = sorted((project / "data/01_raw/train/images").glob("*.png"))
    return {p.stem: np.asarray(Image.open(p).convert("L")) for p in paths}


@pytest.fixture(scope="module")
def segy_run(synthetic_project, tmp_path_factory):
    """The built-in train images through the PNG path (a folder of PNGs) and the SEG-Y path (one
    volume, IBM floats, a random gain), each run's outputs kept."""
    folder = tmp_path_factory.mktemp("segy")
    images = _train_images(synthetic_project)
    (folder / "png").mkdir()
    for image_id, image in images.items():
        Image.fromarray(image).save(folder / "png" / f"{image_id}.png")
    gain = float(np.random.default_rng(7).uniform(0.01, 1000))
    write_volume(folder / "volume.sgy", list(images.values()), gain)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        for name, sections in (("png_outputs", folder / "png"), ("outputs", folder / "volume.sgy")):
            kedro_run(synthetic_project, "inference", params={"inference": {
                "sections": str(sections), "explanations": {"max_images": 3}}})
            # the outputs as this run left them: later runs replace them
            shutil.copytree(synthetic_project / OUTPUT, folder / name)
    shutil.copytree(synthetic_project / "data/08_reporting/inference_quicklooks", folder / "quicklooks")
    return folder, folder / "volume.sgy", list(images)


def test_images_written_as_segy_get_the_probabilities_and_masks_of_the_png_path(segy_run):
    folder, _, ids = segy_run
    volume = xr.open_zarr(folder / "outputs/seismic.zarr")
    ious = []
    for k, image_id in enumerate(ids):
        png = np.load(folder / "png_outputs/probabilities" / f"{image_id}.npy")
        segy = volume["probability"].isel(iline=k).transpose("sample", "xline").to_numpy()
        assert np.abs(segy - png).mean() <= 2e-3, image_id
        rule = np.asarray(Image.open(folder / "png_outputs/masks" / f"{image_id}.png")) > 0
        assert np.array_equal(volume["mask"].isel(iline=k).transpose("sample", "xline").to_numpy() > 0, rule)
        expected, got = png >= 0.5, segy >= 0.5  # the quick model's rule predicts no salt: compare at 0.5 too
        union = (expected | got).sum()
        ious.append(1.0 if union == 0 else (expected & got).sum() / union)
    assert min(ious) >= 0.95, dict(zip(ids, np.round(ious, 3)))


def test_the_probability_segy_has_the_inputs_geometry_and_headers(segy_run):
    folder, source, _ = segy_run
    with segyio.open(str(source)) as a, segyio.open(str(folder / "outputs/salt_probability.sgy")) as b:
        assert np.array_equal(a.ilines, b.ilines) and np.array_equal(a.xlines, b.xlines)
        assert np.array_equal(a.samples, b.samples)
        assert [dict(h) for h in a.header] == [dict(h) for h in b.header]
        probability = b.trace.raw[:]
        assert probability.min() >= 0 and probability.max() <= 1
    volume = xr.open_zarr(folder / "outputs/seismic.zarr")
    with segyio.open(str(folder / "outputs/salt_mask.sgy")) as mask:
        assert np.array_equal(mask.iline[3], volume["mask"].sel(iline=3).to_numpy())


def test_the_zarr_store_has_the_volumes_coordinates_and_additive_explanations(segy_run):
    folder, _, ids = segy_run
    volume = xr.open_zarr(folder / "outputs/seismic.zarr")
    assert volume["probability"].dims == ("iline", "xline", "sample")
    assert list(volume["iline"].to_numpy()) == list(range(1, len(ids) + 1))
    assert list(volume["xline"].to_numpy()) == list(range(1, 102))
    np.testing.assert_allclose(volume["sample"].to_numpy(), np.arange(101) * 4.0)
    assert volume["probability"].chunks[0] == (1,) * len(ids)  # one section per chunk
    phi = volume["phi_iline"]
    assert phi.dims == ("explained_iline", "xline", "sample", "channel")
    assert list(volume["explained_iline"].to_numpy()) == [1, 2, 3]
    residual = volume["expected_value_iline"] + phi.sum("channel") - volume["explained_probability_iline"]
    assert float(abs(residual).max()) <= 1e-5
    scaling = json.loads((folder / "outputs/seismic_scaling.json").read_text())
    assert abs(scaling["grey_quantiles_5_50_95"][1] - scaling["tgs_grey_quantiles_5_50_95"][1]) <= 10
    quicklooks = sorted(p.name for p in (folder / "quicklooks").glob("*.png"))
    assert quicklooks == [f"iline_{k:06d}.png" for k in range(1, len(ids) + 1)]  # 60 of the 64 allowed


@pytest.mark.parametrize(("name", "params", "dims"), [
    ("volve10r12-full-twt-arb.sgy", {}, ("trace", "sample")),
    ("f3.sgy", {"direction": "both"}, ("iline", "xline", "sample")),
])
def test_the_real_files_run_through_and_keep_their_geometry(synthetic_project, seismic_dir, name, params, dims):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "inference", params={"inference": {
            "sections": str(seismic_dir / name), "seismic": params, "explanations": {"max_images": 2}}})
    volume = xr.open_zarr(synthetic_project / OUTPUT / "seismic.zarr")
    with segyio.open(str(seismic_dir / name), ignore_geometry=True) as source:
        n_traces, n_samples = source.tracecount, len(source.samples)
    assert volume["probability"].dims == dims and volume["probability"].size == n_traces * n_samples
    with segyio.open(str(synthetic_project / OUTPUT / "salt_probability.sgy"), ignore_geometry=True) as out:
        assert out.tracecount == n_traces and len(out.samples) == n_samples
    phi = volume["phi" if dims[0] == "trace" else "phi_iline"]
    expected = volume["expected_value" if dims[0] == "trace" else "expected_value_iline"]
    explained = volume["explained_probability" if dims[0] == "trace" else "explained_probability_iline"]
    assert float(abs(expected + phi.sum("channel") - explained).max()) <= 1e-5
    if dims[0] == "iline":  # explanations.max_images: the first two sections in id order, both inlines
        assert list(volume["explained_iline"].to_numpy()) == [111, 112] and "phi_xline" not in volume
    assert volume.attrs["direction"] == params.get("direction", "inline")
    quicklooks = {p.stem.split("_")[0] for p in (synthetic_project / "data/08_reporting/inference_quicklooks").iterdir()}
    assert quicklooks == ({"volve10r12-full-twt-arb"} if dims[0] == "trace" else {"iline", "xline"})


def test_a_bad_file_is_refused_by_name_and_earlier_outputs_stay(segy_run, synthetic_project, tmp_path):
    project = synthetic_project
    before = {p: p.read_bytes() for p in (project / OUTPUT).rglob("*") if p.is_file()}
    bad = tmp_path / "broken.sgy"
    bad.write_bytes(segy_run[1].read_bytes()[:-1000])
    with pytest.MonkeyPatch.context() as mp, pytest.raises(Exception, match="broken.sgy: truncated"):
        mp.chdir(project)
        kedro_run(project, "inference", params={"inference": {"sections": str(bad)}})
    after = {p: p.read_bytes() for p in (project / OUTPUT).rglob("*") if p.is_file()}
    assert after == before


def test_a_zarr_volume_runs_like_its_segy(segy_run, synthetic_project, tmp_path):
    folder = segy_run[0]
    seismic = xr.open_zarr(folder / "outputs/seismic.zarr")
    amplitude = seismic["amplitude"].load().drop_vars("trace_index").rename(sample="twt")
    xr.Dataset({"amplitude": amplitude}).to_zarr(tmp_path / "volume.zarr")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "inference", params={"inference": {"sections": str(tmp_path / "volume.zarr")}})
    again = xr.open_zarr(synthetic_project / OUTPUT / "seismic.zarr")
    np.testing.assert_allclose(again["probability"].to_numpy(), seismic["probability"].to_numpy(), atol=1e-6)
    np.testing.assert_array_equal(again["mask"].to_numpy(), seismic["mask"].to_numpy())


def test_a_volume_on_a_local_dask_cluster_gets_the_same_outputs(segy_run, synthetic_project):
    folder, source, _ = segy_run
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "inference", params={
            "inference": {"sections": str(source), "explanations": {"max_images": 3}},
            "execution": {"mode": "local_cluster", "n_workers": 2, "threads_per_worker": 1}})
    in_process, on_dask = (xr.open_zarr(f) for f in (folder / "outputs/seismic.zarr",
                                                       synthetic_project / OUTPUT / "seismic.zarr"))
    np.testing.assert_allclose(on_dask["probability"].to_numpy(), in_process["probability"].to_numpy(), atol=1e-6)
    np.testing.assert_array_equal(on_dask["mask"].to_numpy(), in_process["mask"].to_numpy())
    np.testing.assert_allclose(on_dask["phi_iline"].to_numpy(), in_process["phi_iline"].to_numpy(), atol=1e-6)
