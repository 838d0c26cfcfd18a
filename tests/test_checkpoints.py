"""Training survives a kill: state saved every epoch, resumed by default (segmentation/checkpoints.py)."""

import json
import logging

import numpy as np
import pytest

from explainable_salt.segmentation.checkpoints import (
    SavedWeights,
    TrainingCheckpoint,
    TrainingState,
    checkpoint_for,
    remove_complete_checkpoints,
)
from explainable_salt.segmentation.models import build_model
from explainable_salt.segmentation.training import fit

RNG = np.random.default_rng(3)
X = RNG.normal(size=(20, 101, 101, 2)).astype(np.float32)
Y = (X[..., 0] > 0.5).astype(np.uint8)
SETTINGS = {
    "stages": [
        {"loss_weights": {"bce": 1.0, "dice": 1.0}, "epochs": 2, "learning_rate": 0.01, "schedule": "cosine"},
        {"loss_weights": {"lovasz": 1.0}, "epochs": 2, "learning_rate": 0.001, "schedule": "cosine"},
    ],
    "batch_size": 8, "seed": 0,
}


class Killed(BaseException):
    """Stands for the process dying right after a checkpoint was written."""


class DiesAfterSaves(TrainingCheckpoint):
    def __init__(self, checkpoint: TrainingCheckpoint, saves: int):
        super().__init__(checkpoint.folder, checkpoint.fingerprint, checkpoint.resume)
        self.saves_left = saves

    def save(self, state, weights):
        super().save(state, weights)
        self.saves_left -= 1
        if self.saves_left == 0:
            raise Killed


def _train(folder, settings=SETTINGS, resume=True, dies_after=None):
    model = build_model("unet", 2, depth=1, base_filters=4)
    training = {**settings, "checkpoints": {"folder": str(folder), "resume": resume}}
    checkpoint = checkpoint_for(training, "salt_model", model, X[:12], Y[:12], X[12:], Y[12:])
    if dies_after:
        checkpoint = DiesAfterSaves(checkpoint, dies_after)
    history = fit(model, X[:12], Y[:12], X[12:], Y[12:], training, checkpoint)
    return model, history


def _state(folder):
    return json.loads((folder / "salt_model" / "state.json").read_text())


def test_a_training_killed_in_its_second_stage_resumes_there_and_keeps_the_epochs_done(tmp_path, caplog):
    # Saves: epoch 1, epoch 2, end of stage 1, epoch 3 -> killed during stage 2's second epoch.
    with pytest.raises(Killed):
        _train(tmp_path, dies_after=4)
    before = _state(tmp_path)
    assert (before["stage"], before["epoch"], before["complete"]) == (2, 1, False)
    assert [row["stage"] for row in before["history"]] == [1, 1, 2]
    with caplog.at_level(logging.INFO):
        model, history = _train(tmp_path)
    assert "Resuming training from the checkpoint" in caplog.text
    assert "stage 2 after 1 of its epochs" in caplog.text
    assert history["epoch"].tolist() == [1, 2, 3, 4] and history["stage"].tolist() == [1, 1, 2, 2]
    # The epochs done before the kill are kept as they were, not trained again.
    assert history["val_loss"].tolist()[:3] == pytest.approx([row["val_loss"] for row in before["history"]])
    after = _state(tmp_path)
    assert after["complete"] and len(after["history"]) == 4
    # The model holds the best weights: their metric is the best in the history.
    assert after["best_metric"] == pytest.approx(history["val_competition_metric"].max())


def test_a_complete_checkpoint_returns_its_best_weights_without_training(tmp_path, caplog):
    first, history = _train(tmp_path)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        again, history_again = _train(tmp_path)
    assert "Training had finished before" in caplog.text and "Training unet" not in caplog.text
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert history_again.equals(history)


def test_resume_false_or_other_settings_start_afresh(tmp_path, caplog):
    with pytest.raises(Killed):
        _train(tmp_path, dies_after=1)
    caplog.clear()
    changed = {**SETTINGS, "seed": 1}
    with caplog.at_level(logging.INFO), pytest.raises(Killed):
        _train(tmp_path, settings=changed, dies_after=1)  # dies again, after its first epoch
    assert "is of another training" in caplog.text
    assert _state(tmp_path)["epoch"] == 1 and len(_state(tmp_path)["history"]) == 1
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _, history = _train(tmp_path, settings=changed, resume=False)
    assert "Starting training afresh (resume: false)" in caplog.text
    assert "Resuming" not in caplog.text and len(history) == 4


def test_a_finished_run_removes_only_complete_checkpoints(tmp_path):
    for name, complete in [("salt_model", True), ("fold_0", False)]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text(json.dumps({"complete": complete}))
    assert remove_complete_checkpoints(tmp_path) == [tmp_path / "salt_model"]
    assert [p.name for p in tmp_path.iterdir()] == ["fold_0"]


def _saved_checkpoint(folder, fingerprint="first", resume=True):
    """A checkpoint of training ``fingerprint`` with small arrays, written as training writes it."""
    checkpoint = TrainingCheckpoint(folder / "salt_model", fingerprint, resume)
    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3)]
    checkpoint.save(TrainingState(fingerprint, epoch=3, history=[{"loss": 0.5}]), SavedWeights(arrays, arrays, arrays))
    return {path.name: path.read_bytes() for path in checkpoint.folder.iterdir()}


def _set_aside(folder):
    return sorted(folder.glob("salt_model.set-aside-*"))


def test_a_checkpoint_of_another_training_is_moved_aside_whole_and_the_log_says_where(tmp_path, caplog):
    files = _saved_checkpoint(tmp_path, "first")
    with caplog.at_level(logging.INFO):
        assert TrainingCheckpoint(tmp_path / "salt_model", "second").load() is None
    [aside] = _set_aside(tmp_path)
    assert {path.name: path.read_bytes() for path in aside.iterdir()} == files
    assert not (tmp_path / "salt_model").exists()
    assert "is of another training" in caplog.text and f"set aside in {aside}/" in caplog.text


def test_resume_false_moves_the_checkpoint_aside_instead_of_deleting_it(tmp_path, caplog):
    files = _saved_checkpoint(tmp_path, "first")
    with caplog.at_level(logging.INFO):
        assert TrainingCheckpoint(tmp_path / "salt_model", "first", resume=False).load() is None
    [aside] = _set_aside(tmp_path)
    assert {path.name: path.read_bytes() for path in aside.iterdir()} == files
    assert f"set aside in {aside}/" in caplog.text


def test_checkpoints_set_aside_in_the_same_second_keep_distinct_folders(tmp_path, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda *_: "20261130-090000")
    for fingerprint in ["first", "second", "third"]:
        _saved_checkpoint(tmp_path, fingerprint)
        TrainingCheckpoint(tmp_path / "salt_model", "other").load()
    assert [path.name for path in _set_aside(tmp_path)] == [
        "salt_model.set-aside-20261130-090000", "salt_model.set-aside-20261130-090000-2",
        "salt_model.set-aside-20261130-090000-3",
    ]


def test_a_finished_run_keeps_checkpoints_set_aside_even_when_complete(tmp_path):
    checkpoint = TrainingCheckpoint(tmp_path / "salt_model", "first")
    arrays = [np.zeros(2, dtype=np.float32)]
    checkpoint.save(TrainingState("first", complete=True), SavedWeights(arrays, arrays, arrays))
    TrainingCheckpoint(tmp_path / "salt_model", "first", resume=False).load()
    assert remove_complete_checkpoints(tmp_path) == []
    assert len(_set_aside(tmp_path)) == 1


def test_each_kedro_environment_has_its_own_checkpoint_folder(tmp_path, monkeypatch):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro_project import scratch_project

    from explainable_salt.hooks import CheckpointCleanupHook

    project = scratch_project(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    bootstrap_project(project)

    def folder(context):
        return context.params["modelling"]["training"]["checkpoints"]["folder"]

    quick = KedroSession.create(project_path=project, env="quick").load_context()
    default = KedroSession.create(project_path=project).load_context()  # `kedro run`: conf/local
    # Read after both exist, in both orders: each context resolves its own environment.
    assert folder(default) == "data/06_models/checkpoints/local"
    assert folder(quick) == "data/06_models/checkpoints/quick"
    assert folder(default) == "data/06_models/checkpoints/local"
    # So a finished quick run removes its own complete checkpoint and leaves the default's alone.
    for env in ["quick", "local"]:
        (project / f"data/06_models/checkpoints/{env}/salt_model").mkdir(parents=True)
        (project / f"data/06_models/checkpoints/{env}/salt_model/state.json").write_text('{"complete": true}')
    hook = CheckpointCleanupHook()
    hook.after_context_created(quick)
    hook.after_pipeline_run()
    assert [path.parent.name for path in (project / "data/06_models/checkpoints").glob("*/salt_model")] == ["local"]
