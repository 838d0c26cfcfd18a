import io
import os
import stat
import zipfile

import mlflow
import numpy as np
import pytest
from kedro.io import DatasetError
from PIL import Image

from explainable_salt.datasets import ImageStackDataset, MlflowNestedRunDataset, PNGSetDataset
from explainable_salt.stacks import ImageStack, StackChunk


def _pngs(n=3):
    rng = np.random.default_rng(0)
    return {f"id{i}": rng.integers(0, 255, (101, 101), dtype=np.uint8) for i in range(n)}


def test_png_set_reads_folder_and_zip_identically(tmp_path):
    images = _pngs()
    PNGSetDataset(folder=str(tmp_path / "train/images")).save(images)
    with zipfile.ZipFile(tmp_path / "train.zip", "w") as archive:
        archive.writestr("images/", "")
        for path in (tmp_path / "train/images").iterdir():
            archive.write(path, f"images/{path.name}")
    from_folder = PNGSetDataset(folder=str(tmp_path / "train/images")).load()
    from_zip = PNGSetDataset(folder=str(tmp_path / "nowhere"), archive=str(tmp_path / "train.zip"), member_dir="images").load()
    assert sorted(from_zip) == sorted(images)
    for image_id, image in images.items():
        assert np.array_equal(from_folder[image_id], image)
        assert np.array_equal(from_zip[image_id], image)


def test_corrupt_png_names_the_file(tmp_path):
    PNGSetDataset(folder=str(tmp_path)).save(_pngs())
    (tmp_path / "id1.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DatasetError, match="id1.png"):
        PNGSetDataset(folder=str(tmp_path)).load()


def test_corrupt_zip_names_the_archive(tmp_path):
    (tmp_path / "train.zip").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="train.zip"):
        PNGSetDataset(folder=str(tmp_path / "x"), archive=str(tmp_path / "train.zip"), member_dir="images").load()


def test_missing_data_names_both_places(tmp_path):
    with pytest.raises(DatasetError, match="test.zip or .*test/images"):
        PNGSetDataset(folder=str(tmp_path / "test/images"), archive=str(tmp_path / "test.zip")).load()


def test_png_set_refuses_to_write_a_folder_the_archive_would_shadow(tmp_path):
    (tmp_path / "train.zip").write_bytes(b"")
    with pytest.raises(DatasetError, match="Refusing"):
        PNGSetDataset(folder=str(tmp_path / "train/images"), archive=str(tmp_path / "train.zip")).save(_pngs(1))


def _zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2018, 7, 19, 0, 0, 0)), payload)


def _png_bytes(array: np.ndarray, mode: str | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def _from_zip(tmp_path, **limits) -> dict:
    return PNGSetDataset(folder=str(tmp_path / "none"), archive=str(tmp_path / "t.zip"), member_dir="images",
                         **limits).load()


GREY = np.random.default_rng(1).integers(0, 255, (101, 101), dtype=np.uint8)


@pytest.mark.parametrize(("limits", "message"), [
    ({"max_entries": 3}, "4 entries, more than the 3 allowed"),
    ({"max_member_bytes": 1000}, r"images/a.png is [\d,]+ bytes uncompressed, more than the 1,000 allowed"),
    ({"max_total_bytes": 20_000}, r"images/ holds [\d,]+ bytes uncompressed, more than the 20,000 allowed"),
])
def test_a_zip_beyond_its_limits_is_refused_before_decoding(tmp_path, limits, message):
    _zip(tmp_path / "t.zip", {f"images/{k}.png": _png_bytes(GREY) for k in "abcd"})
    with pytest.raises(DatasetError, match=message):
        _from_zip(tmp_path, **limits)


def test_a_png_too_large_is_refused_from_its_header(tmp_path):
    _zip(tmp_path / "t.zip", {"images/big.png": _png_bytes(np.zeros((300, 400), np.uint8))})
    with pytest.raises(DatasetError, match=r"images/big.png is 400 x 300 pixels, more than the 100,000"):
        _from_zip(tmp_path, max_pixels=100_000)


BLANK = np.zeros((1000, 1000), np.uint8)  # a million pixels that compress to about a kilobyte


def test_a_zip_decoding_to_more_pixels_than_allowed_is_refused_naming_it_before_any_decoding(tmp_path, monkeypatch):
    _zip(tmp_path / "t.zip", {f"images/{k}.png": _png_bytes(BLANK) for k in "abcd"})
    decoded = []
    monkeypatch.setattr("explainable_salt.datasets.png_set_dataset._decode_png", lambda *args: decoded.append(args))
    with pytest.raises(DatasetError, match=r"t.zip:images/ holds 4,000,000 pixels once decoded, more than the "
                                           r"3,999,999 allowed \(max_total_pixels\)"):
        _from_zip(tmp_path, max_total_bytes=100_000, max_total_pixels=3_999_999)
    assert decoded == []


def test_a_zip_within_its_pixel_limit_loads(tmp_path):
    _zip(tmp_path / "t.zip", {f"images/{k}.png": _png_bytes(BLANK) for k in "abcd"})
    images = _from_zip(tmp_path, max_total_bytes=100_000, max_total_pixels=4_000_000)
    assert sorted(images) == list("abcd") and all(image.shape == (1000, 1000) for image in images.values())


def test_a_folder_decoding_to_more_pixels_than_allowed_is_refused_naming_it(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for k in "abcd":
        (folder / f"{k}.png").write_bytes(_png_bytes(BLANK))
    with pytest.raises(DatasetError, match=r"images/ holds 4,000,000 pixels once decoded, more than the "
                                           r"3,999,999 allowed \(max_total_pixels\)"):
        PNGSetDataset(folder=str(folder), max_total_pixels=3_999_999).load()
    assert len(PNGSetDataset(folder=str(folder), max_total_pixels=4_000_000).load()) == 4


def test_ids_that_differ_only_in_case_are_refused_in_zip_and_folder(tmp_path):
    _zip(tmp_path / "t.zip", {"images/abc.png": _png_bytes(GREY), "images/ABC.png": _png_bytes(GREY)})
    with pytest.raises(DatasetError, match="abc.png and images/ABC.png"):
        _from_zip(tmp_path)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "abc.png").write_bytes(_png_bytes(GREY))
    (folder / "ABC.PNG").write_bytes(_png_bytes(GREY))
    with pytest.raises(DatasetError, match="differ in more than case"):
        PNGSetDataset(folder=str(folder)).load()


def test_a_duplicated_zip_member_is_refused(tmp_path):
    _zip(tmp_path / "t.zip", {"images/a.png": _png_bytes(GREY), "images/b.png": _png_bytes(GREY)})
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(tmp_path / "t.zip", "a") as archive:
        archive.writestr("images/a.png", _png_bytes(GREY))  # a second member of the same name
    with pytest.raises(DatasetError, match="images/a.png and images/a.png"):
        _from_zip(tmp_path)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "device"])
def test_links_fifos_and_devices_in_a_raw_folder_are_refused(tmp_path, kind):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png_bytes(GREY))
    if kind == "symlink":
        (tmp_path / "elsewhere.png").write_bytes(_png_bytes(GREY))
        (folder / "b.png").symlink_to(tmp_path / "elsewhere.png")
    elif kind == "fifo":
        os.mkfifo(folder / "b.png")
    else:  # a character device like /dev/zero, which would be read forever
        try:
            os.mknod(folder / "b.png", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        except PermissionError:
            pytest.skip("creating a device file needs root (CI runs as root)")
    with pytest.raises(DatasetError, match="b.png is (a symbolic link|not a regular file)"):
        PNGSetDataset(folder=str(folder)).load()


def _patch_headers(path, local: int, central: int, value: int) -> None:
    """Rewrite a 2-byte field of the zip's only member, at offset ``local`` of its local header and
    ``central`` of its central-directory entry (zipfile itself writes neither field freely)."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = data.find(signature) + offset
        data[start: start + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))


def test_encrypted_and_unsupported_members_get_the_datasets_error_naming_the_member(tmp_path):
    _zip(tmp_path / "t.zip", {"images/locked.png": _png_bytes(GREY)})
    _patch_headers(tmp_path / "t.zip", local=6, central=8, value=0x1)  # the "encrypted" flag
    with pytest.raises(DatasetError, match="images/locked.png is encrypted"):
        _from_zip(tmp_path)
    _zip(tmp_path / "t.zip", {"images/odd.png": _png_bytes(GREY)})
    _patch_headers(tmp_path / "t.zip", local=8, central=10, value=99)  # AE-x: a method zipfile cannot read
    with pytest.raises(DatasetError, match="images/odd.png uses an unsupported compression"):
        _from_zip(tmp_path)


def test_colour_modes_follow_the_stated_rule(tmp_path):
    palette = Image.fromarray(GREY).convert("P")  # grey levels as palette indices
    opaque = np.dstack([GREY, GREY, GREY, np.full_like(GREY, 255)])
    one_bit = GREY > 128
    _zip(tmp_path / "t.zip", {
        "images/palette.png": (buffer := io.BytesIO(), palette.save(buffer, format="PNG"))[0].getvalue(),
        "images/opaque.png": _png_bytes(opaque, "RGBA"),
        "images/onebit.png": _png_bytes(one_bit),
        "images/deep.png": _png_bytes(GREY.astype(np.uint16) * 257),
    })
    loaded = _from_zip(tmp_path)
    np.testing.assert_array_equal(loaded["palette"], np.dstack([GREY] * 3))  # expanded to its colours
    np.testing.assert_array_equal(loaded["opaque"], np.dstack([GREY] * 3))  # opaque alpha dropped
    np.testing.assert_array_equal(loaded["onebit"], one_bit.astype(np.uint8) * 255)
    assert loaded["deep"].dtype == np.uint16  # passed on: validation refuses 16-bit images


def test_a_transparent_pixel_is_refused_with_the_file_named(tmp_path):
    rgba = np.dstack([GREY, GREY, GREY, np.full_like(GREY, 255)])
    rgba[5, 5, 3] = 0
    _zip(tmp_path / "t.zip", {"images/seethrough.png": _png_bytes(rgba, "RGBA")})
    with pytest.raises(DatasetError, match="images/seethrough.png has transparent pixels"):
        _from_zip(tmp_path)


def test_an_untrusted_keras_file_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    import keras
    from kedro_datasets.tensorflow import TensorFlowModelDataset

    from explainable_salt.compute.execution import model_from_bytes

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "evil.keras")
    with pytest.raises(DatasetError, match="(?i)lambda|unsafe|safe_mode"):
        TensorFlowModelDataset(filepath=str(tmp_path / "evil.keras")).load()
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|safe_mode"):
        model_from_bytes((tmp_path / "evil.keras").read_bytes())


def test_png_set_never_writes_into_a_folder_that_holds_files(tmp_path):
    folder = tmp_path / "train/images"
    folder.mkdir(parents=True)
    (folder / "real.png").write_bytes(_png_bytes(GREY))
    with pytest.raises(DatasetError, match="already holds files"):
        PNGSetDataset(folder=str(folder)).save(_pngs(1))
    assert sorted(p.name for p in folder.iterdir()) == ["real.png"]


def test_image_stack_round_trip_keeps_ids_and_channel_names(tmp_path):
    stack = ImageStack(["b", "a"], np.random.rand(2, 5, 5, 3).astype(np.float32), ("x", "y", "z"))
    dataset = ImageStackDataset(str(tmp_path / "s"))
    dataset.save(stack)
    loaded = dataset.load()
    assert list(loaded.ids) == ["b", "a"] and loaded.channels == ("x", "y", "z")
    assert np.array_equal(loaded.data, stack.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]


def _chunks(stack, size):
    for start in range(0, len(stack), size):
        part = ImageStack(stack.ids[start : start + size], stack.data[start : start + size], stack.channels)
        yield StackChunk(part, start, len(stack))


def test_chunked_save_equals_whole_save_and_loads_as_a_memory_map(tmp_path):
    stack = ImageStack([f"i{k}" for k in range(7)], np.random.rand(7, 4, 4, 2).astype(np.float32), ("p", "q"))
    dataset = ImageStackDataset(str(tmp_path / "s"), mmap=True)
    for piece in _chunks(stack, 3):
        dataset.save(piece)
    loaded = dataset.load()
    assert isinstance(loaded.data, np.memmap)
    assert list(loaded.ids) == list(stack.ids) and np.array_equal(loaded.data, stack.data)


def test_an_interrupted_chunked_save_leaves_the_previous_stack_intact(tmp_path):
    old = ImageStack(["old"], np.zeros((1, 4, 4)))
    dataset = ImageStackDataset(str(tmp_path / "s"))
    dataset.save(old)
    new = ImageStack(["a", "b", "c"], np.ones((3, 4, 4)))
    dataset.save(next(_chunks(new, 2)))  # the run dies after the first chunk
    assert list(ImageStackDataset(str(tmp_path / "s")).load().ids) == ["old"]


def test_chunks_out_of_order_are_refused(tmp_path):
    new = ImageStack(["a", "b", "c"], np.ones((3, 4, 4)))
    pieces = list(_chunks(new, 1))
    dataset = ImageStackDataset(str(tmp_path / "s"))
    dataset.save(pieces[0])
    with pytest.raises(DatasetError, match="out of order"):
        dataset.save(pieces[2])


def test_missing_stack_says_which_pipeline_to_run(tmp_path):
    with pytest.raises(DatasetError, match="run the pipeline"):
        ImageStackDataset(str(tmp_path / "nothing")).load()


def test_image_stack_rejects_mismatched_channel_names():
    with pytest.raises(ValueError, match="2 channel names for 3 channels"):
        ImageStack(["a"], np.zeros((1, 4, 4, 3)), ("x", "y"))


def test_image_stack_select_names_missing_ids():
    stack = ImageStack(["a", "b"], np.zeros((2, 4, 4)))
    assert list(stack.select(["b"]).ids) == ["b"]
    with pytest.raises(KeyError, match="zz"):
        stack.select(["zz"])


def test_select_channels_picks_by_name_in_the_given_order():
    stack = ImageStack(["a"], np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3), ("x", "y", "z"))
    picked = stack.select_channels(["z", "x"])
    assert picked.channels == ("z", "x")
    assert np.array_equal(picked.data[..., 0], stack.data[..., 2])
    with pytest.raises(KeyError, match="w"):
        stack.select_channels(["w"])


def test_nested_run_dataset_records_a_finished_child_of_the_active_run(tmp_path, caplog):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        dataset = MlflowNestedRunDataset(run_name="fold_3")
        data = {"params": {"fold": 3}, "metrics": {"loss": [{"value": 0.5, "step": 1}, {"value": 0.25, "step": 2}]}}
        dataset.save(data)  # no active run: nothing recorded
        assert "not recorded" in caplog.text
        experiment = mlflow.set_experiment("nested-runs")
        with mlflow.start_run(experiment_id=experiment.experiment_id) as parent:
            dataset.save(data)
            assert dataset.load() == {"params": {"fold": "3"}, "metrics": data["metrics"]}
        runs = mlflow.MlflowClient().search_runs([parent.info.experiment_id])
        child = next(r for r in runs if r.info.run_name == "fold_3")
        assert len(runs) == 2 and child.info.status == "FINISHED"
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    finally:
        mlflow.set_tracking_uri(previous)
