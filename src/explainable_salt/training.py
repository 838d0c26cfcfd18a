"""Training of a zoo model on channel stacks with ``tf.data`` augmentation and early stopping."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from explainable_salt.losses import combined_loss

logger = logging.getLogger(__name__)


def training_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled batches with random left-right flips applied on the fly."""

    def flip(image, mask):
        do_flip = tf.random.uniform((), seed=seed) < 0.5
        return (
            tf.cond(do_flip, lambda: tf.reverse(image, [1]), lambda: image),
            tf.cond(do_flip, lambda: tf.reverse(mask, [1]), lambda: mask),
        )

    data = tf.data.Dataset.from_tensor_slices((x, y[..., None].astype(np.float32)))
    data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.map(flip, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    settings: dict,
) -> pd.DataFrame:
    """Train ``model`` in place; return the per-epoch history (epoch, loss, val_loss, …)."""
    keras.utils.set_random_seed(settings["seed"])
    model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss=combined_loss(settings["loss_weights"]),
    )
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings["patience"], restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=max(1, settings["patience"] // 2)
        ),
    ]
    logger.info(
        "Training %s on %d images (%d validation) for up to %d epochs",
        model.name, len(x_train), len(x_val), settings["epochs"],
    )
    history = model.fit(
        training_dataset(x_train, y_train, settings["batch_size"], settings["seed"]),
        validation_data=(x_val, y_val[..., None].astype(np.float32)),
        epochs=settings["epochs"],
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=2,
    )
    table = pd.DataFrame(history.history)
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    return table
