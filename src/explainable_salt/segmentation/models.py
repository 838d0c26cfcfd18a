"""The model zoo (Keras 3). Every model maps ``(N, 101, 101, C)`` channels to ``(N, 101, 101, 1)``
salt probabilities; padding to a size the depth allows (reflect or zero) happens inside the model.

- ``unet``: the classic U-Net (two convolutions per level, filters doubling per level);
- ``residual_unet``: residual blocks, optionally with scSE attention (concurrent spatial and
  channel squeeze-and-excitation);
- ``vgg16_unet``: a VGG16 encoder, ImageNet weights read from a local file when given (they cannot
  be downloaded here), with a U-Net decoder.
"""

from __future__ import annotations

import logging
import math

import keras
from keras import layers, ops

from explainable_salt.compute.hardware import resolve_dtype_policy
from explainable_salt.stacks import IMAGE_SIZE

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="explainable_salt")
class Padding2D(layers.Layer):
    """Pads height and width by ``(before, after)`` with ``mode`` ``reflect`` or ``zero``."""

    def __init__(self, padding: tuple[int, int], mode: str = "reflect", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("reflect", "zero"):
            raise ValueError(f"padding mode must be 'reflect' or 'zero', not {mode!r}")
        self.padding, self.mode = tuple(padding), mode

    def call(self, x):
        pad = [(0, 0), self.padding, self.padding, (0, 0)]
        return ops.pad(x, pad, mode="reflect" if self.mode == "reflect" else "constant")

    def compute_output_shape(self, shape):
        extra = sum(self.padding)
        return (shape[0], None if shape[1] is None else shape[1] + extra,
                None if shape[2] is None else shape[2] + extra, shape[3])

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "mode": self.mode}


def _padding(size: int, depth: int) -> tuple[int, int]:
    padded = math.ceil(size / 2**depth) * 2**depth
    return (padded - size) // 2, padded - size - (padded - size) // 2


def _norm_relu(x, batch_norm: bool, name: str):
    if batch_norm:
        # momentum 0.9: moving statistics settle within the few hundred steps of a CPU run.
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def conv_block(x, filters: int, kernel_size: int, batch_norm: bool, name: str):
    """Two ``kernel_size`` convolutions, each followed by optional batch norm and ReLU."""
    for i in (1, 2):
        x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}")(x)
        x = _norm_relu(x, batch_norm, f"{name}_{i}")
    return x


def scse(x, name: str, ratio: int = 4):
    """Concurrent spatial and channel squeeze-and-excitation (Roy et al. 2018)."""
    filters = x.shape[-1]
    channel = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_cse_pool")(x)
    channel = layers.Conv2D(max(filters // ratio, 1), 1, activation="relu", name=f"{name}_cse_fc1")(channel)
    channel = layers.Conv2D(filters, 1, activation="sigmoid", name=f"{name}_cse_fc2")(channel)
    spatial = layers.Conv2D(1, 1, activation="sigmoid", name=f"{name}_sse")(x)
    return layers.Add(name=f"{name}_scse")([layers.Multiply()([x, channel]), layers.Multiply()([x, spatial])])


def residual_block(x, filters: int, kernel_size: int, batch_norm: bool, use_scse: bool, name: str):
    """Conv-BN-ReLU-Conv-BN plus a (1×1-projected) shortcut, ReLU, optional scSE."""
    shortcut = x if x.shape[-1] == filters else layers.Conv2D(filters, 1, name=f"{name}_proj")(x)
    y = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv1")(x)
    y = _norm_relu(y, batch_norm, f"{name}_1")
    y = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv2")(y)
    if batch_norm:
        y = layers.BatchNormalization(momentum=0.9, name=f"{name}_2_bn")(y)
    y = layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))
    return scse(y, name) if use_scse else y


def _probability_head(x, pad: tuple[int, int]):
    """Per-pixel salt probability, cropped back to the input size; float32 whatever the policy
    (losses, thresholds and Shapley sums need float32 probabilities)."""
    x = layers.Conv2D(1, 1, activation="sigmoid", dtype="float32", name="salt_probability")(x)
    return layers.Cropping2D((pad, pad), dtype="float32", name="crop")(x)


def unet_features(inputs, depth: int, base_filters: int, dropout: float, padding: str, block):
    """The U-Net's decoder features of ``inputs`` ``(N, S, S, C)`` at the padded size, and the
    ``(before, after)`` padding to crop: the body shared by the zoo's U-Nets and the amortized
    explainer (:mod:`explainable_salt.attribution.amortized`)."""
    pad = _padding(inputs.shape[1], depth)
    x = Padding2D(pad, padding, name="pad")(inputs)
    skips = []
    for level in range(depth):
        x = block(x, base_filters * 2**level, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"pool{level}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"drop{level}")(x)
    x = layers.Identity(name="bottleneck")(block(x, base_filters * 2**depth, "bottleneck"))
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = block(x, base_filters * 2**level, f"dec{level}")
    return x, pad


def _unet(input_channels, depth, base_filters, dropout, image_size, padding, block, name):
    inputs = keras.Input((image_size, image_size, input_channels), name="channels")
    x, pad = unet_features(inputs, depth, base_filters, dropout, padding, block)
    return keras.Model(inputs, _probability_head(x, pad), name=name)


def build_unet(
    input_channels: int, depth: int = 3, base_filters: int = 16, batch_norm: bool = True,
    dropout: float = 0.1, kernel_size: int = 3, image_size: int = IMAGE_SIZE, padding: str = "reflect",
) -> keras.Model:
    """A U-Net of ``depth`` down/up-sampling levels, filters doubling per level."""
    def block(x, filters, name):
        return conv_block(x, filters, kernel_size, batch_norm, name)

    return _unet(input_channels, depth, base_filters, dropout, image_size, padding, block,
                 f"unet_d{depth}_f{base_filters}")


def build_residual_unet(
    input_channels: int, depth: int = 4, base_filters: int = 16, batch_norm: bool = True,
    dropout: float = 0.1, kernel_size: int = 3, image_size: int = IMAGE_SIZE, padding: str = "reflect",
    use_scse: bool = True,
) -> keras.Model:
    """A U-Net whose blocks are residual (optionally with scSE attention)."""
    def block(x, filters, name):
        return residual_block(x, filters, kernel_size, batch_norm, use_scse, name)

    return _unet(input_channels, depth, base_filters, dropout, image_size, padding, block,
                 f"residual_unet_d{depth}_f{base_filters}{'_scse' if use_scse else ''}")


def build_vgg16_unet(
    input_channels: int, weights_path: str | None = None, batch_norm: bool = True,
    image_size: int = IMAGE_SIZE, padding: str = "reflect", decoder_filters: int = 32,
) -> keras.Model:
    """A U-Net with the VGG16 encoder (four pooling levels, inputs padded to 112 × 112).

    The ``C`` channels are mapped to VGG16's three by a 1×1 convolution. ImageNet weights load
    from ``weights_path`` (a ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` file); without
    one the encoder is initialised randomly, and the log says so.
    """
    if weights_path is None:
        logger.warning("vgg16_unet: no weights_path given, the VGG16 encoder starts from random weights")
    inputs = keras.Input((image_size, image_size, input_channels), name="channels")
    pad = _padding(image_size, 4)
    x = Padding2D(pad, padding, name="pad")(inputs)
    x = layers.Conv2D(3, 1, name="to_rgb")(x)
    size = image_size + sum(pad)
    encoder = keras.applications.VGG16(include_top=False, weights=weights_path, input_shape=(size, size, 3))
    skip_names = ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"]
    features = keras.Model(encoder.input, [encoder.get_layer(n).output for n in skip_names]
                           + [encoder.get_layer("block5_conv3").output], name="vgg16_encoder")
    *skips, x = features(x)
    x = layers.Identity(name="bottleneck")(x)
    for level in reversed(range(4)):
        filters = decoder_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = conv_block(x, filters, 3, batch_norm, f"dec{level}")
    return keras.Model(inputs, _probability_head(x, pad), name="vgg16_unet")


def with_presence_head(model: keras.Model) -> keras.Model:
    """A training-time twin of a zoo ``model`` that also outputs, per image, the probability
    that it holds any salt, from the pooled (average and maximum) bottleneck features.

    The twin shares its layers with ``model``: training it with a presence loss (deep
    supervision, :func:`explainable_salt.segmentation.training.fit`) trains ``model``, which stays a mask-only
    model for prediction and explanation.
    """
    features = model.get_layer("bottleneck").output
    pooled = layers.Concatenate(name="presence_pool")([
        layers.GlobalAveragePooling2D(name="presence_avg")(features),
        layers.GlobalMaxPooling2D(name="presence_max")(features),
    ])
    presence = layers.Dense(1, activation="sigmoid", dtype="float32", name="salt_presence")(pooled)
    mask = layers.Identity(dtype="float32", name="salt_mask")(model.outputs[0])  # names the loss
    return keras.Model(model.inputs, [mask, presence], name=f"{model.name}_with_presence")


MODELS = {"unet": build_unet, "residual_unet": build_residual_unet, "vgg16_unet": build_vgg16_unet}


def build_model(
    architecture: str, input_channels: int, dtype_policy: str = "float32", seed: int | None = None, **settings
) -> keras.Model:
    """Build the zoo model named ``architecture`` with its ``settings``; with a ``seed``, its
    initial weights are drawn from it (the same seed, the same model).

    ``dtype_policy`` is the Keras dtype policy of its layers: ``float32``, ``mixed_bfloat16``
    (bfloat16 arithmetic on float32 weights; faster where the hardware has bfloat16 arithmetic,
    see ``benchmarks/bench_training.py``) or ``auto`` (:func:`~explainable_salt.compute.hardware.resolve_dtype_policy`). The output
    probabilities are float32 either way.
    """
    if architecture not in MODELS:
        raise ValueError(f"Unknown architecture {architecture!r}; the zoo has {sorted(MODELS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_dtype_policy(dtype_policy))
    if seed is not None:
        keras.utils.set_random_seed(seed)
    try:
        return MODELS[architecture](input_channels, **settings)
    finally:
        keras.config.set_dtype_policy(previous)


def build_configured_model(modelling: dict, input_channels: int, seed: int | None = None) -> keras.Model:
    """The model ``modelling`` (the ``modelling`` parameters) configures: the architecture it
    names, with that architecture's own block of ``modelling.model`` and its ``dtype_policy``."""
    architecture = modelling["architecture"]
    settings = modelling["model"][architecture]
    return build_model(architecture, input_channels, modelling.get("dtype_policy", "float32"), seed, **settings)
