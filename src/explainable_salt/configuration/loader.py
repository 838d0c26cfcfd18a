"""The project's config loader: Kedro's ``OmegaConfigLoader`` plus ``${kedro_env:}``, the name of
the environment the configuration is read for.

What one environment writes and must never meet in another goes in a folder named after it: the
training checkpoints (``folder: data/06_models/checkpoints/${kedro_env:}``), so that a quick smoke
run (``--env quick``) never finds, nor sets aside, an hour of the default configuration's training.
The name is the run's ``--env`` (or ``KEDRO_ENV``), else the default run environment, ``local``.
"""

from __future__ import annotations

import os
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

RESOLVER = "kedro_env"
DEFAULT_RUN_ENV = "local"


def environment_outside_a_session() -> str:
    """What ``${kedro_env:}`` gives a plain ``OmegaConfigLoader`` built with the project's
    ``CONFIG_LOADER_ARGS`` (some tests read the parameters so), which knows no session: the
    environment a bare ``kedro run`` would use."""
    return os.environ.get("KEDRO_ENV") or DEFAULT_RUN_ENV


class EnvironmentConfigLoader(OmegaConfigLoader):
    """``OmegaConfigLoader`` whose ``${kedro_env:}`` is its own environment."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        # OmegaConf's resolvers are global to the process, and one process can hold sessions of
        # several environments (the tests do). So each read binds the resolver to this loader, as
        # Kedro does for `${runtime_params:}`, then puts the plain one back: a loader never
        # resolves with the environment of whichever loader was made last.
        OmegaConf.register_new_resolver(RESOLVER, lambda: self.env or self.default_run_env, replace=True)
        try:
            return super().__getitem__(key)
        finally:
            OmegaConf.register_new_resolver(RESOLVER, environment_outside_a_session, replace=True)
