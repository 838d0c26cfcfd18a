"""What a run ran on, logged to its MLflow run: hardware, dtype policy, package versions, a hash of
the raw data, the Kedro environment and a hash of the effective configuration (every parameter
after the environment's and ``--params`` overrides), so that two runs' numbers can be compared
knowing what differed."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PACKAGES = ("kedro", "kedro-datasets", "kedro-mlflow", "mlflow", "tensorflow", "keras", "shap", "numpy",
            "scikit-image", "pandas", "dask")


def raw_data_fingerprint(folder: str | Path) -> str:
    """A hash (BLAKE2b, 16 hex digits) of every file under ``folder``: relative paths and contents,
    in name order (links to the competition files are followed). Marker files (``.gitkeep``) are
    left out."""
    folder = Path(folder)
    digest = hashlib.blake2b(digest_size=8)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".gitkeep"):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as file:
            digest.update(hashlib.file_digest(file, "blake2b").digest())
    return digest.hexdigest()


def configuration_fingerprint(params: dict[str, Any]) -> str:
    """A hash (BLAKE2b, 16 hex digits) of the effective parameters: equal for two runs exactly when
    every parameter is equal, whichever environment or ``--params`` set it."""
    payload = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_environment(dtype_policy: str, raw_folder: str | Path) -> dict[str, str]:
    """The MLflow tags of a run: ``hardware.*``, ``dtype_policy``, ``version.<package>`` and
    ``raw_data.blake2b``."""
    import tensorflow as tf

    from explainable_salt.compute.hardware import has_bfloat16_arithmetic, onednn_enabled, resolve_dtype_policy

    tags = {
        "hardware.cpu": _cpu_model(),
        "hardware.cores": str(os.cpu_count()),
        "hardware.gpus": str(len(tf.config.list_physical_devices("GPU"))),
        "hardware.bfloat16_arithmetic": str(has_bfloat16_arithmetic()),
        "hardware.onednn": str(onednn_enabled()),
        "dtype_policy": resolve_dtype_policy(dtype_policy),
        "version.python": platform.python_version(),
        "raw_data.blake2b": raw_data_fingerprint(raw_folder),
    }
    for package in PACKAGES:
        try:
            tags[f"version.{package}"] = version(package)
        except PackageNotFoundError:
            tags[f"version.{package}"] = "not installed"
    return tags


def run_tags(dtype_policy: str, raw_folder: str | Path, environment: str, params: dict[str, Any]) -> dict[str, str]:
    """Every tag of a run: :func:`run_environment`, the Kedro environment (``kedro.env``) and
    :func:`configuration_fingerprint` (``config.blake2b``)."""
    tags = {**run_environment(dtype_policy, raw_folder), "kedro.env": str(environment),
            "config.blake2b": configuration_fingerprint(params)}
    logger.info("Run environment: %s, %s cores, dtype %s, raw data %s, env %s, configuration %s", tags["hardware.cpu"],
                tags["hardware.cores"], tags["dtype_policy"], tags["raw_data.blake2b"], tags["kedro.env"],
                tags["config.blake2b"])
    return tags
