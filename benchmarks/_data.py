"""Shared by the benchmarks: the real TGS images, decoded once, and the labelled ones as a run's model inputs."""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from explainable_salt.datasets import PNGSetDataset
from explainable_salt.pipelines.data_engineering.nodes import build_manifest, validate_train_set
from explainable_salt.pipelines.feature_engineering.nodes import fit_channel_normaliser
from explainable_salt.seismic.normalisation import normalised_channels
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.validation import depth_by_id

REPO = Path(__file__).resolve().parents[1]

# The real competition files, found as the tests find them: $TGS_DATA_DIR, else ../shared/tgs.
DEFAULT_TGS = Path(os.environ.get("TGS_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "tgs"))


def load_grey_images(tgs_dir: Path, limit: int | None = None) -> tuple[np.ndarray, float]:
    """All train and test images of ``tgs_dir`` (the first ``limit``, when given) as
    ``(N, 101, 101) uint8``, and the decode time."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: {limit} images; at least 1 needed (None: all)")
    start = time.perf_counter()
    images = []
    for archive_name in ("train.zip", "test.zip"):
        with zipfile.ZipFile(tgs_dir / archive_name) as archive:
            names = [n for n in archive.namelist() if n.startswith("images/") and n.endswith(".png")]
            for name in names:
                images.append(np.asarray(Image.open(io.BytesIO(archive.read(name))))[..., 0])
                if limit is not None and len(images) >= limit:
                    return np.stack(images), time.perf_counter() - start
    return np.stack(images), time.perf_counter() - start


def labelled_channels(tgs: Path, params: dict) -> tuple[ImageStack, ImageStack, pd.DataFrame]:
    """The competition's labelled images as the model's normalised channels ``(N, 101, 101, C)``
    (normaliser fitted on the train split), their masks and the manifest, as a run makes them."""
    loaded = [PNGSetDataset(str(tgs / "train" / d), archive=str(tgs / "train.zip"), member_dir=d).load()
              for d in ("images", "masks")]
    depths = pd.read_csv(tgs / "depths.csv", dtype={"id": str})
    images, masks = validate_train_set(*loaded, pd.read_csv(tgs / "train.csv", keep_default_na=False, dtype=str),
                                       depths)
    manifest = build_manifest(masks, depths, params["data_engineering"])
    features, names = params["feature_engineering"], list(params["modelling"]["channels"])
    normaliser = fit_channel_normaliser(images, depths, manifest, features, names)
    depth = depth_by_id(depths).reindex(images.ids).to_numpy(np.float32)
    channels = normalised_channels(images.data, images.ids, depth, names, features["attribute_settings"], normaliser)
    return ImageStack(images.ids, channels, tuple(names)), masks, manifest


def base_parameters(name: str, project: Path = REPO) -> dict:
    """The ``name`` block of ``project``'s ``conf/base/parameters_<name>.yml``."""
    import yaml

    return yaml.safe_load((project / f"conf/base/parameters_{name}.yml").read_text())[name]
