"""What this machine computes fast, and the TensorFlow settings that follow from it.

- oneDNN CPU kernels: TensorFlow turns them on by default only on CPUs with AVX-512 VNNI or BF16,
  or AMX (TensorFlow 2.9 release notes); on a CPU with AVX2 alone they train about 1.8 times as
  fast (docs/experiments.md), so the package asks for them wherever it is imported before
  TensorFlow (:func:`prefer_onednn_kernels`). ``TF_ENABLE_ONEDNN_OPTS=0`` in the environment wins.
- bfloat16: ``dtype_policy: auto`` picks ``mixed_bfloat16`` only where the hardware computes in
  bfloat16 natively (:func:`resolve_dtype_policy`); elsewhere it is emulated and slower.
- tf.data: autotuning made epochs on a 2-core CPU wait with both cores idle, so every pipeline of
  the project runs with fixed parallelism (:func:`without_autotuning`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

logger = logging.getLogger(__name__)


def prefer_onednn_kernels() -> None:
    """Ask TensorFlow for its oneDNN CPU kernels unless ``TF_ENABLE_ONEDNN_OPTS`` is set (read
    once, when TensorFlow loads)."""
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels; ``None`` if this TensorFlow cannot say."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def has_bfloat16_arithmetic() -> bool:
    """Whether TensorFlow computes in bfloat16 natively here: a GPU of compute capability 8 or
    more, or, without a GPU, a CPU flagging AVX-512 BF16 or AMX BF16 in ``/proc/cpuinfo``."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return all(tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0)) >= (8, 0)
                   for gpu in gpus)
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: no way to tell, stay with float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype_policy(policy: str) -> str:
    """``policy`` itself, or for ``auto``: ``mixed_bfloat16`` where the hardware computes in
    bfloat16 natively, ``float32`` otherwise."""
    if policy != "auto":
        return policy
    resolved = "mixed_bfloat16" if has_bfloat16_arithmetic() else "float32"
    logger.info("dtype policy auto: %s (oneDNN CPU kernels: %s)", resolved,
                {True: "on", False: "off", None: "unknown"}[onednn_enabled()])
    return resolved


def without_autotuning(data: tf.data.Dataset) -> tf.data.Dataset:
    """``data`` with tf.data's autotuning off: the parallelism and prefetch it was built with."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return data.with_options(options)
