"""Artifacts that belong together are checked, however far back they meet (storage/lineage.py)."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset

from explainable_salt.datasets import ImageStackDataset
from explainable_salt.hooks import LineageHook
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack, StackChunk
from explainable_salt.storage.fingerprints import fingerprint, path_fingerprint
from explainable_salt.storage.lineage import StaleArtifactError, check_inputs


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


def test_a_dataframe_fingerprint_follows_its_values_and_columns():
    table = pd.DataFrame({"channel": ["amplitude", "energy"], "importance": [0.5, 0.25]})
    assert fingerprint(table) == fingerprint(table.copy())
    assert fingerprint(table) != fingerprint(table.assign(importance=[0.5, 0.26]))
    assert fingerprint(table) != fingerprint(table.rename(columns={"importance": "mean_abs_phi"}))


def test_an_edit_anywhere_in_a_small_file_changes_its_fingerprint(tmp_path):
    table = tmp_path / "global_importance.csv"
    table.write_text("channel,importance\n" + "".join(f"c{i},0.{i:04d}\n" for i in range(10_000)))
    before = path_fingerprint(table)
    table.write_text(table.read_text().replace("c5000,0.5000", "c5000,0.5001"))
    assert path_fingerprint(table) != before


def test_a_file_larger_than_memory_is_fingerprinted_from_sampled_chunks(tmp_path):
    volume = tmp_path / "data.npy"
    with open(volume, "wb") as handle:
        handle.truncate(1 << 38)  # a sparse 256 GiB volume: reading it whole would take minutes
    start = time.perf_counter()
    before = path_fingerprint(volume)
    assert time.perf_counter() - start < 5
    with open(volume, "r+b") as handle:
        handle.write(b"\x93NUMPY")  # the header
    assert path_fingerprint(volume) != before


# Records as LineageHook writes them: the node, the time, the artifact's own fingerprint, its node's
# inputs and all its ancestors.
NORMALISER = {"node": "fit_channel_normaliser", "written": 1.0, "fingerprint": "n1",
              "inputs": {"train_images": "t"}, "ancestors": {"train_images": "t"}}
CHANNELS = {"node": "build_model_inputs", "written": 2.0, "fingerprint": "x1",
            "inputs": {"channel_normaliser": "n1"}, "ancestors": {"channel_normaliser": "n1", "train_images": "t"}}
MODEL = {"node": "train_model", "written": 3.0, "fingerprint": "m1", "inputs": {"model_inputs": "x1"},
         "ancestors": {"model_inputs": "x1", "channel_normaliser": "n1", "train_images": "t"}}
REFITTED = {**NORMALISER, "written": 4.0, "fingerprint": "n2"}
TEST_CHANNELS = {"node": "build_model_inputs_test", "written": 5.0, "fingerprint": "y2",
                 "inputs": {"channel_normaliser": "n2"}, "ancestors": {"channel_normaliser": "n2", "train_images": "t"}}
RULE = {"node": "tune_decision_rule", "written": 4.0, "fingerprint": "r", "inputs": {"salt_model": "m1"},
        "ancestors": {**MODEL["ancestors"], "salt_model": "m1"}}


def test_an_artifact_made_from_another_version_of_an_input_names_the_node_to_rerun():
    check_inputs("evaluate_model", {"salt_model": "m1", "decision_rule": "r"}, {"decision_rule": RULE})
    with pytest.raises(StaleArtifactError, match=r"'decision_rule' \(made by node 'tune_decision_rule'\) comes "
                                                 r"from another version of 'salt_model'(?s:.*)--from-nodes tune_decision_rule"):
        check_inputs("evaluate_model", {"salt_model": "m2", "decision_rule": "r"}, {"decision_rule": RULE})


def test_an_input_made_two_steps_from_another_version_of_an_input_names_where_the_chain_broke():
    # predict_sections reads the refitted normaliser and a model made from channels of the old one.
    records = {"channel_normaliser": REFITTED, "model_inputs": CHANNELS, "salt_model": MODEL}
    with pytest.raises(StaleArtifactError, match=r"'salt_model' .* another version of 'channel_normaliser'") as error:
        check_inputs("predict_sections", {"salt_model": "m1", "channel_normaliser": "n2"}, {"salt_model": MODEL},
                     records=records.get)
    assert error.value.stale == ("salt_model",)
    # Retraining alone would reuse channels of the old normaliser: they are rebuilt first.
    assert error.value.rerun == ("build_model_inputs",)


def test_two_inputs_that_meet_only_through_a_common_ancestor_must_share_its_version():
    records = {"channel_normaliser": REFITTED, "model_inputs": CHANNELS, "salt_model": MODEL,
               "model_inputs_test": TEST_CHANNELS}
    lineage = {"salt_model": MODEL, "model_inputs_test": TEST_CHANNELS}
    with pytest.raises(StaleArtifactError, match="different versions of 'channel_normaliser'") as error:
        check_inputs("predict_test_masks", {"salt_model": "m1", "model_inputs_test": "y2"}, lineage, records=records.get)
    assert error.value.stale == ("salt_model",) and error.value.rerun == ("build_model_inputs",)
    check_inputs("predict_test_masks", {"salt_model": "m1", "model_inputs_test": "y1"},
                 {**lineage, "model_inputs_test": {**TEST_CHANNELS, "inputs": {"channel_normaliser": "n1"},
                                                   "ancestors": CHANNELS["ancestors"]}})


def test_the_stale_one_of_two_inputs_is_the_one_made_from_a_version_no_longer_there():
    # The test channels were rebuilt from the old normaliser before the normaliser was refitted,
    # and the model retrained after the refit: the older one by the clock is the current one.
    retrained = {**MODEL, "written": 9.0, "ancestors": {**MODEL["ancestors"], "channel_normaliser": "n2"}}
    old_test = {**TEST_CHANNELS, "written": 0.5, "inputs": {"channel_normaliser": "n1"},
                "ancestors": CHANNELS["ancestors"]}
    records = {"channel_normaliser": REFITTED, "salt_model": retrained, "model_inputs_test": old_test}
    with pytest.raises(StaleArtifactError, match="'model_inputs_test' from one that is no longer there") as error:
        check_inputs("predict_test_masks", {"salt_model": "m1", "model_inputs_test": "y1"},
                     {"salt_model": retrained, "model_inputs_test": old_test}, records=records.get)
    assert error.value.rerun == ("build_model_inputs_test",)


def test_without_a_current_version_the_older_of_two_inputs_is_the_stale_one():
    explanations = {"node": "explain_channels", "written": 1.0, "fingerprint": "c",
                    "inputs": {"salt_model": "m0"}, "ancestors": {"salt_model": "m0"}}
    with pytest.raises(StaleArtifactError, match=r"'channel_contributions' from the older(?s:.*)--from-nodes explain_channels"):
        check_inputs("plot_channel_contributions", {"decision_rule": "r", "channel_contributions": "c"},
                     {"decision_rule": RULE, "channel_contributions": explanations})


def test_nodes_already_rerun_with_the_new_input_are_not_named_again():
    # explain_channels was rerun with the new model; the importance table was made from the old explanations.
    explanations = {"node": "explain_channels", "written": 5.0, "fingerprint": "c2",
                    "inputs": {"salt_model": "m2"}, "ancestors": {"salt_model": "m2"}}
    importance = {"node": "analyse_importance", "written": 3.0, "fingerprint": "g",
                  "inputs": {"channel_contributions": "c1"}, "ancestors": {"channel_contributions": "c1", "salt_model": "m1"}}
    records = {"channel_contributions": explanations, "global_importance": importance}
    with pytest.raises(StaleArtifactError) as error:
        check_inputs("compute_deletion_curves", {"salt_model": "m2", "channel_contributions": "c2", "global_importance": "g"},
                     records, records=records.get)
    assert error.value.stale == ("global_importance",) and error.value.rerun == ("analyse_importance",)


def _project(tmp_path, **datasets):
    """A LineageHook on a project in ``tmp_path`` whose run's catalog holds ``datasets``."""
    catalog = DataCatalog(datasets=datasets)
    hook = LineageHook()
    hook.after_context_created(context=SimpleNamespace(project_path=tmp_path))
    hook.before_pipeline_run(catalog=catalog)
    return hook, catalog


def _run_node(hook, catalog, name, inputs, outputs):
    """What Kedro's runner does around a node: load, check, save each output (or chunk)."""
    node = SimpleNamespace(name=name, outputs=list(dict.fromkeys(o for o, _ in outputs)))
    hook.before_node_run(node=node, catalog=catalog, inputs={i: catalog.load(i) for i in inputs})
    for output, data in outputs:
        catalog.save(output, data)
        hook.after_dataset_saved(dataset_name=output, data=data)


def _record(tmp_path, name):
    return json.loads((tmp_path / "data/.lineage" / f"{name}.json").read_text())


def test_a_record_holds_the_artifact_and_all_its_ancestors(tmp_path):
    hook, catalog = _project(tmp_path, **{name: JSONDataset(filepath=str(tmp_path / f"{name}.json"))
                                          for name in ("raw", "normaliser", "rule")})
    catalog.save("raw", {"images": 3})
    _run_node(hook, catalog, "fit", ["raw"], [("normaliser", {"median": 1.0})])
    _run_node(hook, catalog, "tune", ["normaliser"], [("rule", {"threshold": 0.5})])
    record = _record(tmp_path, "rule")
    assert record["node"] == "tune" and record["fingerprint"] == path_fingerprint(tmp_path / "rule.json")
    assert record["ancestors"] == {"normaliser": path_fingerprint(tmp_path / "normaliser.json"),
                                   "raw": path_fingerprint(tmp_path / "raw.json")}


def test_a_table_read_back_with_other_dtypes_is_recognised_as_the_one_written(tmp_path, caplog):
    hook, catalog = _project(tmp_path, table=CSVDataset(filepath=str(tmp_path / "table.csv")),
                             summary=JSONDataset(filepath=str(tmp_path / "summary.json")))
    table = pd.DataFrame({"id": ["0001", "0002"], "score": np.float32([0.1, 0.2])}, index=[7, 8])
    _run_node(hook, catalog, "evaluate", [], [("table", table)])
    with caplog.at_level(logging.WARNING):
        _run_node(hook, catalog, "summarise", ["table"], [("summary", {"n": 2})])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert _record(tmp_path, "summary")["ancestors"] == {"table": _record(tmp_path, "table")["fingerprint"]}


def test_an_artifact_replaced_by_hand_is_a_new_root_with_a_warning(tmp_path, caplog):
    hook, catalog = _project(tmp_path, **{name: JSONDataset(filepath=str(tmp_path / f"{name}.json"))
                                          for name in ("raw", "normaliser", "rule")})
    catalog.save("raw", {"images": 3})
    _run_node(hook, catalog, "fit", ["raw"], [("normaliser", {"median": 1.0})])
    (tmp_path / "normaliser.json").write_text(json.dumps({"median": 2.0}))
    with caplog.at_level(logging.WARNING):
        _run_node(hook, catalog, "tune", ["normaliser"], [("rule", {"threshold": 0.5})])
    assert "'normaliser' is not the version its lineage record describes" in caplog.text
    assert _record(tmp_path, "rule")["ancestors"] == {"normaliser": path_fingerprint(tmp_path / "normaliser.json")}


def test_a_stack_written_in_chunks_is_fingerprinted_from_its_folder_without_loading_it(tmp_path, monkeypatch):
    hook, catalog = _project(tmp_path, raw=JSONDataset(filepath=str(tmp_path / "raw.json")),
                             model_inputs=ImageStackDataset(str(tmp_path / "model_inputs")))
    catalog.save("raw", {"images": 4})
    monkeypatch.setattr(ImageStackDataset, "load", lambda self: pytest.fail("the stack was loaded whole"))
    ids, data = np.array(["a", "b", "c", "d"]), np.arange(4 * 16, dtype=np.float32).reshape(4, 4, 4, 1)
    chunks = [("model_inputs", StackChunk(ImageStack(ids[i:i + 2], data[i:i + 2], ("amplitude",)), i, 4)) for i in (0, 2)]
    hook.before_node_run(node=SimpleNamespace(name="build_model_inputs", outputs=["model_inputs"]), catalog=catalog,
                         inputs={"raw": catalog.load("raw")})
    catalog.save(*chunks[0])
    hook.after_dataset_saved(dataset_name="model_inputs", data=chunks[0][1])
    assert not (tmp_path / "data/.lineage/model_inputs.json").exists()  # not written until its last chunk
    catalog.save(*chunks[1])
    hook.after_dataset_saved(dataset_name="model_inputs", data=chunks[1][1])
    assert _record(tmp_path, "model_inputs")["fingerprint"] == path_fingerprint(tmp_path / "model_inputs")


def test_an_in_memory_dataset_passes_its_ancestry_on_within_a_run(tmp_path):
    hook, catalog = _project(tmp_path, raw=JSONDataset(filepath=str(tmp_path / "raw.json")), sections=MemoryDataset(),
                             masks=JSONDataset(filepath=str(tmp_path / "masks.json")))
    catalog.save("raw", {"images": 3})
    _run_node(hook, catalog, "prepare_sections", ["raw"], [("sections", [1, 2, 3])])
    _run_node(hook, catalog, "predict_sections", ["sections"], [("masks", [0, 1, 0])])
    assert not (tmp_path / "data/.lineage/sections.json").exists()
    assert _record(tmp_path, "masks")["ancestors"] == {"raw": path_fingerprint(tmp_path / "raw.json")}
