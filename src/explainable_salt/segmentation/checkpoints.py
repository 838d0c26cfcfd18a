"""Training state on disk after every epoch, so a killed training resumes where it stopped.

A checkpoint is a folder ``<folder>/<name>/`` (``name``: ``salt_model``, ``fold_0``, ...) holding
``state.json`` (stage, epochs done in it, the stage's elapsed budget, the best validation metric and
the history so far), ``last.npz`` and ``best.npz`` (the weights of the model being fitted) and
``optimizer.npz`` (Adam's moments and step). It is rewritten whole after each epoch
(:func:`~explainable_salt.storage.atomic.publish`), so a kill leaves the previous epoch's.

It belongs to one training: ``state.json`` records a fingerprint of the training settings, the
model's weight shapes and the training and validation arrays; a checkpoint with another
fingerprint (or any checkpoint, with ``resume: false``) is moved aside to
``<name>.set-aside-<YYYYmmdd-HHMMSS>``, never resumed and never deleted: it may hold hours of
another configuration's training. A finished training marks its checkpoint complete, and a rerun
that finds it complete returns its best weights at once (a kill after training but before the
model was saved costs nothing); :class:`~explainable_salt.hooks.CheckpointCleanupHook` removes complete checkpoints once a
run has succeeded. The folder is per Kedro environment (``data/06_models/checkpoints/<env>/``), so
that a run in one environment never meets another environment's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explainable_salt.storage.atomic import publish, staging_path

logger = logging.getLogger(__name__)

SET_ASIDE = ".set-aside-"  # in the name of a checkpoint folder moved aside, kept for the user


@dataclass
class TrainingState:
    """Where a training stands after an epoch."""

    fingerprint: str
    stage: int = 1          # the stage (1-based) the next epoch belongs to
    epoch: int = 0          # epochs of that stage already done (Keras' ``initial_epoch``)
    elapsed: float = 0.0    # seconds of that stage's wall-clock budget already spent
    slowest: float = 0.0    # the stage's slowest epoch so far, in seconds (the time limit's guard)
    best_metric: float = -np.inf
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch done
    complete: bool = False


@dataclass
class SavedWeights:
    """The arrays of a checkpoint: model weights (last and best) and optimizer variables."""

    last: list[np.ndarray]
    best: list[np.ndarray] | None
    optimizer: list[np.ndarray]


def training_fingerprint(settings: dict, weight_shapes: list[tuple[int, ...]], *arrays: np.ndarray) -> str:
    """A short hash of what makes two trainings the same: the settings (JSON), the shapes of the
    model's weights, and the bytes of the training and validation arrays."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    digest.update(repr(weight_shapes).encode())
    for array in arrays:
        digest.update(repr((array.shape, str(array.dtype))).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def checkpoint_for(training: dict, name: str, model: Any, *arrays: np.ndarray) -> TrainingCheckpoint | None:
    """The checkpoint of training ``model`` (named ``name``) with the ``training`` settings on
    ``arrays`` (train and validation), or ``None`` when the settings have no ``checkpoints``
    (``folder``: where checkpoints live; ``resume``: false starts afresh)."""
    options = training.get("checkpoints")
    if not options:
        return None
    identity = {key: value for key, value in training.items() if key != "checkpoints"}
    identity["model"] = [model.name, str(getattr(model, "dtype_policy", ""))]
    shapes = [tuple(weight.shape) for weight in model.weights]
    return TrainingCheckpoint(Path(options["folder"]) / name, training_fingerprint(identity, shapes, *arrays),
                              options.get("resume", True))


def _save_arrays(path: Path, arrays: list[np.ndarray]) -> None:
    np.savez(path, *[np.asarray(a) for a in arrays])


def _load_arrays(path: Path) -> list[np.ndarray]:
    with np.load(path) as stored:
        return [stored[f"arr_{i}"] for i in range(len(stored.files))]


class TrainingCheckpoint:
    """The checkpoint folder of one training; ``resume: false`` starts afresh whatever is there."""

    def __init__(self, folder: str | Path, fingerprint: str, resume: bool = True):
        self.folder, self.fingerprint, self.resume = Path(folder), fingerprint, resume

    def load(self) -> tuple[TrainingState, SavedWeights] | None:
        """The saved state and arrays, or ``None`` (nothing saved, ``resume`` off, or a checkpoint
        of another training, which is then moved aside)."""
        state_file = self.folder / "state.json"
        if not state_file.is_file():
            return None
        if not self.resume:
            logger.info("Starting training afresh (resume: false): the checkpoint in %s/ is set aside in %s/",
                        self.folder, self.set_aside())
            return None
        state = TrainingState(**json.loads(state_file.read_text()))
        if state.fingerprint != self.fingerprint:
            logger.warning(
                "The checkpoint in %s/ is of another training (other settings or data): starting afresh; "
                "it is set aside in %s/",
                self.folder, self.set_aside(),
            )
            return None
        best = self.folder / "best.npz"
        weights = SavedWeights(
            last=_load_arrays(self.folder / "last.npz"),
            best=_load_arrays(best) if best.is_file() else None,
            optimizer=_load_arrays(self.folder / "optimizer.npz"),
        )
        if not state.complete:
            logger.info(
                "Resuming training from the checkpoint in %s/: stage %d after %d of its epochs "
                "(%d epochs done in all, %.1f min of the stage's budget spent, best validation metric %.4f)",
                self.folder, state.stage, state.epoch, len(state.history), state.elapsed / 60, state.best_metric,
            )
        return state, weights

    def save(self, state: TrainingState, weights: SavedWeights) -> None:
        """Write the whole checkpoint to a staging folder, then put it in place."""
        staged = staging_path(self.folder)
        staged.mkdir()
        _save_arrays(staged / "last.npz", weights.last)
        if weights.best is not None:
            _save_arrays(staged / "best.npz", weights.best)
        _save_arrays(staged / "optimizer.npz", weights.optimizer)
        (staged / "state.json").write_text(json.dumps(asdict(state), default=float))
        publish(staged, self.folder)

    def set_aside(self) -> Path:
        """Rename the checkpoint folder to a free ``<name>.set-aside-<YYYYmmdd-HHMMSS>[-<k>]`` beside
        it (one rename: the files stay whole) and return that path."""
        stem = f"{self.folder.name}{SET_ASIDE}{time.strftime('%Y%m%d-%H%M%S')}"
        aside, number = self.folder.with_name(stem), 1
        while aside.exists():  # set aside twice in one second
            number += 1
            aside = self.folder.with_name(f"{stem}-{number}")
        self.folder.rename(aside)
        return aside


def remove_complete_checkpoints(folder: str | Path) -> list[Path]:
    """Remove the checkpoints of finished trainings under ``folder``, except those set aside;
    returns those removed."""
    removed = []
    for state_file in sorted(Path(folder).glob("*/state.json")):
        if SET_ASIDE not in state_file.parent.name and json.loads(state_file.read_text()).get("complete"):
            shutil.rmtree(state_file.parent, ignore_errors=True)
            removed.append(state_file.parent)
    return removed
