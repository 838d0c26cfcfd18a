import zipfile

import mlflow
import numpy as np
import pytest
from kedro.io import DatasetError

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
