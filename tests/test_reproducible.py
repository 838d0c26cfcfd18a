"""`--env reproducible`: the same seed gives bit-identical weights and metrics."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader

from explainable_salt.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[1]

# Trains the node of `kedro run --env reproducible` on a tiny synthetic set with a tiny model and two
# epochs per stage, then prints a hash of the weights and the history. A fresh process each time, as
# two runs would be.
SCRIPT = r"""
import hashlib, json, sys
import numpy as np, pandas as pd
from kedro.config import OmegaConfigLoader
from explainable_salt.settings import CONFIG_LOADER_ARGS
from explainable_salt.pipelines.modelling.nodes import train_model
from explainable_salt.stacks import ImageStack

params = OmegaConfigLoader("conf", env="reproducible", **CONFIG_LOADER_ARGS)["parameters"]["modelling"]
params["model"]["unet"].update(depth=1, base_filters=4)
params["training"]["batch_size"] = 8
params["training"]["checkpoints"] = None
for stage in params["training"]["stages"]:
    stage["epochs"] = 2
rng = np.random.default_rng(0)
ids = np.array([f"i{k}" for k in range(24)])
x = rng.normal(size=(24, 101, 101, 4)).astype(np.float32)
masks = ImageStack(ids, (x[..., 0] > 0.5).astype(np.uint8), ("mask",))
inputs = ImageStack(ids, x, tuple(params["channels"]))
manifest = pd.DataFrame({"id": ids, "split": ["train"] * 16 + ["validation"] * 8})
model, history, _ = train_model(inputs, masks, manifest, params)
digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
print(json.dumps({"weights": digest, "history": history.to_dict(orient="list")}))
"""


def test_the_reproducible_environment_trains_for_epochs_in_float32_deterministically():
    params = OmegaConfigLoader(str(ROOT / "conf"), env="reproducible", **CONFIG_LOADER_ARGS)["parameters"]
    training = params["modelling"]["training"]
    assert training["deterministic"] is True
    assert params["modelling"]["dtype_policy"] == "float32"
    assert all("max_minutes" not in stage for stage in training["stages"])


@pytest.mark.integration
def test_two_reproducible_trainings_give_bit_identical_weights_and_metrics():
    runs = [
        subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr[-3000:]
    first, second = (json.loads(run.stdout.strip().splitlines()[-1]) for run in runs)
    assert len(first["history"]["epoch"]) == 4
    assert first["weights"] == second["weights"]
    assert first["history"] == second["history"]
