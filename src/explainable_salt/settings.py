"""Project settings: https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from pathlib import Path

from kedro.config import OmegaConfigLoader

from explainable_salt.runtime.atomic import AtomicDataCatalog
from explainable_salt.runtime.lineage import LineageHook
from explainable_salt.runtime.provenance import RunEnvironmentHook
from explainable_salt.runtime.run_lock import RunLockHook
from explainable_salt.segmentation.checkpoints import CheckpointCleanupHook

# One `kedro run` at a time per project (data/.kedro_run.lock); artifacts read together must have
# been made from the same versions of their inputs (data/.lineage); each MLflow run is tagged with
# the hardware, dtype, versions and raw-data hash; a finished run removes the training checkpoints.
HOOKS = (RunLockHook(), LineageHook(), RunEnvironmentHook(), CheckpointCleanupHook())

# Every local output is written to a staging name and renamed into place when complete.
DATA_CATALOG_CLASS = AtomicDataCatalog

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Environments (conf/quick, conf/gpu, conf/local) override single keys of the base
    # parameters instead of replacing a pipeline's whole parameter block.
    "merge_strategy": {"parameters": "soft"},
    # `${working_dir:}`: the directory Kedro runs in (the project root, against which the catalog's
    # relative paths resolve too). It makes MLflow's SQLite URI absolute, so two projects in one
    # process (as in the tests) never share a database.
    "custom_resolvers": {"working_dir": lambda: Path.cwd().as_posix()},
}
