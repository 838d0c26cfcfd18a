"""All five pipelines through a KedroSession: on the built-in synthetic data and on a real sample."""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import ThreadRunner
from kedro_project import kedro_run, scratch_project

from explainable_salt.datasets import ImageStackDataset
from explainable_salt.pipeline_registry import register_pipelines
from explainable_salt.tgs.rle import rle_decode
from explainable_salt.tracking.provenance import raw_data_fingerprint

pytestmark = pytest.mark.integration


def test_registry_has_the_five_stages_and_default_runs_them_in_order():
    pipelines = register_pipelines()
    stages = ["data_engineering", "feature_engineering", "modelling", "explainability", "reporting"]
    assert set(stages) <= set(pipelines)
    assert set(pipelines["__default__"].nodes) == set().union(*(pipelines[s].nodes for s in stages))


def _mlflow_run(project):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("explainable-salt")
    runs = client.search_runs([experiment.experiment_id])
    return client, runs


def test_default_run_writes_a_submission_for_every_test_id(synthetic_project):
    submission = pd.read_csv(synthetic_project / "data/07_model_output/submission.csv", keep_default_na=False)
    test_ids = {p.stem for p in (synthetic_project / "data/01_raw/test/images").glob("*.png")}
    assert len(test_ids) == 10
    assert list(submission.columns) == ["id", "rle_mask"]
    assert set(submission["id"]) == test_ids and len(submission) == 10
    assert all(rle_decode(r).shape == (101, 101) for r in submission["rle_mask"])


def test_the_built_in_data_is_marked_as_synthetic_with_the_settings_that_made_it(synthetic_project):
    record = json.loads((synthetic_project / "data/01_raw/synthetic_data.json").read_text())
    assert record["n_train"] == 60 and record["n_test"] == 10  # conf/quick's sizes
    assert len(list((synthetic_project / "data/01_raw/train/images").glob("*.png"))) == 60


def test_default_run_writes_every_figure_and_a_self_contained_report(synthetic_project):
    from explainable_salt.pipelines.reporting.pipeline import FIGURES

    for name in FIGURES:
        assert (synthetic_project / f"data/08_reporting/{name}.png").stat().st_size > 10_000, name
    report = (synthetic_project / "data/08_reporting/report.html").read_text()
    assert report.count("data:image/png;base64,") == len(FIGURES)
    assert "http://" not in report and "https://" not in report  # opens offline
    assert "What matters for salt" in report and "Over 4 explained internal-test images" in report
    assert "Does it depend on the background images drawn?" in report
    sampling = (synthetic_project / "data/08_reporting/explanation_sampling_error.txt").read_text()
    assert sampling in html.unescape(report) and "background images is" in sampling


def test_explanations_are_additive_and_named_by_channel(synthetic_project):
    output = synthetic_project / "data/07_model_output"
    contributions = ImageStackDataset(str(output / "channel_contributions")).load()
    assert contributions.data.shape == (4, 101, 101, 4)
    assert contributions.channels == ("amplitude", "energy", "similarity", "sobel")
    phi = contributions.data
    expected = ImageStackDataset(str(output / "expected_value_map")).load().data[0]
    probabilities = ImageStackDataset(str(output / "explained_probabilities")).load().data
    np.testing.assert_allclose(expected + phi.sum(axis=-1), probabilities, atol=1e-5)


def test_the_run_is_one_mlflow_run_with_params_metrics_history_and_figures(synthetic_project):
    client, runs = _mlflow_run(synthetic_project)
    default_runs = [r for r in runs if r.info.run_name == "__default__"]
    assert len(default_runs) == 1  # synthetic_data is not tracked; the default run is
    run = default_runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params["modelling.training.batch_size"] == "16"
    metric = run.data.metrics
    assert 0.0 <= metric["internal_test.competition_metric_low"] <= metric["internal_test.competition_metric"]
    assert metric["internal_test.competition_metric"] <= metric["internal_test.competition_metric_high"] <= 1.0
    assert run.data.metrics["shapley.max_additivity_error"] < 1e-5
    history = client.get_metric_history(run.info.run_id, "training.loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/learning_curves.png", "figures/channel_contributions.png", "figures/deletion_curves.png"} <= artifacts
    top_level = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "submission.csv", "model"} <= top_level
    # What the run ran on: hardware, dtype, versions and the raw data's hash.
    tags = run.data.tags
    assert tags["raw_data.blake2b"] == raw_data_fingerprint(synthetic_project / "data/01_raw")
    assert tags["dtype_policy"] in {"float32", "mixed_bfloat16"} and int(tags["hardware.cores"]) >= 1
    assert tags["version.tensorflow"] == importlib.metadata.version("tensorflow")
    # Which configuration: the environment, and a hash of every effective parameter.
    from explainable_salt.tracking.provenance import configuration_fingerprint

    assert tags["kedro.env"] == "quick"
    bootstrap_project(synthetic_project)
    with KedroSession.create(project_path=synthetic_project, env="quick") as session:
        assert tags["config.blake2b"] == configuration_fingerprint(session.load_context().params)


def test_a_finished_run_leaves_no_checkpoint_staging_folder_or_lock_and_records_lineage(synthetic_project):
    data = synthetic_project / "data"
    assert not list((data / "06_models/checkpoints/quick").glob("*/state.json"))
    assert not list(data.rglob(".partial-*")) and not (data / ".kedro_run.lock").exists()
    rule = json.loads((data / ".lineage/decision_rule.json").read_text())
    assert rule["node"] == "tune_decision_rule" and {"salt_model", "model_inputs"} <= set(rule["inputs"])


def test_a_model_retrained_without_its_decision_rule_stops_the_run_naming_the_node_to_rerun(
    synthetic_project, tmp_path
):
    from explainable_salt.storage.lineage import StaleArtifactError

    project = tmp_path / "project"
    shutil.copytree(synthetic_project, project)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        # As if a crash had come between train_model and tune_decision_rule.
        kedro_run(project, "modelling", params={"modelling": {"training": {"seed": 7}}}, node_names=["train_model"])
        with pytest.raises(StaleArtifactError, match="--from-nodes tune_decision_rule"):
            kedro_run(project, "explainability")


def test_bad_input_names_the_file_and_leaves_earlier_outputs_intact(synthetic_project):
    manifest = synthetic_project / "data/03_primary/manifest.parquet"
    before = hashlib.sha256(manifest.read_bytes()).hexdigest()
    victim = min((synthetic_project / "data/01_raw/train/masks").glob("*.png"))
    original = victim.read_bytes()
    victim.write_bytes(b"corrupt")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(synthetic_project)
            with pytest.raises(Exception, match=victim.name):
                kedro_run(synthetic_project, "data_engineering")
    finally:
        victim.write_bytes(original)
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == before


def test_a_run_while_another_holds_the_project_is_refused_before_any_node(synthetic_project):
    from explainable_salt.storage.run_lock import RunLockedError

    lock = synthetic_project / "data/.kedro_run.lock"
    assert not lock.exists()  # the finished runs released it
    report = synthetic_project / "data/08_reporting/report.html"
    before = report.stat().st_mtime_ns
    # A live process that holds the kernel lock, as a run does (a record alone is taken over).
    hold = ("import sys, time\nfrom explainable_salt.storage.run_lock import acquire\n"
            "acquire(sys.argv[1]); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(lock)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(synthetic_project)
            with pytest.raises(RunLockedError, match=f"PID {holder.pid}"):
                kedro_run(synthetic_project, "reporting")
    finally:
        holder.kill()
        holder.wait()
    lock.unlink(missing_ok=True)
    assert report.stat().st_mtime_ns == before
    _, runs = _mlflow_run(synthetic_project)
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]


def _sample_zip(source: zipfile.ZipFile, target, folders, ids):
    with zipfile.ZipFile(target, "w") as out:
        for folder in folders:
            out.writestr(f"{folder}/", "")
            for image_id in ids:
                out.writestr(f"{folder}/{image_id}.png", source.read(f"{folder}/{image_id}.png"))


def test_all_five_pipelines_run_on_a_sample_of_the_real_data(tgs_dir, tmp_path):
    project = scratch_project(tmp_path)
    raw = project / "data/01_raw"
    train = pd.read_csv(tgs_dir / "train.csv", keep_default_na=False, dtype=str).sample(64, random_state=0)
    with zipfile.ZipFile(tgs_dir / "test.zip") as archive:
        test_ids = sorted(n[len("images/") : -4] for n in archive.namelist() if n.endswith(".png"))[:16]
        _sample_zip(archive, raw / "test.zip", ["images"], test_ids)
    with zipfile.ZipFile(tgs_dir / "train.zip") as archive:
        _sample_zip(archive, raw / "train.zip", ["images", "masks"], train["id"])
    train.to_csv(raw / "train.csv", index=False)
    depths = pd.read_csv(tgs_dir / "depths.csv", dtype={"id": str})
    depths[depths["id"].isin(set(train["id"]) | set(test_ids))].to_csv(raw / "depths.csv", index=False)

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(project)
        kedro_run(project)

    manifest = pd.read_parquet(project / "data/03_primary/manifest.parquet")
    assert sorted(manifest["id"]) == sorted(train["id"])
    submission = pd.read_csv(project / "data/07_model_output/submission.csv", keep_default_na=False)
    assert sorted(submission["id"]) == test_ids
    assert (project / "data/08_reporting/channel_contributions.png").is_file()
    inputs = ImageStackDataset(str(project / "data/05_model_input/model_inputs_test")).load()
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        channels = session.load_context().params["modelling"]["channels"]
    # Only the channels the model reads are built (feature_engineering.analysis_channels is empty).
    assert list(inputs.channels) == channels
    assert inputs.data.shape == (16, 101, 101, len(channels)) and np.isfinite(inputs.data).all()


def test_kedro_viz_build_lists_the_five_pipelines_and_the_layers(tmp_path):
    project = scratch_project(tmp_path)
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    subprocess.run([sys.executable, "-m", "kedro", "viz", "build"], cwd=project, env=env, check=True,
                   capture_output=True, timeout=300)
    graph = json.loads((project / "build/api/main").read_text())
    pipelines = [p["id"] for p in graph["pipelines"]]
    assert {"data_engineering", "feature_engineering", "modelling", "explainability", "reporting"} <= set(pipelines)
    assert graph["layers"] == [
        "raw", "intermediate", "primary", "feature", "model_input", "models", "model_output", "reporting",
    ]


def test_cross_validation_trains_one_namespaced_model_per_fold_and_an_ensemble(synthetic_project):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "cross_validation")
    for k in range(5):
        assert (synthetic_project / f"data/06_models/fold_{k}/salt_model.keras").is_file()
        score = json.loads((synthetic_project / f"data/08_reporting/fold_{k}/validation_score.json").read_text())
        assert score["fold"] == k and 0 <= score["competition_metric"] <= 1
    cv = json.loads((synthetic_project / "data/08_reporting/cross_validation_metrics.json").read_text())
    assert set(cv) == {"cv.competition_metric_mean", "cv.competition_metric_std", "cv.ensemble.internal_test.competition_metric"}
    submission = pd.read_csv(synthetic_project / "data/07_model_output/submission_cv.csv", keep_default_na=False)
    assert len(submission) == 10


def test_explainability_on_a_local_cluster_gives_the_in_process_numbers(synthetic_project):
    output = synthetic_project / "data/07_model_output"
    before = ImageStackDataset(str(output / "channel_contributions")).load()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "explainability", {"execution": {"mode": "local_cluster"}})
    after = ImageStackDataset(str(output / "channel_contributions")).load()
    assert list(after.ids) == list(before.ids) and after.channels == before.channels
    np.testing.assert_allclose(after.data, before.data, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def every_definition(synthetic_project):
    """The default run with the environment `quick`, whose conf/quick lists all four definitions of
    absence: the session's environment alone shapes the pipelines (no KEDRO_ENV)."""
    assert "KEDRO_ENV" not in os.environ
    return synthetic_project


def test_every_definition_of_absence_writes_additive_explanations_and_the_sensitivity_table(every_definition):
    synthetic_project = every_definition
    output, reporting = synthetic_project / "data/07_model_output", synthetic_project / "data/08_reporting"
    probabilities = ImageStackDataset(str(output / "explained_probabilities")).load().data
    for definition in ("baseline", "blur", "conditional"):
        phi = ImageStackDataset(str(output / definition / "channel_contributions")).load().data
        expected = ImageStackDataset(str(output / definition / "expected_value_map")).load().data
        assert phi.shape == (4, 101, 101, 4)
        np.testing.assert_allclose(expected + phi.sum(axis=-1), probabilities, atol=1e-5)  # (1|4, 101, 101)
        checks = json.loads((reporting / definition / "explanation_checks.json").read_text())
        assert checks[f"shapley.{definition}.max_additivity_error"] < 1e-5
    table = pd.read_csv(reporting / "explanation_sensitivity.csv")
    assert list(dict.fromkeys(table["definition"])) == ["background", "baseline", "blur", "conditional"]
    assert "Kendall τ" in (reporting / "explanation_sensitivity.txt").read_text()
    pairs = pd.read_csv(reporting / "channel_interaction_matrix.csv")
    assert len(pairs) == 6 and pairs["pair"].str.count(":").eq(1).all()


def test_with_every_definition_the_report_compares_them_and_the_explorer_switches_between_them(every_definition):
    reporting = every_definition / "data/08_reporting"
    report = (reporting / "report.html").read_text()
    section = report[report.index("Does it depend on what"):report.index("Which channels work together")]
    assert [d for d in ("background", "baseline", "blur", "conditional") if f"<td>{d}</td>" in section] == [
        "background", "baseline", "blur", "conditional"]
    assert "<td>1.00 [1.00, 1.00]</td>" in section  # the primary against itself
    assert html.escape((reporting / "explanation_sensitivity.txt").read_text()) in section
    explorer = (reporting / "explorer.html").read_text()
    assert '["background","baseline","blur","conditional","pair interactions (background)"]' in explorer
    for name in ("absence_sensitivity", "interaction_matrix", "interaction_maps"):
        assert (reporting / f"{name}.png").stat().st_size > 10_000


def test_every_definition_gets_its_significance_share_tracked_and_the_report_and_explorer_mark_the_noise(
        every_definition):
    from explainable_salt.tgs.metrics import apply_decision_rule

    output, reporting = every_definition / "data/07_model_output", every_definition / "data/08_reporting"
    table = pd.read_csv(reporting / "explanation_significance.csv")
    assert list(dict.fromkeys(table["definition"])) == ["background", "baseline", "blur", "conditional"]
    assert len(table) == 4 * 4
    conditional = ImageStackDataset(str(output / "conditional/contribution_standard_error")).load()
    assert conditional.data.shape == (4, 101, 101, 4) and conditional.data.max() > 0
    with_error = table[table["definition"].isin(["background", "conditional"])]
    assert (with_error["t_quantile"].round(2) == 12.71).all()  # K = 2 in conf/quick: one degree of freedom
    exact = table[table["definition"].isin(["baseline", "blur"])]
    assert exact["share"].isna().all() and (exact["sampling_error"] == "exact in this game: no sampling error").all()
    probabilities = ImageStackDataset(str(output / "explained_probabilities")).load().data
    rule = json.loads((every_definition / "data/06_models/decision_rule.json").read_text())
    assert (table["n_salt_pixels"] == apply_decision_rule(probabilities, rule).sum()).all()
    metrics = json.loads((reporting / "significance_metrics.json").read_text())
    finite = table.dropna(subset=["share"])
    assert metrics == pytest.approx({f"significance.{r.definition}.{r.channel}.share": r.share
                                     for r in finite.itertuples()})
    _, runs = _mlflow_run(every_definition)
    tracked = next(r for r in runs if r.info.run_name == "__default__").data.metrics
    assert {name: tracked[name] for name in metrics} == pytest.approx(metrics)
    report = html.unescape((reporting / "report.html").read_text())
    assert "Which pixels stand out from the sampling noise?" in report
    assert "Greyed φ pixels are not distinguishable from 0: |φ| ≤ t × SE" in report  # the primary is sampled
    assert "baseline: exact in this game: no sampling error." in report
    explorer = (reporting / "explorer.html").read_text()
    assert "phi-amplitude_marks" in explorer and "waterfall_error" in explorer


def test_folds_train_in_parallel_on_a_local_cluster_each_a_finished_nested_mlflow_run(synthetic_project):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(synthetic_project)
        kedro_run(synthetic_project, "cross_validation", {"execution": {"mode": "local_cluster"}},
                  runner=ThreadRunner())
    client, runs = _mlflow_run(synthetic_project)
    assert not [r.info.run_name for r in runs if r.info.status == "RUNNING"]  # none left open by threads or workers
    parent = max((r for r in runs if r.info.run_name == "cross_validation"), key=lambda r: r.info.start_time)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == [f"fold_{k}" for k in range(5)]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.params["fold"] == child.info.run_name.removeprefix("fold_")
        assert 0 <= child.data.metrics["held_out.competition_metric"] <= 1
        assert [m.step for m in client.get_metric_history(child.info.run_id, "loss")] == [1, 2]
    # Only the Kedro runs themselves (named after their pipelines) have no parent: the threads
    # logged into the parent run instead of starting runs of their own.
    assert {r.info.run_name for r in runs if "mlflow.parentRunId" not in r.data.tags} <= set(register_pipelines())
    assert "cv.competition_metric_mean" in parent.data.metrics
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "models")} == {f"models/fold_{k}" for k in range(5)}
