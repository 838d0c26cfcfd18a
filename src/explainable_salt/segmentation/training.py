"""Training of a zoo model in stages (e.g. BCE + Dice, then Lovász), with ``tf.data`` flips and crops,
early stopping and best-weight checkpointing on the validation competition metric."""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from explainable_salt.runtime.hardware import without_autotuning
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
    ``presence`` the pair (masks, whether each augmented mask holds salt ``(N, 1)``).

    ``augmentation`` (default: flips only): ``flip`` mirrors each image left-right with
    probability 0.5; with ``crop_probability`` above 0, that share of the images is cropped to a
    random square window of ``min_crop`` to 1 times the side and resized back (a zoom of up to
    ``1 / min_crop``). Image and mask move together: the stack is resampled bilinearly in one
    ``tf.image.crop_and_resize`` call per batch and the mask is binarised again at 0.5. The
    pipeline runs with fixed parallelism, without autotuning.
    """
    augmentation = {"flip": True, "min_crop": 1.0, "crop_probability": 0.0, **(augmentation or {})}
    flip, min_crop, crop_share = augmentation["flip"], augmentation["min_crop"], augmentation["crop_probability"]
    if not 0.0 < min_crop <= 1.0 or not 0.0 <= crop_share <= 1.0:
        raise ValueError(f"augmentation needs 0 < min_crop <= 1 and 0 <= crop_probability <= 1; got {augmentation}")
    masks = y[..., None].astype(np.float32)

    def augment(images, masks):
        stack = tf.concat([images, masks], axis=-1)
        n = tf.shape(stack)[0]
        if flip:
            mirrored = tf.random.uniform((n, 1, 1, 1)) < 0.5
            stack = tf.where(mirrored, tf.reverse(stack, [2]), stack)
        if crop_share > 0 and min_crop < 1:
            side = tf.where(tf.random.uniform((n,)) < crop_share, tf.random.uniform((n,), min_crop, 1.0), 1.0)
            top, left = (tf.random.uniform((n,)) * (1.0 - side) for _ in range(2))
            boxes = tf.stack([top, left, top + side, left + side], axis=1)
            stack = tf.image.crop_and_resize(stack, boxes, tf.range(n), x.shape[1:3])
        images, masks = stack[..., :-1], tf.cast(stack[..., -1:] > 0.5, tf.float32)
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

    def __init__(self, minutes: float | None):
        super().__init__()
        self.seconds = None if minutes is None else 60.0 * minutes
        self.start = 0.0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stage began."""
        return time.perf_counter() - self.start


class StageTimeLimit(_StageClock):
    """Stops a stage before an epoch would end past ``minutes`` of wall-clock time (``None``: no
    limit), judging by the slowest epoch so far; a guard for the training-time budget."""

    def __init__(self, minutes: float | None):
        super().__init__(minutes)
        self.slowest = self._epoch_start = 0.0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.slowest, self._epoch_start = 0.0, self.start

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

    def __init__(self, learning_rate: float, epochs: int, minutes: float | None, alpha: float = 0.0):
        super().__init__(minutes)
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


def _batch_norm_layers(layer: keras.layers.Layer) -> list[keras.layers.BatchNormalization]:
    """The batch-normalisation layers in ``layer`` and the models nested in it, each once."""
    found = {id(layer): layer} if isinstance(layer, keras.layers.BatchNormalization) else {}
    for inner in getattr(layer, "layers", []):
        found.update((id(bn), bn) for bn in _batch_norm_layers(inner))
    return list(found.values())


def recompute_batch_norm_statistics(model: keras.Model, data: tf.data.Dataset) -> int:
    """Set the moving mean and variance of every batch-normalisation layer in ``model`` to the
    average of their batch values over one pass of ``data`` (batches of (inputs, targets)), as
    after stochastic weight averaging, whose averaged statistics belong to none of the averaged
    weights. Trainable weights stay as they are. Returns the number of batches used."""
    layers = _batch_norm_layers(model)
    momenta = [bn.momentum for bn in layers]
    batches = 0
    if layers:
        for batches, (inputs, _) in enumerate(data, start=1):
            for bn in layers:  # a cumulative mean: batch k weighs 1 / k
                bn.momentum = 1.0 - 1.0 / batches
            model(inputs, training=True)
        for bn, momentum in zip(layers, momenta):
            bn.momentum = momentum
    return batches


class WeightAverage(keras.callbacks.Callback):
    """Stochastic weight averaging (Izmailov et al. 2018, "Averaging weights leads to wider optima
    and better generalization") over the tail of a cosine stage, or all of a constant-rate one
    (``alpha: 1``).

    From the epoch that ends with ``start`` of the ``schedule``'s budget used, the weights at each
    epoch's end join a running mean. When the stage ends the mean is loaded, its batch-norm
    statistics are recomputed over the training ``data`` (:func:`recompute_batch_norm_statistics`),
    and ``best`` scores it on validation and keeps it only if it beats
    every epoch so far; ``averaged`` then holds the number of epochs averaged and the mean's
    validation loss and metric (empty if fewer than two epochs were averaged).
    """

    def __init__(self, schedule: CosineOverBudget, start: float, best: BestOnValidationMetric,
                 data: tf.data.Dataset):
        super().__init__()
        if not 0.0 <= start < 1.0:
            raise ValueError(f"average_from is a fraction of the stage's budget in [0, 1); got {start}")
        self.schedule, self.start, self.best, self.data = schedule, start, best, data
        self.mean, self.count, self.averaged = [], 0, {}

    def on_train_begin(self, logs=None):
        self.mean = [np.zeros(w.shape) for w in self.model.get_weights()]
        self.count, self.averaged = 0, {}

    def on_epoch_end(self, epoch, logs=None):
        if self.schedule.progress(epoch + 1) < self.start:
            return
        self.count += 1
        for mean, w in zip(self.mean, self.model.get_weights()):
            mean += (w - mean) / self.count

    def on_train_end(self, logs=None):
        if self.count < 2:
            logger.info("Weight averaging skipped: %d epoch(s) ended after %.0f %% of the budget",
                        self.count, 100 * self.start)
            return
        self.model.set_weights([mean.astype(w.dtype) for mean, w in zip(self.mean, self.model.get_weights())])
        batches = recompute_batch_norm_statistics(self.model, self.data)
        logger.info("Batch-norm statistics of the averaged weights recomputed over %d training batches", batches)
        before = self.best.best
        loss, metric = self.best.score()
        self.averaged = {"averaged_epochs": self.count, "averaged_val_loss": loss,
                         "averaged_val_competition_metric": metric}
        logger.info("Average of the last %d epochs' weights: validation competition metric %.4f, %s the "
                    "best epoch's %.4f", self.count, metric, "kept over" if metric > before else "below", before)


def _schedule_callbacks(stage: dict, patience: int) -> list[keras.callbacks.Callback]:
    """The stage's ``schedule``: ``plateau`` (the default: halve the rate after ``patience // 2``
    epochs without a better validation metric, stop after ``patience``) or ``cosine``
    (:class:`CosineOverBudget`, no early stop: its gains come as the rate decays, after epochs
    whose validation score is noisy at a high rate)."""
    schedule = stage.get("schedule", "plateau")
    if schedule == "cosine":
        return [CosineOverBudget(stage["learning_rate"], stage["epochs"], stage.get("max_minutes"),
                                 stage.get("alpha", 0.0))]
    if schedule == "plateau":
        return [
            keras.callbacks.ReduceLROnPlateau("val_competition_metric", mode="max", factor=0.5,
                                              patience=max(1, patience // 2)),
            keras.callbacks.EarlyStopping("val_competition_metric", mode="max", patience=patience),
        ]
    raise ValueError(f"Unknown learning-rate schedule {schedule!r}; known: cosine, plateau")


def _weight_average(stage: dict, schedule: keras.callbacks.Callback, best: BestOnValidationMetric,
                    data: tf.data.Dataset) -> WeightAverage | None:
    """The stage's :class:`WeightAverage` from its ``average_from`` (``None``: no averaging),
    which needs a cosine schedule; ``data`` recomputes the batch-norm statistics of the mean."""
    start = stage.get("average_from")
    if start is None:
        return None
    if not isinstance(schedule, CosineOverBudget):
        raise ValueError(f"average_from needs a cosine schedule; this stage's is {stage.get('schedule', 'plateau')!r}")
    return WeightAverage(schedule, float(start), best, data)


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: dict,
) -> pd.DataFrame:
    """Train ``model`` in place through ``settings["stages"]``; keep the best validation weights.

    Each stage has ``loss_weights``, ``epochs``, ``learning_rate`` and optionally ``max_minutes``
    (a wall-clock limit, :class:`StageTimeLimit`) and ``schedule`` (``plateau``: the learning
    rate halves on a plateau of the validation metric; ``cosine``: :class:`CosineOverBudget`,
    down to ``alpha`` times the rate) and, in a cosine stage, ``average_from``
    (:class:`WeightAverage` from that fraction of the budget on).
    Adam restarts per stage. A plateau stage stops early after ``patience`` epochs without
    improvement; a cosine stage runs to the end of its budget. With a ``presence_loss_weight``
    above 0, a head on the bottleneck learns whether each image holds salt
    (:func:`~explainable_salt.segmentation.models.with_presence_head`, binary cross-entropy of that weight
    added to every stage's loss); ``model`` itself stays mask-only. Returns the per-epoch history
    (epoch, stage, loss, val_loss, val_competition_metric, learning_rate; with averaging, the
    averaged_* columns on each averaging stage's last row).
    """
    keras.utils.set_random_seed(settings["seed"])
    presence_weight = float(settings.get("presence_loss_weight", 0.0))
    presence = presence_weight > 0
    fitted = with_presence_head(model) if presence else model
    best = BestOnValidationMetric(model, x_val, y_val, settings["batch_size"])
    data = training_dataset(x_train, y_train, settings["batch_size"], settings["seed"], presence,
                            settings.get("augmentation"))
    tables, epochs_done = [], 0
    for number, stage in enumerate(settings["stages"], start=1):
        best.restore()  # each stage starts from the best weights so far
        best.loss = combined_loss(stage["loss_weights"])
        losses, weights = ([best.loss, bce_loss], [1.0, presence_weight]) if presence else (best.loss, None)
        fitted.compile(optimizer=keras.optimizers.Adam(stage["learning_rate"]), loss=losses, loss_weights=weights)
        callbacks = [best, *_schedule_callbacks(stage, settings["patience"])]
        average = _weight_average(stage, callbacks[-1], best, data)
        callbacks += [StageTimeLimit(stage.get("max_minutes"))] + ([average] if average else [])
        logger.info(
            "Training %s, stage %d (%s%s), on %d images (%d validation) for up to %d epochs",
            model.name, number, "+".join(stage["loss_weights"]),
            f", presence × {presence_weight:g}" if presence else "",
            len(x_train), len(x_val), stage["epochs"],
        )
        # Validation happens in ``best``: one prediction gives both the loss and the metric.
        history = fitted.fit(data, epochs=stage["epochs"], callbacks=callbacks, shuffle=False,
                             verbose=2)  # the tf.data pipeline shuffles
        table = pd.DataFrame(history.history)
        table.insert(0, "stage", number)
        table.insert(0, "epoch", np.arange(epochs_done + 1, epochs_done + len(table) + 1))
        for column, value in (average.averaged if average else {}).items():
            table.loc[table.index[-1], column] = value  # on the stage's last row
        epochs_done += len(table)
        tables.append(table)
    best.restore()
    logger.info("Best validation competition metric %.4f (weights restored)", best.best)
    return pd.concat(tables, ignore_index=True)
