"""Every public function of the explanation engine, and every counting option of the benchmarks,
answers an empty input: with a result of the right shape and no image (``N = 0``), or with a
``ValueError`` (or, for a script, ``parser.error``) naming the argument and the parameter it
comes from (:mod:`explainable_salt.attribution.inputs`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from toy_models import interacting_model as toy

from explainable_salt.attribution import (
    absence,
    faithfulness,
    importance,
    interactions,
    pixel_attribution,
    sampling,
    sections,
    sensitivity,
    shap_exact,
    shapley,
)
from explainable_salt.attribution.additivity import max_additivity_error
from explainable_salt.attribution.background import choose_background
from explainable_salt.attribution.chunks import explain_game_chunk, explain_stack
from explainable_salt.segmentation.forward import batched, forward_pass
from explainable_salt.stacks import ImageStack

C, SIDE = 3, 101
CHANNELS = ("a", "b", "c")
NONE = np.zeros((0, SIDE, SIDE, C), np.float32)  # an empty stack
NO_MASKS = np.zeros((0, SIDE, SIDE), np.uint8)
IMAGES = np.random.default_rng(0).normal(size=(2, SIDE, SIDE, C)).astype(np.float32)
MASKS = (IMAGES[..., 0] > 0).astype(np.uint8)
BACKGROUND = IMAGES[::-1].copy()
ONE_COALITION = np.array([[True, False, True]])
ENGINE = {"max_exact_channels": 8, "n_permutations": 2, "images_per_call": 4, "batch_size": 16, "chunk_size": 4,
          "seed": 0, "additivity_tolerance": 1e-4, "sampling_error": {"n_resamples": 3, "seed": 0}}
GAMES = {
    "background": absence.BackgroundAbsence(BACKGROUND),
    "sampled background": absence.BackgroundAbsence(BACKGROUND, sampled=True),
    "baseline": absence.BaselineAbsence(np.zeros(C)),
    "blur": absence.BlurAbsence(2.0),
    "conditional": absence.ConditionalAbsence(IMAGES, neighbours=1, descriptor_size=4),
}


def tiny_model() -> keras.Model:
    """A 1 × 1 convolution: ``(B, 101, 101, 3)`` → ``(B, 101, 101, 1)`` salt probabilities."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIDE, SIDE, C))
    return keras.Model(inputs, keras.layers.Conv2D(1, 1, activation="sigmoid")(inputs))


MODEL = tiny_model()


def _explained(result: shapley.ChannelShapley) -> tuple:
    return (result.contributions.shape, result.contributions.dtype, result.predictions.shape,
            result.max_additivity_error)


def _no_images() -> tuple:
    return (0, SIDE, SIDE, C), np.float32, (0, SIDE, SIDE), 0.0


def _sampling_error(result: shapley.ChannelShapley) -> tuple:
    return result.standard_error.shape, result.resampled_importance.shape


def _stack_explained(explained: tuple[shapley.ChannelShapley, dict]) -> tuple:
    result, checks = explained
    return _explained(result), checks["n_images"]


def _shape_and_type(array: np.ndarray) -> tuple:
    return array.shape, array.dtype


def _table(frame: pd.DataFrame) -> tuple:
    return len(frame), sorted(frame["n_images"].unique().tolist()), bool(frame["mean_abs"].isna().all())


# name → (call on an empty input, what it gives, the expected value)
EMPTY_RESULTS = {
    "splice": (lambda: absence.splice(NONE, ONE_COALITION, BACKGROUND[None, None]).shape, (0, 1, 2, SIDE, SIDE, C)),
    "block_means": (lambda: absence.block_means(NONE, 4).shape, (0, 4, 4, C)),
    "BlurAbsence.smoothed": (lambda: GAMES["blur"].smoothed(NONE).shape, (0, SIDE, SIDE, C)),
    "ConditionalAbsence.nearest": (lambda: GAMES["conditional"].nearest(NONE, ONE_COALITION).shape, (0, 1, 1)),
    "BackgroundAbsence.expected": (lambda: GAMES["background"].expected(toy, NONE).shape, (SIDE, SIDE)),
    "coalitions of no channel": (lambda: shapley.coalitions(0).shape, (1, 0)),
    "shapley_weight_matrix of no channel": (lambda: shapley.shapley_weight_matrix(0).shape, (0, 1)),
    "batched": (lambda: _shape_and_type(batched(toy, 4)(NONE)), ((0, SIDE, SIDE), np.float32)),
    "forward_pass": (lambda: forward_pass(MODEL, 4)(NONE).shape, (0, SIDE, SIDE)),
    "reference_outputs": (lambda: shapley.reference_outputs(toy, NONE, GAMES["background"], ONE_COALITION)[0].shape,
                          (0, 1, 2, SIDE, SIDE)),
    "game_values": (lambda: shapley.game_values(toy, NONE, GAMES["blur"], ONE_COALITION).shape, (0, 1, SIDE, SIDE)),
    "coalition_values": (lambda: shapley.coalition_values(toy, NONE, BACKGROUND, ONE_COALITION).shape,
                         (0, 1, SIDE, SIDE)),
    "channel_shapley": (lambda: _explained(shapley.channel_shapley(toy, NONE, BACKGROUND, progress=False)),
                        _no_images()),
    **{f"explain_game ({name})": (lambda game=game: _explained(shapley.explain_game(toy, NONE, game, progress=False)),
                                  _no_images()) for name, game in GAMES.items()},
    "explain_game: its blur expected value": (
        lambda: shapley.explain_game(toy, NONE, GAMES["blur"], progress=False).expected_value.shape, (0, SIDE, SIDE)),
    "explain_game: its readouts": (
        lambda: shapley.explain_game(toy, NONE, GAMES["background"], readouts={
            "taylor": interactions.taylor_matrix(C)}, progress=False).readouts["taylor"].shape, (0, SIDE, SIDE, C + 3)),
    "explain_game: its standard errors and redraws": (
        lambda: _sampling_error(shapley.explain_game(
            toy, NONE, GAMES["sampled background"], progress=False, resamples=sampling.bootstrap_weights(2, 5, 0))),
        ((0, SIDE, SIDE, C), (5, 0, C))),
    "channel_shapley_sampled": (lambda: _explained(shapley.channel_shapley_sampled(toy, NONE, BACKGROUND, 2)),
                                _no_images()),
    "explain_game_chunk (exact)": (lambda: _explained(explain_game_chunk(NONE, 0, MODEL, GAMES["background"], ENGINE)),
                                   _no_images()),
    "explain_game_chunk (sampled)": (lambda: _explained(explain_game_chunk(
        NONE, 0, MODEL, GAMES["background"], {**ENGINE, "max_exact_channels": 2})), _no_images()),
    "explain_stack": (lambda: _stack_explained(
        explain_stack(ImageStack([], NONE, CHANNELS), MODEL, GAMES["background"], ENGINE)), (_no_images(), 0.0)),
    "stitched_shapley": (lambda: _explained(sections.stitched_shapley(
        lambda tiles: shapley.channel_shapley(toy, tiles, BACKGROUND, progress=False),
        np.zeros((0, 150, 120, C), np.float32))), ((0, 150, 120, C), np.float32, (0, 150, 120), 0.0)),
    "max_additivity_error": (lambda: max_additivity_error(np.zeros((SIDE, SIDE)), NONE, NO_MASKS), 0.0),
    "salt_location_maps": (lambda: _shape_and_type(pixel_attribution.salt_location_maps(
        MODEL, NONE, NO_MASKS, BACKGROUND, n_samples=2)), ((0, SIDE, SIDE, C), np.float32)),
    "mask_boundary": (lambda: importance.mask_boundary(NO_MASKS).shape, (0, SIDE, SIDE)),
    "pixel_groups": (lambda: {g.shape for g in importance.pixel_groups(NO_MASKS, NO_MASKS).values()},
                     {(0, SIDE, SIDE)}),
    "per_image_means": (lambda: [m.shape for m in importance.per_image_means(NONE, NO_MASKS.astype(bool))],
                        [(0, C), (0, C)]),
    "importance_table": (lambda: _table(importance.importance_table(
        NONE, CHANNELS, NO_MASKS, NO_MASKS, np.zeros(0), np.zeros(0), n_boot=10)), (6 * C, [0], True)),
    "sample_pixels": (lambda: importance.sample_pixels(np.zeros(0, str), NONE, NONE, NO_MASKS, CHANNELS, 10).shape,
                      (0, 7)),
    "sample_pixels of no pixel": (lambda: importance.sample_pixels(
        np.array(["x", "y"]), IMAGES, IMAGES, MASKS, CHANNELS, 0).shape, (0, 7)),
    "channel_pairs of no channel": (lambda: interactions.channel_pairs(0), []),
    "pair_names of no channel": (lambda: interactions.pair_names(()), ()),
    "taylor_names of no channel": (lambda: interactions.taylor_names(()), ()),
    "interaction_index_matrix of one channel": (lambda: interactions.interaction_index_matrix(1).shape, (0, 2)),
    "taylor_matrix of no channel": (lambda: interactions.taylor_matrix(0).shape, (0, 1)),
    "interaction_table": (lambda: _table(interactions.interaction_table(
        np.zeros((0, SIDE, SIDE, 3)), ("a:b", "a:c", "b:c"), n_boot=10)), (3, [0], True)),
    "interaction_table of no pair": (lambda: interactions.interaction_table(np.zeros((2, SIDE, SIDE, 0)), (), 10).shape,
                                     (0, len(interactions.INTERACTION_COLUMNS))),
    "standard_error": (lambda: sampling.standard_error(np.zeros((0, 2, SIDE, SIDE, C))).shape, (0, SIDE, SIDE, C)),
    "bootstrap_weights of no redraw": (lambda: sampling.bootstrap_weights(4, 0, 0).shape, (0, 4)),
    "resampled_importance": (lambda: sampling.resampled_importance(
        np.zeros((0, 2, SIDE, SIDE, C)), NONE, np.full((3, 2), 0.5)).shape, (3, 0, C)),
    "resampled_importance of no redraw": (lambda: sampling.resampled_importance(
        np.zeros((1, 2, SIDE, SIDE, C)), IMAGES[:1], np.zeros((0, 2))).shape, (0, 1, C)),
    "kendall_tau_per_image": (lambda: sensitivity.kendall_tau_per_image(np.zeros((0, C)), np.zeros((0, C))).shape,
                              (0,)),
    "map_correlation_per_image": (lambda: sensitivity.map_correlation_per_image(NONE, NONE).shape, (0,)),
    "sensitivity_table": (lambda: _table(sensitivity.sensitivity_table({"background": NONE}, CHANNELS, 10)),
                          (C, [0], True)),
    "flat_outputs": (lambda: shap_exact.flat_outputs(toy)(NONE).shape, (0, SIDE * SIDE)),
}


@pytest.mark.parametrize("call, expected", EMPTY_RESULTS.values(), ids=EMPTY_RESULTS.keys())
def test_an_empty_input_gets_an_empty_result_of_the_right_shape(call, expected):
    assert call() == expected


def _curves(n_images=2, background=BACKGROUND, n_random=2, images_per_call=8):
    return faithfulness.deletion_curves(toy, IMAGES[:n_images], MASKS[:n_images], background,
                                        np.full(len(background), 1.0 / max(1, len(background))), np.ones(C), 0.5,
                                        n_random, images_per_call=images_per_call)


BACKGROUND_SIZE = r"background: 0 images; at least 1 needed \(explainability\.background\.size\)"
# name → (call, the ValueError's message as a pattern)
REFUSED = {
    "normalised_weights of no image": (lambda: absence.normalised_weights(None, 0), BACKGROUND_SIZE),
    "BackgroundAbsence of no image": (lambda: absence.BackgroundAbsence(NONE), BACKGROUND_SIZE),
    "BaselineAbsence of no mean": (lambda: absence.BaselineAbsence(np.zeros(0)), r"means: 0 channel means"),
    "ConditionalAbsence of no pool image": (lambda: absence.ConditionalAbsence(NONE, neighbours=1),
                                            r"pool of 0 images \(explainability\.conditional\.neighbours, \.pool\)"),
    "choose_background of no candidate": (lambda: choose_background(NONE, 2), r"candidates: 0 train images"),
    **{f"choose_background of size 0 ({method})": (
        lambda method=method: choose_background(IMAGES, 0, method),
        r"size: 0 background images; at least 1 needed \(explainability\.background\.size\)")
       for method in ("random", "kmeans")},
    "batched by 0": (lambda: batched(toy, 0), r"batch_size: 0 .*\(explainability\.batch_size\)"),
    "forward_pass by 0": (lambda: forward_pass(MODEL, 0), r"batch_size: 0 .*\(explainability\.batch_size\)"),
    "coalition_values of no background image": (lambda: shapley.coalition_values(toy, IMAGES, NONE, ONE_COALITION),
                                                BACKGROUND_SIZE),
    "channel_shapley of no background image": (lambda: shapley.channel_shapley(toy, IMAGES, NONE, progress=False),
                                               BACKGROUND_SIZE),
    "explain_game of no array": (lambda: shapley.explain_game(toy, np.zeros(0), GAMES["background"]),
                                 r"images must be a stack \(N, H, W, C\)"),
    "explain_game 0 images per call": (lambda: shapley.explain_game(toy, IMAGES, GAMES["background"], 0),
                                       r"images_per_call: 0 images; .*\(explainability\.images_per_call\)"),
    "concatenate of no result": (lambda: shapley.concatenate([]), r"results: 0 chunk results"),
    "channel_shapley_sampled of no permutation": (
        lambda: shapley.channel_shapley_sampled(toy, IMAGES, BACKGROUND, 0),
        r"n_permutations: 0 permutations; at least 1 needed \(explainability\.n_permutations\)"),
    "channel_shapley_sampled of no background image": (lambda: shapley.channel_shapley_sampled(toy, IMAGES, NONE, 2),
                                                       BACKGROUND_SIZE),
    "stitched_shapley of no array": (lambda: sections.stitched_shapley(lambda tiles: None, np.zeros(0)),
                                     r"sections must be a stack"),
    "deletion_curves of no image": (lambda: _curves(n_images=0), r"images: 0 images; .*\(explainability\.deletion\.images\)"),
    "deletion_curves of no background image": (lambda: _curves(background=NONE), BACKGROUND_SIZE),
    "deletion_curves of no random order": (lambda: _curves(n_random=0),
                                           r"n_random: 0 random orders; .*\(explainability\.deletion\.n_random_orders\)"),
    "deletion_curves 0 images per call": (lambda: _curves(images_per_call=0), r"images_per_call: 0"),
    "deletion_area of no curve": (lambda: faithfulness.deletion_area(pd.DataFrame({"order": [], "competition_metric": []}),
                                                                     "importance"), r"order: .*no 'importance' curve"),
    "explanation_rank_correlation of no image": (lambda: faithfulness.explanation_rank_correlation(NONE, NONE),
                                                 r"first: 0 images"),
    "randomised_model_correlation of no image": (
        lambda: faithfulness.randomised_model_correlation(toy, NONE, GAMES["background"], NONE),
        r"images: 0 images; .*\(explainability\.randomisation\.images\)"),
    "importance_table of no resample": (lambda: importance.importance_table(
        IMAGES, CHANNELS, MASKS, MASKS, np.zeros(2), np.zeros(2), n_boot=0),
        r"n_boot: 0 bootstrap resamples; .*\(explainability\.analysis\.n_bootstrap\)"),
    "interaction_table of no resample": (lambda: interactions.interaction_table(IMAGES, ("a:b", "a:c", "b:c"), 0),
                                         r"n_boot: 0 .*\(explainability\.analysis\.n_bootstrap\)"),
    "standard_error of one background image": (lambda: sampling.standard_error(np.zeros((1, 1, SIDE, SIDE, C))),
                                               r"per_reference: 1 background images; at least 2 needed"),
    "bootstrap_weights of no image": (lambda: sampling.bootstrap_weights(0, 3, 0),
                                      r"k: 0 background images; .*\(explainability\.background\.size\)"),
    "sampling_table of no image": (lambda: sampling.sampling_table(NONE, NONE, np.ones((3, 0, C)), CHANNELS),
                                   r"contributions: 0 images"),
    "sampling_table of no redraw": (
        lambda: sampling.sampling_table(IMAGES, IMAGES, np.ones((0, 2, C)), CHANNELS),
        r"redrawn: 0 background redraws; .*\(explainability\.sampling_error\.n_resamples\)"),
    "sampling_sentence of no row": (lambda: sampling.sampling_sentence(pd.DataFrame(), 4), r"table: 0 rows"),
    "sensitivity_table of no definition": (lambda: sensitivity.sensitivity_table({}, CHANNELS, 10),
                                           r"contributions: 0 absence definitions; .*\(explainability\.absence\)"),
    "sensitivity_table of no resample": (lambda: sensitivity.sensitivity_table({"background": IMAGES}, CHANNELS, 0),
                                         r"n_boot: 0 .*\(explainability\.analysis\.n_bootstrap\)"),
    "ranking_sentence of no row": (lambda: sensitivity.ranking_sentence(pd.DataFrame()), r"table: 0 rows"),
    "shap_exact_channel_shapley of no image": (lambda: shap_exact.shap_exact_channel_shapley(toy, NONE, BACKGROUND),
                                               r"images: 0 images"),
    "ChannelMasker of no background image": (lambda: shap_exact.ChannelMasker(NONE), BACKGROUND_SIZE),
    "salt_location_maps of no background image": (
        lambda: pixel_attribution.salt_location_maps(MODEL, IMAGES, MASKS, NONE), BACKGROUND_SIZE),
    "salt_location_maps of no sample": (
        lambda: pixel_attribution.salt_location_maps(MODEL, IMAGES, MASKS, BACKGROUND, n_samples=0),
        r"n_samples: 0 expected-gradient samples; .*\(explainability\.pixel_maps\.n_samples\)"),
}


@pytest.mark.parametrize("call, message", REFUSED.values(), ids=REFUSED.keys())
def test_an_input_nothing_can_come_from_is_refused_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# script → refused command lines (each must exit through parser.error before any work)
REFUSED_OPTIONS = {
    "bench_attributes": [["--limit", "0"], ["--bruges-images", "0"]],
    "bench_checkpoint": [["--repeat", "0"]],
    "bench_explain": [["--images", "0"], ["--background", "0"], ["--batch-size", "0"], ["--shap-pixels", "0"],
                      ["--permutations", "0"], ["--sampled-images", "-1"], ["--shap-exact-images", "-1"],
                      ["--frontier-images", "-1"], ["--frontier-half", "1"], ["--frontier-draws", "1"],
                      ["--frontier-k", ""], ["--frontier-k", "4,0"]],
    "bench_explorer": [["--images", "0"], ["--images"], ["--repeat", "0"]],
    "bench_inference": [["--sizes", "100"], ["--sizes"], ["--small", "0"], ["--large", "0"]],
    "bench_scaling": [["--explain-images", "0"], ["--predict-images", "0"], ["--workers", "0"], ["--workers"]],
    "bench_training": [["--train-images", "0"], ["--test-images", "-1"], ["--policy-rounds", "-1"],
                       ["--epoch-rounds", "-1"], ["--base-filters", "0"], ["--batch-size", "0"]],
    "fault_injection": [["--kills", "0"]],
    "resume_after_kill": [["--epochs-before-kill", "-1"]],
    "remove_and_retrain": [["--max-trainings", "0"], ["--minutes", "0"], ["--epochs", "0"]],
    "seismic_scaling": [["--seismic", "/nonexistent"]],
    "bench_seismic": [["--inlines", "0"], ["--crosslines", "0"], ["--samples", "0"]],  # no count: a missing section is refused the same way
    "planted_cue": [["--images", "1"], ["--minutes", "0"], ["--strength", "0"]],
    "tile_grid": [["--resample", "0"], ["--overlaps", "101"], ["--overlaps", "-1"], ["--overlaps"]],
    "bench_amortized": [["--pool", "1"], ["--k", "0"], ["--label-images", "0"], ["--validation-images", "0"],
                        ["--test-images", "0"], ["--draws", "1"], ["--epochs", "0"], ["--depth", "0"],
                        ["--filters", "0"]],
}


@pytest.fixture(scope="module")
def scripts():
    """The benchmark scripts as modules, imported before any test captures output: some set up
    logging on import, which must not hold on to one test's captured stream."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))  # for the shared benchmarks/_*.py
        modules = {}
        for name in REFUSED_OPTIONS:
            spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
            modules[name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(modules[name])
        yield modules


@pytest.mark.parametrize("script, argv", [(s, a) for s, lines in REFUSED_OPTIONS.items() for a in lines],
                         ids=lambda value: value if isinstance(value, str) else " ".join(value) or "(none)")
def test_a_benchmark_refuses_a_count_too_small_through_its_parser(scripts, script, argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        scripts[script].main()
    assert exit_.value.code == 2
    assert f"argument {argv[0]}" in capsys.readouterr().err


def test_every_counting_option_of_every_benchmark_is_covered():
    scripts = {p.stem for p in BENCHMARKS.glob("*.py") if not p.stem.startswith("_")}
    assert scripts - {"compare_stacks"} == set(REFUSED_OPTIONS)  # compare_stacks takes two paths, no count
