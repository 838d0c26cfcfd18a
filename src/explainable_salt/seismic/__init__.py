"""Seismic attributes (the model's input channels) and their normalisation."""
