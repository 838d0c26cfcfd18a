"""The reporting pipeline's explanation sections: sensitivity to the definition of absence, the
interaction matrix and maps, and the explorer's inputs for every configured definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from explainable_salt.attribution import sampling
from explainable_salt.attribution.interactions import interaction_table, pair_names
from explainable_salt.attribution.sensitivity import ranking_sentence, sensitivity_table
from explainable_salt.figures import report
from explainable_salt.pipelines.reporting import create_pipeline
from explainable_salt.stacks import ImageStack

CHANNELS = ("amplitude", "energy", "similarity")
PAIRS = pair_names(CHANNELS)
IDS = [f"i{k}" for k in range(6)]
RULE = {"threshold": 0.5, "min_area": 0, "peak_threshold": 0.5}


def _phi(seed: int, scales=(0.3, 0.1, 0.02)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(len(IDS), 101, 101, len(CHANNELS))) * np.array(scales)).astype(np.float32)


@pytest.fixture(scope="module")
def sensitivity():
    """Three definitions: blur swaps the last two channels' importance."""
    contributions = {"background": _phi(0), "baseline": _phi(1), "blur": _phi(2, (0.3, 0.02, 0.1))}
    table = sensitivity_table(contributions, CHANNELS, n_boot=50)
    return table, ranking_sentence(table)


@pytest.fixture(scope="module")
def interactions():
    data = np.random.default_rng(3).normal(0, 0.01, (len(IDS), 101, 101, len(PAIRS))).astype(np.float32)
    data[..., 0] -= 0.05  # amplitude:energy redundant
    data[..., 2] += 0.03  # energy:similarity synergistic
    return ImageStack(IDS, data, PAIRS)


def _run_nodes(names: list[str], inputs: dict) -> dict:
    pipeline = create_pipeline().only_nodes(*names)
    catalog = DataCatalog({name: MemoryDataset(value) for name, value in inputs.items()})
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.outputs()}


def test_the_explanation_figures_are_drawn_from_the_catalog(sensitivity, interactions):
    probabilities = np.random.default_rng(4).uniform(0, 1, (len(IDS), 101, 101)).astype(np.float32)
    outputs = _run_nodes(
        ["plot_absence_sensitivity", "plot_interaction_matrix", "plot_interaction_maps"],
        {"explanation_sensitivity": sensitivity[0], "channel_interaction_matrix": interaction_table(interactions.data, PAIRS, 50),
         "showcase_image_ids": IDS[:2], "channel_interactions": interactions,
         "explained_probabilities": ImageStack(IDS, probabilities), "decision_rule": RULE},
    )
    assert set(outputs) == {"absence_sensitivity_figure", "interaction_matrix_figure", "interaction_maps_figure"}
    assert all(isinstance(fig, Figure) for fig in outputs.values())
    maps = outputs["interaction_maps_figure"]
    assert len([ax for ax in maps.axes if ax.images]) == 2 * len(PAIRS)  # one panel per image and pair
    assert maps.axes[0].images[0].get_clim() == pytest.approx((-np.abs(interactions.data[:2]).max(),
                                                               np.abs(interactions.data[:2]).max()))


def test_the_sensitivity_figure_shows_each_definitions_shares_and_agreement(sensitivity):
    from explainable_salt.figures.plotting import absence_sensitivity

    table = sensitivity[0]
    shares, agreement = absence_sensitivity(table).axes[:2]
    heights = [bar.get_height() for bar in shares.patches]
    # bars by channel, then by definition: amplitude's shares first
    assert heights[:3] == pytest.approx(table[table["channel"] == "amplitude"]["share_of_abs"].tolist())
    tau = table.drop_duplicates("definition")["kendall_tau"].tolist()
    assert [bar.get_height() for bar in agreement.patches][:3] == pytest.approx(tau)
    assert tau[0] == 1.0 and tau[2] < 1.0


def test_the_interaction_matrix_is_symmetric_with_signed_means(interactions):
    from explainable_salt.figures.plotting import interaction_matrix

    table = interaction_table(interactions.data, PAIRS, 50)
    shown = interaction_matrix(table).axes[0].images[0].get_array()
    assert shown.shape == (3, 3) and np.isnan(np.diag(shown.filled(np.nan))).all()
    assert shown[0, 1] == shown[1, 0] == pytest.approx(table.loc[0, "mean"]) and shown[0, 1] < 0
    assert shown[1, 2] == pytest.approx(table.loc[2, "mean"]) and shown[1, 2] > 0


def test_the_sensitivity_summary_has_one_row_per_definition(sensitivity):
    summary = report.sensitivity_summary(sensitivity[0])
    assert summary["definition"].tolist() == ["background", "baseline", "blur"]
    assert summary.loc[0, "ranking"] == "amplitude > energy > similarity"
    assert summary.loc[2, "ranking"] == "amplitude > similarity > energy"
    assert summary.loc[0, "Kendall τ"] == "1.00 [1.00, 1.00]"
    assert {f"share {c}" for c in CHANNELS} <= set(summary.columns)


def test_with_one_definition_the_report_says_so_and_how_to_add_others():
    table = sensitivity_table({"background": _phi(0)}, CHANNELS, n_boot=20)
    reading = report.sensitivity_reading(table, ranking_sentence(table))
    assert "Only one definition" in reading and "explainability.absence" in reading
    assert report.sensitivity_summary(table)["definition"].tolist() == ["background"]


def test_the_interaction_reading_names_the_most_redundant_and_synergistic_pairs(interactions):
    reading = report.interaction_reading(interaction_table(interactions.data, PAIRS, 50))
    assert "Most redundant: amplitude and energy" in reading
    assert "Most synergistic: energy and similarity" in reading


def test_the_explorer_takes_every_configured_definitions_contributions_and_expected_value():
    pipeline = create_pipeline(absence=["background", "baseline", "blur"])
    explorer = next(n for n in pipeline.nodes if n.name == "build_explorer")
    assert explorer.inputs[-9:] == [
        "channel_interactions", "baseline.channel_contributions", "baseline.expected_value_map",
        "blur.channel_contributions", "blur.expected_value_map",
        "explanation_significance", "contribution_standard_error", "baseline.contribution_standard_error",
        "blur.contribution_standard_error",
    ]
    assert "blur.channel_contributions" not in create_pipeline().inputs()


def test_the_standard_error_maps_share_one_scale_and_a_game_without_sampling_gets_a_note():
    rng = np.random.default_rng(5)
    errors = ImageStack(IDS, rng.uniform(0, 0.02, (len(IDS), 101, 101, len(CHANNELS))).astype(np.float32), CHANNELS)
    probabilities = ImageStack(IDS, rng.uniform(0, 1, (len(IDS), 101, 101)).astype(np.float32))
    inputs = {"showcase_image_ids": IDS[:2], "explained_probabilities": probabilities, "decision_rule": RULE}
    fig = _run_nodes(["plot_standard_error_maps"], {**inputs, "contribution_standard_error": errors})[
        "standard_error_maps_figure"]
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 * len(CHANNELS)  # the mean over images, then each showcase image
    np.testing.assert_allclose(panels[0].images[0].get_array(), errors.data.mean(axis=0)[..., 0], atol=1e-6)
    largest = float(errors.data[:2].max())  # the showcase images' largest standard error (above any mean)
    for ax in panels:  # one scale
        assert ax.images[0].get_clim() == pytest.approx((0, largest))
    none = ImageStack(IDS, np.zeros((len(IDS), 101, 101, 0), np.float32))
    fig = _run_nodes(["plot_standard_error_maps"], {**inputs, "contribution_standard_error": none})[
        "standard_error_maps_figure"]
    assert not [ax for ax in fig.axes if ax.images] and "no sampling error" in fig.axes[0].texts[0].get_text()


def test_the_sampling_summary_shows_each_channels_share_range_and_relative_error():
    import pandas as pd

    table = pd.DataFrame({"channel": ["a", "b"], "share_of_abs": [0.75, 0.25], "share_low": [0.7, 0.2],
                          "share_high": [0.8, 0.3], "mean_abs": [0.3, 0.1], "mean_standard_error": [0.15, 0.1],
                          "relative_standard_error": [0.5, 1.0]})
    summary = report.sampling_summary(table)
    assert list(summary["share of mean |φ|"]) == ["75.0 % [70.0, 80.0]", "25.0 % [20.0, 30.0]"]
    assert list(summary["standard error / mean |φ|"]) == ["50 %", "100 %"]
    assert "no random draw" in report.sampling_summary(pd.DataFrame())["note"][0]


def test_markup_in_the_reports_text_and_tables_is_shown_as_text():
    markup = '<script>alert(1)</script> "quoted" & \'single\''
    page = report.render(
        markup, {"ids": markup}, {"id": markup}, {markup: 1.0}, markup, pd.DataFrame({"channel": [markup]}), {},
        [(markup, markup, pd.DataFrame({"id": [markup]}))],
    )
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _significance(errors: np.ndarray | None, k: int = 8, definition: str = "background") -> pd.DataFrame:
    salt = np.zeros((len(IDS), 101, 101), bool)
    salt[:, :40] = True
    return sampling.significance_table(definition, _phi(0), errors, k, salt, CHANNELS)


def _contribution_figure(errors: ImageStack, significance: pd.DataFrame) -> Figure:
    rng = np.random.default_rng(6)
    inputs = {
        "showcase_image_ids": IDS[:2], "model_inputs": ImageStack(IDS, rng.normal(size=(6, 101, 101, 3)), CHANNELS),
        "train_masks": ImageStack(IDS, np.zeros((6, 101, 101), np.uint8)),
        "explained_probabilities": ImageStack(IDS, rng.uniform(0, 1, (6, 101, 101)).astype(np.float32)),
        "channel_contributions": ImageStack(IDS, _phi(0), CHANNELS),
        "expected_value_map": ImageStack(["expected_value"], np.full((1, 101, 101), 0.4, np.float32)),
        "decision_rule": RULE, "contribution_standard_error": errors, "explanation_significance": significance,
    }
    return _run_nodes(["plot_channel_contributions"], inputs)["channel_contributions_figure"]


def test_the_contribution_maps_grey_exactly_the_phi_not_distinguishable_from_zero():
    errors = np.full((len(IDS), 101, 101, len(CHANNELS)), 0.05, np.float32)
    fig = _contribution_figure(ImageStack(IDS, errors, CHANNELS), _significance(errors))
    greyed = [ax for ax in fig.axes if len(ax.images) == 2]  # the φ maps: values, then the grey
    assert len(greyed) == 2 * len(CHANNELS)
    expected = ~sampling.significant(_phi(0)[0, ..., 1], errors[0, ..., 1], 8)  # image 0, energy
    shown = greyed[1].images[1].get_array()
    np.testing.assert_array_equal(~shown.mask, expected)
    assert 0 < expected.mean() < 1
    assert "t = 2.36 (Student's t, 7 degrees of freedom" in fig._suptitle.get_text()


def test_an_exact_primary_game_greys_nothing_and_says_it_has_no_sampling_error():
    none = ImageStack(IDS, np.zeros((len(IDS), 101, 101, 0), np.float32))
    fig = _contribution_figure(none, _significance(None, 1, "baseline"))
    assert not [ax for ax in fig.axes if len(ax.images) == 2]
    assert "exact in this game: no sampling error" in fig._suptitle.get_text()


def test_the_contribution_caption_says_what_grey_means_and_with_which_t():
    caption = report.contribution_caption(_significance(np.full((6, 101, 101, 3), 0.05, np.float32)))
    assert "Greyed φ pixels are not distinguishable from 0: |φ| ≤ t × SE" in caption
    assert "K = 8 references of background and t = 2.36 (Student's t, 7 degrees of freedom" in caption
    exact = report.contribution_caption(_significance(None, 1, "baseline"))
    assert "The φ of baseline are exact in this game: no sampling error." in exact and "Greyed" not in exact


def test_the_significance_section_gives_each_games_share_and_says_which_are_exact():
    errors = np.full((6, 101, 101, 3), 0.05, np.float32)
    table = pd.concat([_significance(errors), _significance(None, 1, "baseline")], ignore_index=True)
    summary = report.significance_summary(table)
    shares = table["share"].iloc[:3]
    assert shares.iloc[0] > shares.iloc[2]  # amplitude's φ (scale 0.3) stands out more often than similarity's (0.02)
    assert list(summary["definition"]) == ["background", "baseline"]
    assert summary.loc[0, [f"{c}: |φ| > t × SE" for c in CHANNELS]].tolist() == [f"{100 * v:.0f} %" for v in shares]
    assert summary.loc[1, [f"{c}: |φ| > t × SE" for c in CHANNELS]].tolist() == ["—"] * 3
    assert list(summary["t"]) == ["2.36", "—"] and summary.loc[1, "sampling error"] == sampling.NO_ERROR
    reading = report.significance_reading(table)
    assert f"amplitude's φ is distinguishable from 0 at {100 * shares.iloc[0]:.0f} % of {6 * 40 * 101} salt pixels" in reading
    assert "baseline: exact in this game: no sampling error." in reading
