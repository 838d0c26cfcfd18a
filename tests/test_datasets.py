import zipfile

import numpy as np
import pytest
from kedro.io import DatasetError
from PIL import Image

from explainable_salt.datasets import ImageStackDataset, PNGSetDataset
from explainable_salt.stacks import ImageStack


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


def test_image_stack_round_trip_keeps_ids_and_channel_names(tmp_path):
    stack = ImageStack(["b", "a"], np.random.rand(2, 5, 5, 3).astype(np.float32), ("x", "y", "z"))
    dataset = ImageStackDataset(str(tmp_path / "s.npz"))
    dataset.save(stack)
    loaded = dataset.load()
    assert list(loaded.ids) == ["b", "a"] and loaded.channels == ("x", "y", "z")
    assert np.array_equal(loaded.data, stack.data)
    assert not list(tmp_path.glob("*.tmp*"))


def test_image_stack_rejects_mismatched_channel_names():
    with pytest.raises(ValueError, match="2 channel names for 3 channels"):
        ImageStack(["a"], np.zeros((1, 4, 4, 3)), ("x", "y"))


def test_image_stack_select_names_missing_ids():
    stack = ImageStack(["a", "b"], np.zeros((2, 4, 4)))
    assert list(stack.select(["b"]).ids) == ["b"]
    with pytest.raises(KeyError, match="zz"):
        stack.select(["zz"])
