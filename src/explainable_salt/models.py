"""The model zoo (Keras 3). Every model maps ``(N, 101, 101, C)`` channels to ``(N, 101, 101, 1)``
salt probabilities; padding to a size the depth allows happens inside the model."""

from __future__ import annotations

import math

import keras
from keras import layers

IMAGE_SIZE = 101


def _padding(size: int, depth: int) -> tuple[int, int]:
    padded = math.ceil(size / 2**depth) * 2**depth
    return (padded - size) // 2, padded - size - (padded - size) // 2


def conv_block(x, filters: int, kernel_size: int, batch_norm: bool, name: str):
    """Two ``kernel_size`` convolutions, each followed by optional batch norm and ReLU."""
    for i in (1, 2):
        x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}")(x)
        if batch_norm:
            # momentum 0.9: moving statistics settle within the few hundred steps of a CPU run.
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{i}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def build_unet(
    input_channels: int,
    depth: int = 3,
    base_filters: int = 16,
    batch_norm: bool = True,
    dropout: float = 0.1,
    kernel_size: int = 3,
    image_size: int = IMAGE_SIZE,
) -> keras.Model:
    """A U-Net of ``depth`` down/up-sampling levels, filters doubling per level.

    Input ``(image_size, image_size, input_channels)``, zero-padded to a multiple of
    ``2**depth`` and cropped back after the last layer.
    """
    inputs = keras.Input((image_size, image_size, input_channels), name="channels")
    pad = _padding(image_size, depth)
    x = layers.ZeroPadding2D((pad, pad), name="pad")(inputs)
    skips = []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, kernel_size, batch_norm, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"pool{level}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"drop{level}")(x)
    x = conv_block(x, base_filters * 2**depth, kernel_size, batch_norm, "bottleneck")
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, base_filters * 2**level, kernel_size, batch_norm, f"dec{level}")
    x = layers.Conv2D(1, 1, activation="sigmoid", name="salt_probability")(x)
    outputs = layers.Cropping2D((pad, pad), name="crop")(x)
    return keras.Model(inputs, outputs, name=f"unet_d{depth}_f{base_filters}")


MODELS = {"unet": build_unet}


def build_model(architecture: str, input_channels: int, **settings) -> keras.Model:
    """Build the zoo model named ``architecture`` with its ``settings``."""
    if architecture not in MODELS:
        raise ValueError(f"Unknown architecture {architecture!r}; the zoo has {sorted(MODELS)}")
    return MODELS[architecture](input_channels, **settings)
