"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from pathlib import Path

from explainable_salt.configuration.loader import (
    DEFAULT_RUN_ENV,
    RESOLVER,
    EnvironmentConfigLoader,
    environment_outside_a_session,
)
from explainable_salt.hooks import (
    CheckpointCleanupHook,
    ConfigurationHook,
    DataProtectionHook,
    LineageHook,
    RunEnvironmentHook,
    RunLockHook,
)
from explainable_salt.storage.atomic import AtomicCatalogContext, AtomicDataCatalog

# One `kedro run` at a time per project (data/.kedro_run.lock); artifacts read together must have
# been made from the same versions of their inputs (data/.lineage); each MLflow run is tagged with
# the hardware, dtype, versions and raw-data hash; a finished run removes the training checkpoints;
# no run writes raw data over a user's or runs with a catalog that writes in place; the parameters are
# checked against one schema and the pipelines built from them (--env, conf/local, --params).
HOOKS = (ConfigurationHook(), RunLockHook(), LineageHook(), RunEnvironmentHook(), CheckpointCleanupHook(),
         DataProtectionHook())

# Every local output is written to a staging name and renamed into place when complete; raw data is
# never replaced. The context hands notebooks (`kedro jupyter`) the same catalog.
DATA_CATALOG_CLASS = AtomicDataCatalog
CONTEXT_CLASS = AtomicCatalogContext

# `${kedro_env:}` names the run's environment: each has its own training checkpoints.
CONFIG_LOADER_CLASS = EnvironmentConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": DEFAULT_RUN_ENV,
    # Environments (conf/quick, conf/gpu, conf/local) override single keys of the base
    # parameters instead of replacing a pipeline's whole parameter block.
    "merge_strategy": {"parameters": "soft"},
    # `${working_dir:}`: the directory Kedro runs in (the project root, against which the catalog's
    # relative paths resolve too). It makes MLflow's SQLite URI absolute, so two projects in one
    # process (as in the tests) never share a database.
    # `${kedro_env:}` in a plain OmegaConfigLoader given these arguments: KEDRO_ENV, else `local`.
    "custom_resolvers": {"working_dir": lambda: Path.cwd().as_posix(), RESOLVER: environment_outside_a_session},
}
