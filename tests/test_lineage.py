"""Artifacts that belong together are checked (runtime/lineage.py)."""

import numpy as np
import pytest

from explainable_salt.runtime.lineage import StaleArtifactError, check_inputs, fingerprint
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack


def test_fingerprints_follow_the_content_of_models_stacks_and_json():
    model = build_model("unet", 2, depth=1, base_filters=2, seed=0)
    assert fingerprint(model) == fingerprint(build_model("unet", 2, depth=1, base_filters=2, seed=0))
    assert fingerprint(model) != fingerprint(build_model("unet", 2, depth=1, base_filters=2, seed=1))
    data = np.zeros((40, 4, 4, 1), np.float32)
    stack = ImageStack(np.array([str(i) for i in range(40)]), data, ("amplitude",))
    changed = data.copy()
    changed[-1] += 1  # a refitted normaliser changes every image, the last one included
    assert fingerprint(stack) != fingerprint(ImageStack(stack.ids, changed, stack.channels))
    assert fingerprint({"threshold": 0.5}) != fingerprint({"threshold": 0.55})
    assert fingerprint(object()) is None


RULE = {"node": "tune_decision_rule", "inputs": {"salt_model": "m1"}, "written": 2.0}


def test_an_artifact_made_from_another_version_of_an_input_names_the_node_to_rerun():
    check_inputs("evaluate_model", {"salt_model": "m1", "decision_rule": "r"}, {"decision_rule": RULE})
    with pytest.raises(StaleArtifactError, match=r"'decision_rule' was made by node 'tune_decision_rule'.*"
                                                 r"kedro run --from-nodes tune_decision_rule"):
        check_inputs("evaluate_model", {"salt_model": "m2", "decision_rule": "r"}, {"decision_rule": RULE})


def test_two_artifacts_made_from_different_versions_of_a_common_input_name_the_older_one():
    explanations = {"node": "explain_channels", "inputs": {"salt_model": "m0"}, "written": 1.0}
    stale = r"'channel_contributions' is the older.*--from-nodes explain_channels"
    with pytest.raises(StaleArtifactError, match=stale):
        check_inputs("plot_channel_contributions", {"decision_rule": "r", "channel_contributions": "c"},
                     {"decision_rule": RULE, "channel_contributions": explanations})
