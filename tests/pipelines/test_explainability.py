"""The explainability pipeline's explanation slice, run on in-memory data with every definition
of absence: each writes its own additive explanations, the primary's keep their names."""

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from explainable_salt.attribution.absence import BackgroundAbsence, BaselineAbsence
from explainable_salt.attribution.chunks import explain_game_chunk
from explainable_salt.attribution.faithfulness import explanation_rank_correlation
from explainable_salt.attribution.shapley import explain_game
from explainable_salt.pipelines.explainability import create_pipeline
from explainable_salt.pipelines.explainability.nodes import (
    absence_definitions,
    build_absence,
    explain_channels,
)
from explainable_salt.pipelines.explainability.pipeline import EXPLANATION_OUTPUTS
from explainable_salt.segmentation.forward import forward_pass
from explainable_salt.segmentation.models import build_model
from explainable_salt.stacks import ImageStack

CHANNELS = ("amplitude", "sobel", "energy")
RULE = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.5}
IDS = [f"i{k:02d}" for k in range(12)]
PARAMS = {
    "absence": ["background", "baseline", "blur", "conditional"],
    "blur": {"sigma": 6.0}, "conditional": {"pool": 6, "neighbours": 2, "descriptor_size": 4, "seed": 1},
    "max_images": None, "max_exact_channels": 8, "n_permutations": 4, "seed": 11, "images_per_call": 2,
    "chunk_size": 3, "batch_size": 64, "additivity_tolerance": 1e-4,
    "analysis": {"n_bootstrap": 50, "seed": 3},
    "background": {"method": "random"}, "sampling_error": {"n_resamples": 20, "seed": 23, "min_ranking_unchanged": 0.95},
}


class Kept(MemoryDataset):
    """Kept after its consumers ran, so the test can read it."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("unet", 3, depth=2, base_filters=4)


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    return ImageStack(IDS, rng.normal(size=(12, 101, 101, 3)).astype(np.float32), CHANNELS)


@pytest.fixture(scope="module")
def manifest():
    return pd.DataFrame({"id": IDS, "split": ["train"] * 8 + ["internal_test"] * 4})


@pytest.fixture(scope="module")
def outputs(model, inputs, manifest):
    explanation = create_pipeline(absence=PARAMS["absence"]).only_nodes_with_tags("explainability").from_inputs(
        "shapley_background").to_outputs(
        "channel_interaction_matrix", "explanation_sensitivity_sentence", "explanation_sampling_error_sentence",
        "explanation_significance")
    catalog = DataCatalog({
        "salt_model": MemoryDataset(model, copy_mode="assign"),
        "salt_model_channels": MemoryDataset(list(CHANNELS)), "model_inputs": MemoryDataset(inputs),
        "manifest": MemoryDataset(manifest), "shapley_background": MemoryDataset(inputs.select(IDS[:2])),
        "shapley_background_weights": MemoryDataset([0.5, 0.5]),
        "params:explainability": MemoryDataset(PARAMS), "params:execution": MemoryDataset(None),
        "params:explainability.analysis": MemoryDataset(PARAMS["analysis"]),
        "params:explainability.sampling_error": MemoryDataset(PARAMS["sampling_error"]),
        "decision_rule": MemoryDataset(RULE),
        **{name: Kept() for name in ("explanation_sampling_error", "explanation_sampling_error_sentence",
                                     "explanation_significance", "significance_metrics")},
        **{f"{prefix}{name}": Kept() for name in EXPLANATION_OUTPUTS
           for prefix in ("", *(f"{d}." for d in PARAMS["absence"][1:]))},
    })
    SequentialRunner().run(explanation, catalog)
    return catalog


def _additivity(catalog, prefix=""):
    phi = catalog.load(f"{prefix}channel_contributions").data.astype(np.float64)
    expected = catalog.load(f"{prefix}expected_value_map").data
    expected = expected[0] if len(expected) == 1 else expected
    return np.abs(expected + phi.sum(axis=-1) - catalog.load(f"{prefix}explained_probabilities").data).max()


def test_primary_definition_keeps_the_outputs_the_report_reads(outputs):
    contributions = outputs.load("channel_contributions")
    assert list(contributions.ids) == IDS[8:] and contributions.channels == CHANNELS
    assert outputs.load("expected_value_map").data.shape == (1, 101, 101)
    assert _additivity(outputs) < 1e-5
    assert outputs.load("explanation_checks")["shapley.max_additivity_error"] < 1e-5


@pytest.mark.parametrize("definition", ["baseline", "blur", "conditional"])
def test_each_other_definition_writes_its_own_additive_explanations(outputs, definition):
    contributions = outputs.load(f"{definition}.channel_contributions")
    assert contributions.data.shape == (4, 101, 101, 3) and contributions.channels == CHANNELS
    assert _additivity(outputs, f"{definition}.") < 1e-5
    checks = outputs.load(f"{definition}.explanation_checks")
    assert checks[f"shapley.{definition}.max_additivity_error"] < 1e-5
    assert not np.allclose(contributions.data, outputs.load("channel_contributions").data, atol=1e-4)


def test_blur_stores_one_expected_value_map_per_image(outputs):
    assert list(outputs.load("blur.expected_value_map").ids) == IDS[8:]


def test_interactions_are_stored_by_pair_and_the_taylor_terms_add_up(outputs):
    interactions = outputs.load("channel_interactions")
    assert interactions.channels == ("amplitude:sobel", "amplitude:energy", "sobel:energy")
    taylor = outputs.load("shapley_taylor")
    assert taylor.channels == (*CHANNELS, *interactions.channels)
    expected = outputs.load("expected_value_map").data[0]
    residual = expected + taylor.data.astype(np.float64).sum(axis=-1) - outputs.load("explained_probabilities").data
    assert np.abs(residual).max() < 1e-5
    assert outputs.load("explanation_checks")["shapley.max_taylor_error"] < 1e-5
    matrix = outputs.load("channel_interaction_matrix")
    assert list(matrix["pair"]) == list(interactions.channels) and (matrix["n_images"] == 4).all()


def test_blur_cannot_be_primary_and_unknown_definitions_are_named(model, inputs, manifest):
    with pytest.raises(ValueError, match="per image"):
        explain_channels(model, list(CHANNELS), inputs, manifest, inputs.select(IDS[:2]), [1.0, 1.0],
                         {**PARAMS, "absence": ["blur"]})
    with pytest.raises(ValueError, match="'shadow'"):
        absence_definitions({"absence": ["background", "shadow"]})


@pytest.mark.parametrize("max_images", [0, -3])
def test_max_images_of_zero_or_fewer_is_refused_naming_the_parameter(model, inputs, manifest, max_images):
    with pytest.raises(ValueError, match=rf"explainability.max_images must be a positive number .* not {max_images}"):
        explain_channels(model, list(CHANNELS), inputs, manifest, inputs.select(IDS[:2]), [0.5, 0.5],
                         {**PARAMS, "max_images": max_images})


def test_max_images_explains_the_first_internal_test_images(model, inputs, manifest):
    contributions = explain_channels(model, list(CHANNELS), inputs, manifest, inputs.select(IDS[:2]), [0.5, 0.5],
                                     {**PARAMS, "max_images": 2})[0]
    assert list(contributions.ids) == IDS[8:10]


RANDOMISATION = {"images": 2, "max_correlation": 0.5, "batch_size": 64, "seed": 13}


def test_the_randomisation_check_plays_the_primary_definitions_game(model, inputs, manifest):
    params = {**PARAMS, "absence": ["baseline"], "randomisation": RANDOMISATION}
    background, weights = inputs.select(IDS[:2]), [0.5, 0.5]
    contributions = explain_channels(model, list(CHANNELS), inputs, manifest, background, weights, params)[0]
    catalog = DataCatalog({
        "salt_model": MemoryDataset(model, copy_mode="assign"), "channel_contributions": MemoryDataset(contributions),
        "model_inputs": MemoryDataset(inputs), "manifest": MemoryDataset(manifest),
        "shapley_background": MemoryDataset(background), "shapley_background_weights": MemoryDataset(weights),
        "params:explainability": MemoryDataset(params),
        "params:explainability.randomisation": MemoryDataset(RANDOMISATION), "randomisation_metrics": Kept(),
    })
    SequentialRunner().run(create_pipeline(absence=["baseline"]).only_nodes("randomisation_check"), catalog)
    reported = catalog.load("randomisation_metrics")["sanity.randomised_model_spearman"]

    keras.utils.set_random_seed(RANDOMISATION["seed"])  # the same random weights as the check's
    random_predict = forward_pass(keras.models.clone_model(model), 64)
    ids = contributions.ids[:2]
    games = {"baseline": build_absence("baseline", inputs, list(CHANNELS), manifest, background, weights, params),
             "background": BackgroundAbsence(background.data, np.asarray(weights))}
    rho = {name: explanation_rank_correlation(
        contributions.select(ids).data, explain_game(random_predict, inputs.select(ids).data, game, 2).contributions)
        for name, game in games.items()}
    assert reported == pytest.approx(rho["baseline"], abs=1e-6)
    assert abs(rho["background"] - rho["baseline"]) > 1e-3  # the games differ by far more than that tolerance


def test_sensitivity_compares_every_definition_with_the_primary(outputs):
    table = outputs.load("explanation_sensitivity")
    assert list(dict.fromkeys(table["definition"])) == PARAMS["absence"]
    assert len(table) == 4 * 3 and set(table["channel"]) == set(CHANNELS)
    primary = table[table["definition"] == "background"]
    assert (primary["kendall_tau"] == 1.0).all()
    assert table["map_correlation"].between(-1, 1).all()
    metrics = outputs.load("sensitivity_metrics")
    assert metrics["sensitivity.background.kendall_tau"] == 1.0 and "sensitivity.blur.map_correlation" in metrics
    sentence = outputs.load("explanation_sensitivity_sentence")
    assert "Kendall τ of the channel ranking against background" in sentence and "conditional" in sentence


def test_baseline_is_the_train_split_channel_mean(inputs, manifest):
    absence = build_absence("baseline", inputs, ["energy", "amplitude"], manifest, inputs, [1.0] * 12, PARAMS)
    train = inputs.select(IDS[:8]).select_channels(["energy", "amplitude"]).data
    np.testing.assert_allclose(absence.means, train.mean(axis=(0, 1, 2), dtype=np.float64), rtol=1e-6)


def test_conditional_pool_is_drawn_from_the_train_split(inputs, manifest):
    absence = build_absence("conditional", inputs, list(CHANNELS), manifest, inputs, [1.0] * 12, PARAMS)
    train = inputs.select(IDS[:8]).data
    assert len(absence.pool) == 6 and all((train == image).all(axis=(1, 2, 3)).any() for image in absence.pool)


def test_only_the_background_game_may_be_sampled(model, inputs):
    with pytest.raises(ValueError, match="'baseline' is exact only"):
        explain_game_chunk(inputs.data[:1], 0, model, BaselineAbsence(np.zeros(3)),
                           {**PARAMS, "max_exact_channels": 2})


def test_the_random_background_and_the_conditional_neighbours_get_standard_errors_and_the_exact_games_none(outputs):
    errors = outputs.load("contribution_standard_error")
    phi = outputs.load("channel_contributions")
    assert errors.data.shape == phi.data.shape and errors.channels == CHANNELS
    assert (errors.data >= 0).all() and errors.data.max() > 0
    # Two background images: the standard error of their mean is half their difference.
    redraws = outputs.load("background_redraws")
    assert len(redraws) == 20 * 4 * 3 and set(redraws["id"]) == set(IDS[8:])
    conditional = outputs.load("conditional.contribution_standard_error")
    assert conditional.channels == CHANNELS and conditional.data.shape == phi.data.shape
    assert conditional.data.max() > 0 and outputs.load("conditional.explanation_checks")[
        "shapley.conditional.n_references"] == 2
    for definition in ("baseline", "blur"):
        assert outputs.load(f"{definition}.contribution_standard_error").data.shape[-1] == 0
    for definition in ("baseline", "blur", "conditional"):
        assert outputs.load(f"{definition}.background_redraws").empty
    table = outputs.load("explanation_sampling_error")
    assert list(table["channel"]) == list(CHANNELS)
    np.testing.assert_allclose(table["share_of_abs"].sum(), 1.0)
    assert (table["share_low"] <= table["share_high"]).all()
    sentence = outputs.load("explanation_sampling_error_sentence")
    assert "2 background images" in sentence and "20 redraws" in sentence


def test_the_significance_table_has_a_share_for_each_game_with_an_error_and_says_the_others_are_exact(outputs):
    from explainable_salt.attribution.sampling import significant
    from explainable_salt.tgs.metrics import apply_decision_rule

    table = outputs.load("explanation_significance")
    assert list(dict.fromkeys(table["definition"])) == PARAMS["absence"] and len(table) == 4 * 3
    salt = apply_decision_rule(outputs.load("explained_probabilities").data, RULE).astype(bool)
    assert salt.any() and (table["n_salt_pixels"] == salt.sum()).all()
    for definition, prefix in (("background", ""), ("conditional", "conditional.")):
        phi, errors = (outputs.load(f"{prefix}{name}").data for name in ("channel_contributions",
                                                                          "contribution_standard_error"))
        rows = table[table["definition"] == definition]
        np.testing.assert_allclose(rows["share"], significant(phi[salt], errors[salt], 2).mean(axis=0))
        assert (rows["t_quantile"].round(2) == 12.71).all()  # K = 2: one degree of freedom
    exact = table[table["definition"].isin(["baseline", "blur"])]
    assert exact["share"].isna().all() and (exact["sampling_error"] == "exact in this game: no sampling error").all()
    metrics = outputs.load("significance_metrics")
    assert set(metrics) == {f"significance.{d}.{c}.share" for d in ("background", "conditional") for c in CHANNELS}
    assert metrics["significance.background.amplitude.share"] == table.loc[0, "share"]


def test_the_significance_node_reads_every_definitions_contributions_errors_and_checks():
    node = next(n for n in create_pipeline(absence=["background", "conditional"]).nodes
                if n.name == "analyse_significance")
    assert node.inputs[-3:] == ["conditional.channel_contributions", "conditional.contribution_standard_error",
                                "conditional.explanation_checks"]
    assert node.outputs == ["explanation_significance", "significance_metrics"]


def test_a_conditional_primary_has_standard_errors_but_no_background_to_redraw(tmp_path):
    from explainable_salt.attribution.sampling import SAMPLING_COLUMNS
    from explainable_salt.pipelines.explainability.nodes import analyse_sampling_error

    phi = ImageStack(IDS[:2], np.ones((2, 101, 101, 3), np.float32), CHANNELS)
    no_redraws = pd.DataFrame({"resample": [], "id": [], "channel": [], "mean_abs": []})
    table, sentence, metrics = analyse_sampling_error(phi, phi, no_redraws, [0.5, 0.5], PARAMS["sampling_error"])
    assert table.empty and metrics == {}
    assert "no random draw of train images to redraw" in sentence and "explanation_significance" in sentence
    table.to_csv(tmp_path / "table.csv", index=False)  # as the catalog saves it: the reporting run reads it back
    assert list(pd.read_csv(tmp_path / "table.csv").columns) == SAMPLING_COLUMNS


def test_the_amortized_explainer_refuses_labels_made_for_other_images_or_channels(model, inputs):
    from explainable_salt.pipelines.explainability.nodes import fit_amortized_explainer, label_amortized_explainer

    manifest = pd.DataFrame({"id": IDS, "split": ["train"] * 6 + ["validation"] * 3 + ["internal_test"] * 3})
    params = {**PARAMS, "background": {**PARAMS["background"], "size": 2}, "amortized": {
        "pool": 4, "label_images": 3, "validation_images": 2, "depth": 1, "base_filters": 4, "epochs": 1,
        "batch_size": 2, "learning_rate": 1e-3, "seed": 1}}
    labels, validation, settings = label_amortized_explainer(model, list(CHANNELS), inputs, manifest, params)
    assert labels.data.shape == (3, 101, 101, 3) and set(labels.ids) <= set(IDS[:6])
    assert validation.data.shape == (2, 101, 101, 6) and set(validation.ids) <= set(IDS[6:9])
    assert settings == {"pool": 4, "references": 2, "seed": 1}
    explainer, metrics = fit_amortized_explainer(model, list(CHANNELS), inputs, manifest, labels, validation,
                                                 settings, params)
    assert explainer.output_shape == (None, 101, 101, 3) and metrics["amortized.n_labels"] == 3
    other_images = {**params, "amortized": {**params["amortized"], "label_images": 2}}
    with pytest.raises(ValueError, match=r"other images(, validation images)? than .* run label_amortized_explainer again"):
        fit_amortized_explainer(model, list(CHANNELS), inputs, manifest, labels, validation, settings, other_images)
    renamed = ImageStack(labels.ids, labels.data, ("a", "b", "c"))
    with pytest.raises(ValueError, match="other channels than"):
        fit_amortized_explainer(model, list(CHANNELS), inputs, manifest, renamed, validation, settings, params)
    # every train image labelled: another seed draws the same ids, and only the settings tell
    everything = {**params, "amortized": {**params["amortized"], "label_images": 6}}
    labels, validation, settings = label_amortized_explainer(model, list(CHANNELS), inputs, manifest, everything)
    reseeded = {**everything, "amortized": {**everything["amortized"], "seed": 2}}
    with pytest.raises(ValueError, match="other (validation images, )?seed than"):
        fit_amortized_explainer(model, list(CHANNELS), inputs, manifest, labels, validation, settings, reseeded)
    with pytest.raises(ValueError, match="other references than"):
        fit_amortized_explainer(model, list(CHANNELS), inputs, manifest, labels, validation, settings,
                                {**everything, "background": {**everything["background"], "size": 3}})
    with pytest.raises(ValueError, match=r"3 channels, more than max_exact_channels = 2"):
        label_amortized_explainer(model, list(CHANNELS), inputs, manifest, {**params, "max_exact_channels": 2})
