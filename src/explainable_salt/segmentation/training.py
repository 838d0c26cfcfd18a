"""Training of a zoo model in stages (e.g. BCE + Dice, then Lovász), with ``tf.data`` flips,
early stopping and best-weight checkpointing on the validation competition metric."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from explainable_salt.compute.hardware import without_autotuning
from explainable_salt.configuration.schema import Stage
from explainable_salt.segmentation.checkpoints import SavedWeights, TrainingCheckpoint, TrainingState
from explainable_salt.segmentation.inference import predict_probabilities
from explainable_salt.segmentation.losses import bce_loss, combined_loss
from explainable_salt.segmentation.models import with_presence_head
from explainable_salt.tgs.metrics import competition_metric

logger = logging.getLogger(__name__)


def training_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    seed: int,
    presence: bool = False,
    augmentation: dict | None = None,
) -> tf.data.Dataset:
    """Shuffled batches, augmented on the fly. Targets are the masks ``(N, 101, 101, 1)``, or with
    ``presence`` the pair (masks, whether each mask holds salt ``(N, 1)``).

    ``augmentation`` (default ``{"flip": True}``): ``flip`` mirrors each image and its mask
    left-right with probability 0.5. The pipeline runs with fixed parallelism, without
    autotuning.
    """
    augmentation = {"flip": True, **(augmentation or {})}
    unknown = set(augmentation) - {"flip"}
    if unknown:
        raise ValueError(f"Unknown augmentation setting(s) {sorted(unknown)}; known: flip")
    flip = augmentation["flip"]
    masks = y[..., None].astype(np.float32)

    def augment(images, masks):
        stack = tf.concat([images, masks], axis=-1)
        if flip:
            mirrored = tf.random.uniform((tf.shape(stack)[0], 1, 1, 1)) < 0.5
            stack = tf.where(mirrored, tf.reverse(stack, [2]), stack)
        images, masks = stack[..., :-1], stack[..., -1:]
        return images, ((masks, tf.reduce_max(masks, axis=(1, 2))) if presence else masks)

    data = tf.data.Dataset.from_tensor_slices((x.astype(np.float32, copy=False), masks))
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    return without_autotuning(data.map(augment, num_parallel_calls=2).prefetch(2))


class BestOnValidationMetric(keras.callbacks.Callback):
    """Adds ``val_loss`` (the segmentation ``loss``) and ``val_competition_metric`` to each
    epoch's logs, from one prediction of the validation images by ``mask_model``, and keeps the
    best weights of the model being fitted (which holds ``mask_model``'s layers) seen across
    stages (one instance is shared), restoring them when training ends."""

    def __init__(self, mask_model: keras.Model, x_val: np.ndarray, y_val: np.ndarray, batch_size: int):
        super().__init__()
        self.mask_model, self.x_val, self.y_val, self.batch_size = mask_model, x_val, y_val, batch_size
        self.loss = None  # the current stage's segmentation loss, set by ``fit``
        self.best, self.best_weights = -np.inf, None

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"], logs["val_competition_metric"] = self.score()

    def score(self) -> tuple[float, float]:
        """The validation loss and competition metric of the current weights, which become the
        best weights if their metric beats every one before."""
        probabilities = predict_probabilities(self.mask_model, self.x_val, self.batch_size)
        truth = self.y_val[..., None].astype(np.float32)
        loss = float(self.loss(truth, probabilities[..., None]))
        metric = competition_metric(self.y_val, probabilities > 0.5)
        if metric > self.best:
            self.best, self.best_weights = metric, self.model.get_weights()
        return loss, metric

    def restore(self) -> None:
        """Load the best weights seen so far into the model, if any epoch has been scored."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class _StageClock(keras.callbacks.Callback):
    """Wall-clock time since the stage began, against an optional budget of ``minutes``."""

    def __init__(self, minutes: float | None, elapsed: float = 0.0):
        super().__init__()
        self.seconds = None if minutes is None else 60.0 * minutes
        self.start, self.already_elapsed = 0.0, elapsed  # seconds spent before a resume

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter() - self.already_elapsed

    def elapsed(self) -> float:
        """Seconds since the stage began."""
        return time.perf_counter() - self.start


class StageTimeLimit(_StageClock):
    """Stops a stage before an epoch would end past ``minutes`` of wall-clock time (``None``: no
    limit), judging by the slowest epoch so far; a guard for the training-time budget."""

    def __init__(self, minutes: float | None, elapsed: float = 0.0, slowest: float = 0.0):
        super().__init__(minutes, elapsed)
        self.slowest, self._epoch_start = slowest, 0.0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._epoch_start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.slowest = max(self.slowest, time.perf_counter() - self._epoch_start)
        if self.seconds is not None and self.elapsed() + self.slowest > self.seconds:
            logger.info("Stage time limit of %.1f min reached after %d epochs", self.seconds / 60, epoch + 1)
            self.model.stop_training = True


class CosineOverBudget(_StageClock):
    """Cosine decay of the learning rate from ``learning_rate`` to ``alpha`` times it over a
    stage's budget (``alpha`` as in ``keras.optimizers.schedules.CosineDecay``; 1: constant).

    The budget is ``epochs`` or, when ``minutes`` is given, that much wall-clock time, whichever
    runs out first: each epoch starts at ``learning_rate * (alpha + (1 - alpha) * (1 + cos(pi *
    p)) / 2)`` with ``p`` the larger of the fractions of epochs and of minutes used. Training for
    a fixed budget this way beats halving on plateaus (Li, Yumer & Ramanan 2020, "Budgeted
    training"). With a time budget the schedule follows the machine's speed: a slower or busier
    machine decays sooner.
    """

    def __init__(self, learning_rate: float, epochs: int, minutes: float | None, alpha: float = 0.0,
                 elapsed: float = 0.0):
        super().__init__(minutes, elapsed)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha is the fraction of the learning rate the decay ends at, in [0, 1]; got {alpha}")
        self.learning_rate, self.epochs, self.alpha = learning_rate, epochs, alpha

    def progress(self, epoch: int) -> float:
        """The fraction of the budget used when ``epoch`` (0-based) begins."""
        used = epoch / self.epochs
        if self.seconds is not None:
            used = max(used, self.elapsed() / self.seconds)
        return min(used, 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        decay = 0.5 * (1.0 + np.cos(np.pi * self.progress(epoch)))
        rate = self.learning_rate * (self.alpha + (1.0 - self.alpha) * decay)
        self.model.optimizer.learning_rate.assign(rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:  # as Keras' own schedulers do: the rate joins the history
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


DEFAULT_PATIENCE = 12  # a plateau stage's, when a direct caller gives none (the schema requires one)


def _schedule_callbacks(stage: dict, elapsed: float = 0.0) -> list[keras.callbacks.Callback]:
    """The stage's ``schedule``: ``plateau`` (the default: halve the rate after ``patience // 2``
    epochs without a better validation metric, stop after the stage's ``patience``) or ``cosine``
    (:class:`CosineOverBudget`, no early stop: its gains come as the rate decays, after epochs
    whose validation score is noisy at a high rate)."""
    schedule = stage.get("schedule", "plateau")
    if schedule == "cosine":
        return [CosineOverBudget(stage["learning_rate"], stage["epochs"], stage.get("max_minutes"),
                                 stage.get("alpha", 0.0), elapsed)]
    if schedule == "plateau":
        patience = int(stage.get("patience") or DEFAULT_PATIENCE)
        return [
            keras.callbacks.ReduceLROnPlateau("val_competition_metric", mode="max", factor=0.5,
                                              patience=max(1, patience // 2)),
            keras.callbacks.EarlyStopping("val_competition_metric", mode="max", patience=patience),
        ]
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}; known: cosine, plateau")


STAGE_KEYS = set(Stage.model_fields)  # the schema's: one list of what a stage may set


def _require_known_keys(stage: dict, number: int) -> None:
    unknown = set(stage) - STAGE_KEYS
    if unknown:
        raise ValueError(f"Training stage {number} has unknown setting(s) {sorted(unknown)}; known: {sorted(STAGE_KEYS)}")


class EpochRecorder(keras.callbacks.Callback):
    """Appends each epoch's logs to the training history (one table across stages) and, with a
    ``checkpoint``, writes the training state and weights after every epoch."""

    def __init__(self, state: TrainingState, stage: int, clock: StageTimeLimit, best: BestOnValidationMetric,
                 checkpoint: TrainingCheckpoint | None):
        super().__init__()
        self.state, self.stage, self.clock, self.best, self.checkpoint = state, stage, clock, best, checkpoint

    def on_epoch_end(self, epoch, logs=None):
        state = self.state
        state.history.append({"epoch": len(state.history) + 1, "stage": self.stage,
                              **{key: float(value) for key, value in (logs or {}).items()}})
        state.stage, state.epoch = self.stage, epoch + 1
        state.elapsed, state.slowest, state.best_metric = self.clock.elapsed(), self.clock.slowest, self.best.best
        if self.checkpoint is not None:
            self.checkpoint.save(state, _saved_weights(self.model, self.best))


def _saved_weights(fitted: keras.Model, best: BestOnValidationMetric) -> SavedWeights:
    optimizer = [keras.ops.convert_to_numpy(v) for v in fitted.optimizer.variables] if fitted.optimizer else []
    return SavedWeights(last=fitted.get_weights(), best=best.best_weights, optimizer=optimizer)


def _start_stage(fitted: keras.Model, best: BestOnValidationMetric, stage: dict, presence_weight: float,
                 resume_from: SavedWeights | None) -> None:
    """Compile ``fitted`` for ``stage`` (Adam afresh; the stage's loss, plus the presence loss of
    ``presence_weight`` when above 0) and set its starting point: the checkpoint's weights and
    Adam state when resuming the stage, else the best weights so far."""
    best.loss = combined_loss(stage["loss_weights"])
    presence = presence_weight > 0
    losses, loss_weights = ([best.loss, bce_loss], [1.0, presence_weight]) if presence else (best.loss, None)
    fitted.compile(optimizer=keras.optimizers.Adam(stage["learning_rate"]), loss=losses, loss_weights=loss_weights)
    if resume_from is None:
        best.restore()
        return
    fitted.set_weights(resume_from.last)
    fitted.optimizer.build(fitted.trainable_variables)
    for variable, value in zip(fitted.optimizer.variables, resume_from.optimizer, strict=True):
        variable.assign(value)


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: dict,
    checkpoint: TrainingCheckpoint | None = None,
) -> pd.DataFrame:
    """Train ``model`` in place through ``settings["stages"]``; keep the best validation weights.

    Each stage has ``loss_weights``, ``epochs``, ``learning_rate`` and optionally ``max_minutes``
    (a wall-clock limit, :class:`StageTimeLimit`) and ``schedule`` (``plateau``: the learning
    rate halves on a plateau of the validation metric; ``cosine``: :class:`CosineOverBudget`,
    down to ``alpha`` times the rate).
    Adam restarts per stage. A plateau stage stops early after ``patience`` epochs without
    improvement; a cosine stage runs to the end of its budget. With a ``presence_loss_weight``
    above 0, a head on the bottleneck learns whether each image holds salt
    (:func:`~explainable_salt.segmentation.models.with_presence_head`, binary cross-entropy of that weight
    added to every stage's loss); ``model`` itself stays mask-only.

    With a ``checkpoint`` (:mod:`~explainable_salt.segmentation.checkpoints`), the state is saved
    after every epoch and training resumes from a saved one: the same stage and epoch, weights,
    Adam's moments, the best weights so far and the stage's spent budget. What is not restored:
    the data shuffling's random stream and a plateau schedule's patience counters.

    Returns the per-epoch history (epoch, stage, loss, val_loss, val_competition_metric,
    learning_rate).
    """
    keras.utils.set_random_seed(settings["seed"])
    if settings.get("deterministic", False):
        # Bit-identical reruns (conf/reproducible); process-wide and one-way, and slower.
        tf.config.experimental.enable_op_determinism()
    presence_weight = float(settings.get("presence_loss_weight", 0.0))
    presence = presence_weight > 0
    fitted = with_presence_head(model) if presence else model
    best = BestOnValidationMetric(model, x_val, y_val, settings["batch_size"])
    saved = checkpoint.load() if checkpoint is not None else None
    state, weights = saved if saved else (TrainingState(checkpoint.fingerprint if checkpoint else ""), None)
    if weights is not None:
        best.best, best.best_weights = state.best_metric, weights.best
    if state.complete:
        fitted.set_weights(weights.best)
        logger.info("Training had finished before: best weights restored from %s/ (validation metric %.4f)",
                    checkpoint.folder, best.best)
        return pd.DataFrame(state.history)
    data = training_dataset(x_train, y_train, settings["batch_size"], settings["seed"], presence,
                            settings.get("augmentation"))
    for number, stage in enumerate(settings["stages"], start=1):
        _require_known_keys(stage, number)
        if number < state.stage:
            continue  # finished before a resume
        resumed = weights is not None and number == state.stage and state.epoch > 0
        elapsed, slowest = (state.elapsed, state.slowest) if resumed else (0.0, 0.0)
        _start_stage(fitted, best, stage, presence_weight, weights if resumed else None)
        clock = StageTimeLimit(stage.get("max_minutes"), elapsed, slowest)
        recorder = EpochRecorder(state, number, clock, best, checkpoint)
        callbacks = [best, *_schedule_callbacks(stage, elapsed), clock, recorder]
        logger.info(
            "Training %s, stage %d (%s%s), on %d images (%d validation) for up to %d epochs%s",
            model.name, number, "+".join(stage["loss_weights"]),
            f", presence × {presence_weight:g}" if presence else "",
            len(x_train), len(x_val), stage["epochs"],
            f", resuming after epoch {state.epoch}" if resumed else "",
        )
        # Validation happens in ``best``: one prediction gives both the loss and the metric.
        fitted.fit(data, epochs=stage["epochs"], initial_epoch=state.epoch if resumed else 0,
                   callbacks=callbacks, shuffle=False, verbose=2)  # the tf.data pipeline shuffles
        state.stage, state.epoch, state.elapsed, state.slowest = number + 1, 0, 0.0, 0.0
        state.complete = number == len(settings["stages"])
        if checkpoint is not None:  # a resume after this starts the next stage, or returns at once
            checkpoint.save(state, _saved_weights(fitted, best))
    best.restore()
    logger.info("Best validation competition metric %.4f (weights restored)", best.best)
    return pd.DataFrame(state.history)
