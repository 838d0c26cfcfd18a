"""explainable-salt: salt segmentation of TGS seismic images, explained channel by channel."""

from explainable_salt.compute.hardware import prefer_onednn_kernels

prefer_onednn_kernels()  # before anything imports TensorFlow

__version__ = "0.1.0"
