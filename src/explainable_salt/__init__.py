"""explainable-salt: salt segmentation of TGS seismic images, explained channel by channel."""

import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512 VNNI or BF16,
# or AMX (TensorFlow 2.9 release notes). On a CPU with AVX2 alone they train the 8-filter U-Net
# of conf/cpu_float32 about 1.8 times as fast (docs/modelling.md), so the project turns them on
# wherever it is imported before TensorFlow. TF_ENABLE_ONEDNN_OPTS=0 in the environment wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
