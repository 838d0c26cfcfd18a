"""The hardware probes and TensorFlow settings of ``explainable_salt.compute.hardware``."""

import os
import subprocess
import sys

import pytest

from explainable_salt.compute import hardware
from explainable_salt.segmentation.models import build_model


def test_auto_dtype_policy_follows_the_hardware(monkeypatch):
    assert hardware.resolve_dtype_policy("float32") == "float32"
    monkeypatch.setattr(hardware, "has_bfloat16_arithmetic", lambda: True)
    assert hardware.resolve_dtype_policy("auto") == "mixed_bfloat16"
    monkeypatch.setattr(hardware, "has_bfloat16_arithmetic", lambda: False)
    assert hardware.resolve_dtype_policy("auto") == "float32"
    assert build_model("unet", input_channels=1, dtype_policy="auto", depth=1, base_filters=2).get_layer(
        "down0_conv1").compute_dtype == "float32"


@pytest.mark.parametrize(("setting", "expected"), [(None, "1 True"), ("0", "0 False")])
def test_importing_the_package_turns_onednn_on_unless_the_environment_says_no(setting, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = setting
    code = ("import os, explainable_salt, keras; from explainable_salt.compute.hardware import onednn_enabled; "
            "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], onednn_enabled())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == expected
