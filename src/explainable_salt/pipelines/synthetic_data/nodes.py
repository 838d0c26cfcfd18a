"""Nodes of the synthetic_data pipeline."""

from __future__ import annotations

import logging

from explainable_salt.tgs import synthetic

logger = logging.getLogger(__name__)


def generate_synthetic_dataset(params: dict):
    """Generate the built-in dataset in the competition layout (see :mod:`explainable_salt.tgs.synthetic`).

    Returns train images, train masks, train.csv, depths.csv, test images and the record of the
    generator's settings (``synthetic_data.json``, which marks the raw data as synthetic).
    """
    logger.warning(
        "Generating the built-in SYNTHETIC dataset (%d labelled + %d test images, seed %d) "
        "into data/01_raw: results describe synthetic data, not the TGS competition.",
        params["n_train"],
        params["n_test"],
        params["seed"],
    )
    common = {
        "shape_probabilities": params["shape_probabilities"],
        "wavelet_frequency": params["wavelet_frequency"],
        "noise_level": params["noise_level"],
    }
    train = synthetic.generate(params["n_train"], params["seed"], **common)
    test = synthetic.generate(params["n_test"], params["seed"] + 1, **common)
    return (*synthetic.competition_layout(train, test), dict(params))
