"""explainable-salt: salt segmentation of TGS seismic images, explained channel by channel."""

__version__ = "0.1.0"
