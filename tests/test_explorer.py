"""The explorer's data: which images, how they are quantised, what the HTML file holds."""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from explorer_run import CHANNELS, NODE_INPUTS, PAIRS, explorer_of, tiny_run

from explainable_salt.attribution import sampling
from explainable_salt.figures.explorer_data import (
    NOT_GIVEN,
    PREDICTED_BIT,
    TRUTH_BIT,
    bit_planes,
    mask_outline,
    quantise_magnitude,
    quantise_range,
    quantise_symmetric,
    quantise_unit,
)
from explainable_salt.pipelines.reporting.nodes import build_explorer
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.metrics import apply_decision_rule
from explainable_salt.tgs.splits import spread_over_coverage


def test_unit_values_come_back_within_half_a_step():
    values = np.random.default_rng(0).uniform(0, 1, 5000)
    q = quantise_unit(values)
    assert q.codes.dtype == np.uint16 and q.step == pytest.approx(1 / 65535)
    assert np.abs(q.values() - values).max() <= q.step / 2 + 1e-12


def test_contributions_keep_their_sign_and_come_back_within_half_a_step():
    values = np.random.default_rng(1).normal(0, 0.2, 5000)
    q = quantise_symmetric(values)
    assert q.codes.dtype == np.int16 and np.abs(q.codes).max() == 32767
    assert np.abs(q.values() - values).max() <= q.step / 2 + 1e-12
    assert np.array_equal(np.sign(q.codes[np.abs(values) > q.step]), np.sign(values[np.abs(values) > q.step]))


def test_zero_contributions_quantise_to_zero():
    q = quantise_symmetric(np.zeros(10))
    assert np.array_equal(q.values(), np.zeros(10))


def test_inputs_are_clipped_to_their_display_range():
    q = quantise_range(np.array([-5.0, 0.0, 0.5, 1.0, 5.0]), 0.0, 1.0)
    assert q.codes.tolist() == [0, 0, 128, 255, 255]


def test_outline_of_a_square_is_its_perimeter_of_unit_edges():
    mask = np.zeros((101, 101), bool)
    mask[10:20, 30:35] = True  # 10 rows × 5 columns
    edges = mask_outline(mask).reshape(-1, 4).astype(int)
    assert len(edges) == 2 * (10 + 5)
    assert np.all(np.abs(edges[:, 2] - edges[:, 0]) + np.abs(edges[:, 3] - edges[:, 1]) == 1)
    assert {(e[0], e[1], e[2], e[3]) for e in edges if e[0] == e[2]} >= {(30, 10, 30, 11), (35, 19, 35, 20)}


def test_outline_of_salt_touching_the_border_closes_along_the_border():
    mask = np.ones((101, 101), bool)
    edges = mask_outline(mask).reshape(-1, 4)
    assert len(edges) == 4 * 101 and edges.max() == 101


@pytest.fixture(scope="module")
def explorer_html():
    return build_explorer(**tiny_run())


class _Links(HTMLParser):
    """The page's own tags that would load something (script text is not parsed as tags)."""

    def __init__(self):
        super().__init__()
        self.links, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.links += [value for name, value in attrs if name in ("src", "href")]


def test_the_explorer_is_one_self_contained_page(explorer_html):
    assert explorer_html.startswith("<!DOCTYPE html>")
    parser = _Links()
    parser.feed(explorer_html)
    assert parser.links == []  # nothing to fetch: opens offline
    assert "Bokeh" in explorer_html and explorer_html.count("<script") >= 2  # BokehJS inlined


def test_the_explorer_embeds_the_chosen_images_and_their_channels(explorer_html):
    run = tiny_run()
    chosen = spread_over_coverage(run["per_image_metrics"], run["params"]["n_images"])
    assert len(chosen) == 5
    for image_id in run["per_image_metrics"]["id"]:
        assert (f'"{image_id}"' in explorer_html) == (image_id in chosen)
    for channel in CHANNELS:
        assert f"phi-{channel}" in explorer_html and f"input-{channel}" in explorer_html
    assert "input-depth" not in explorer_html  # only explained channels are shown


# An id is the name of a raw file, so untrusted: markup in it must stay text wherever it is shown.
MARKUP_ID = '<img src=x onerror="window.pwned=1"><script>alert(1)</script> "quoted" & \'single\''


def _run_with_id(new_id: str) -> dict:
    """``tiny_run()`` with image ``img06``, one the explorer shows, renamed ``new_id``."""
    run = tiny_run()
    ids = [new_id if i == "img06" else i for i in run["per_image_metrics"]["id"]]
    run["per_image_metrics"] = run["per_image_metrics"].assign(id=ids)
    for name in ("model_inputs", "train_masks", "explained_probabilities", "channel_contributions",
                 "channel_interactions"):
        run[name] = ImageStack(ids, run[name].data, run[name].channels)
    return run


class _Tags(HTMLParser):
    """How many of each start tag the page holds (script text is not parsed as tags)."""

    def __init__(self, page: str):
        super().__init__()
        self.counts = Counter()
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.counts[tag] += 1


def test_an_id_with_markup_travels_in_the_page_as_escaped_data_not_as_tags(explorer_html):
    page = build_explorer(**_run_with_id(MARKUP_ID))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape(json.dumps(MARKUP_ID), quote=False) in page  # the id is there, as JSON data
    assert _Tags(page).counts == _Tags(explorer_html).counts


def _browser() -> str:
    """Debian's chromium, as tests/test_explorer_browser.py finds it: skipped without it, failed
    under CI=true."""
    from explainable_salt.figures.explorer_browser import chromium_path

    path = chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path and os.path.exists(path):
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI=true but the browser test cannot run: no playwright or no chromium")
    pytest.skip("needs playwright and Debian's chromium (make browser)")


def test_an_id_with_markup_is_shown_as_text_when_its_image_is_picked(tmp_path):
    from explainable_salt.figures.explorer_browser import browser_page, open_explorer

    executable = _browser()
    path = tmp_path / "explorer.html"
    path.write_text(build_explorer(**_run_with_id(MARKUP_ID)))
    with browser_page(executable) as page:
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        open_explorer(page, path)
        page.locator(".slick-cell", has_text="onerror").first.click()
        page.wait_for_timeout(200)
        numbers = page.locator(".explorer-numbers")
        assert page.evaluate("() => window.pwned") is None and dialogs == []
        assert numbers.locator("img, script").count() == 0
        assert numbers.get_attribute("data-image") == MARKUP_ID
        assert numbers.locator("b").first.inner_text() == MARKUP_ID
        assert page.locator(".bk-Div", has_text=f"{MARKUP_ID}: coverage").count() >= 1


def test_the_embedded_data_stays_compact():
    small = build_explorer(**{**tiny_run(40), "params": {**tiny_run()["params"], "n_images": 2}})
    large = build_explorer(**{**tiny_run(40), "params": {**tiny_run()["params"], "n_images": 22}})
    per_image = (len(large) - len(small)) / 20
    # 3 channels: inputs 1 + φ 2 bytes each, probability 2, masks 1, 3 pairs 1 byte each a pixel, base64 × 4/3
    assert per_image < 1.05 * (4 / 3) * 101 * 101 * (3 * 3 + 3 + 3) + 3000


def test_another_definition_adds_one_byte_a_channel_and_its_own_expected_values():
    small = explorer_of({**tiny_run(40, blur=True), "params": {**tiny_run()["params"], "n_images": 2}})
    large = explorer_of({**tiny_run(40, blur=True), "params": {**tiny_run()["params"], "n_images": 22}})
    single = build_explorer(**{**tiny_run(40), "params": {**tiny_run()["params"], "n_images": 22}})
    single_small = build_explorer(**{**tiny_run(40), "params": {**tiny_run()["params"], "n_images": 2}})
    extra = ((len(large) - len(small)) - (len(single) - len(single_small))) / 20
    # blur: int8 φ 1 byte a channel, uint16 expected value per image 2 bytes a pixel, base64 × 4/3
    assert extra < 1.05 * (4 / 3) * 101 * 101 * (3 + 2) + 1000


def test_each_definition_and_the_interactions_get_their_rows_and_steps():
    from explainable_salt.figures.explorer import _sources
    from explainable_salt.figures.explorer_data import explorer_data

    run = tiny_run(blur=True)
    phi_blur, expected_blur = run["other_explanations"]
    ids = list(run["channel_contributions"].ids)
    data = explorer_data(
        run["per_image_metrics"], run["model_inputs"].select_channels(CHANNELS).data, run["train_masks"].data,
        run["explained_probabilities"].data,
        {"background": (run["expected_value_map"].data[0], run["channel_contributions"].data),
         "blur": (expected_blur.data, phi_blur.data)},
        CHANNELS, run["decision_rule"], (run["channel_interactions"].data, PAIRS),
    )
    _, definitions, contributions = _sources(data)
    assert definitions.data["name"] == ["background", "blur"]
    assert len(definitions.data["expected_value"][1]) == 0  # blur's is per image, in its rows
    rows = contributions.data
    assert rows["definition"] == [0] * len(ids) + [1] * len(ids)
    k = len(ids) + 2  # blur, image 2
    assert rows["phi_0"][0].dtype == np.int16 and rows["phi_0"][k].dtype == np.int8
    np.testing.assert_allclose(rows["phi_1"][k] * rows["phi_step"][k], phi_blur.data[2, ..., 1],
                               atol=rows["phi_step"][k] / 2 + 1e-9)
    np.testing.assert_allclose(rows["expected_value"][k] / 65535, expected_blur.data[2], atol=0.5 / 65535 + 1e-9)
    np.testing.assert_allclose(rows["pair_2"][2] * rows["pair_step"][2], run["channel_interactions"].data[2, ..., 2],
                               atol=rows["pair_step"][2] / 2 + 1e-9)
    assert len(rows["pair_0"][k]) == 0  # interactions only for the primary


def test_masks_code_truth_and_prediction_in_separate_bits():
    from explainable_salt.figures.explorer_data import explorer_data

    truth = np.zeros((1, 101, 101), np.uint8)
    truth[0, :50] = 1
    probability = np.full((1, 101, 101), 0.2, np.float32)
    probability[0, :, :30] = 0.9
    data = explorer_data(
        pd.DataFrame({"id": ["a"], "coverage": [0.5], "coverage_class": [5], "predicted_coverage": [0.3],
                      "score": [0.0], "depth": [100.0]}),
        np.zeros((1, 101, 101, 1), np.float32), truth, probability,
        {"background": (np.full((101, 101), 0.5, np.float32), (probability - 0.5)[..., None])}, ("amplitude",),
        {"threshold": 0.5},
    )
    assert data.masks[0, 0, 0] == TRUTH_BIT | PREDICTED_BIT and data.masks[0, 0, 50] == TRUTH_BIT
    assert data.masks[0, 80, 0] == PREDICTED_BIT and data.masks[0, 80, 50] == 0
    assert data.table.loc[0, "explained_coverage"] == pytest.approx(30 / 101)


def error_run(n_images: int = 7, n_shown: int = 5) -> tuple[dict, list]:
    """``tiny_run`` with a background sampled from 8 images (standard errors of a third of the φ
    scale, so some φ stand out of the noise and some do not) and an exact ``baseline``: the node's
    keyword inputs and the positional rest, as the pipeline passes them."""
    run = {**tiny_run(n_images), "params": {**tiny_run()["params"], "n_images": n_shown}}
    rng = np.random.default_rng(1)
    ids, phi = list(run["channel_contributions"].ids), run["channel_contributions"].data
    probabilities = run["explained_probabilities"].data
    errors = np.abs(rng.normal(0, 0.03, phi.shape)).astype(np.float32)
    expected = rng.uniform(0.2, 0.4, probabilities.shape[1:]).astype(np.float32)
    baseline = rng.normal(0, 0.05, phi.shape).astype(np.float32)
    baseline[..., -1] = probabilities - expected - baseline[..., :-1].sum(axis=-1)
    salt = apply_decision_rule(probabilities, run["decision_rule"]).astype(bool)
    table = pd.concat([sampling.significance_table("background", phi, errors, 8, salt, CHANNELS),
                       sampling.significance_table("baseline", baseline, None, 1, salt, CHANNELS)])
    rest = [run["channel_interactions"], ImageStack(ids, baseline, CHANNELS), ImageStack(["expected"], expected[None]),
            table, ImageStack(ids, errors, CHANNELS), ImageStack(ids, np.zeros((*phi.shape[:3], 0), np.float32))]
    return run, rest


def explorer_with_errors(run: dict, rest: list) -> str:
    return build_explorer(*(run[k] for k in NODE_INPUTS[:-1]), *rest, definitions=["background", "baseline"])


def test_standard_errors_come_back_within_half_a_step_and_never_negative():
    values = np.array([0.0, 0.001, 0.02, 0.05])
    q = quantise_magnitude(values)
    assert q.codes.dtype == np.uint8 and q.codes[-1] == 255
    np.testing.assert_allclose(q.values(), values, atol=q.step / 2 + 1e-12)


def test_bit_planes_hold_channel_c_in_bit_c_mod_8_of_byte_c_div_8():
    flags = np.zeros((2, 10), bool)
    flags[0, [0, 3]] = flags[1, 9] = True
    np.testing.assert_array_equal(bit_planes(flags), [[0b1001, 0], [0, 0b10]])


def test_the_explorer_marks_exactly_the_phi_the_significance_rule_rejects_and_stores_each_se():
    from explainable_salt.figures.explorer import _sources

    run, rest = error_run()
    baseline, baseline_expected, errors = rest[1], rest[2], rest[4]
    _, definitions, contributions = _sources(_data(run, {"background": (errors.data, 8, "from 8 images"),
                                                         "baseline": (None, 1, sampling.NO_ERROR)}, baseline,
                                                   baseline_expected))
    assert definitions.data["has_error"] == [True, False]
    assert definitions.data["t"][0] == pytest.approx(2.3646, abs=1e-4)
    assert definitions.data["note"][1] == "exact in this game: no sampling error"
    rows, k = contributions.data, 2
    phi = run["channel_contributions"].data
    insignificant = ~sampling.significant(phi[k], errors.data[k], 8)
    assert insignificant.any() and not insignificant.all()
    bits = rows["insignificant_0"][k]
    for c in range(len(CHANNELS)):
        np.testing.assert_array_equal((bits >> c) & 1, insignificant[..., c])
        np.testing.assert_allclose(rows[f"se_{c}"][k] * rows["se_step"][k], errors.data[k, ..., c],
                                   atol=rows["se_step"][k] / 2 + 1e-9)
    baseline_row = len(phi) + k
    assert len(rows["insignificant_0"][baseline_row]) == 0 and len(rows["se_0"][baseline_row]) == 0


def _data(run, errors, baseline, baseline_expected):
    from explainable_salt.figures.explorer_data import explorer_data

    return explorer_data(
        run["per_image_metrics"], run["model_inputs"].select_channels(CHANNELS).data, run["train_masks"].data,
        run["explained_probabilities"].data,
        {"background": (run["expected_value_map"].data[0], run["channel_contributions"].data),
         "baseline": (baseline_expected.data[0], baseline.data)},
        CHANNELS, run["decision_rule"], None, errors,
    )


def test_without_errors_given_the_page_says_so_rather_than_calling_the_game_exact():
    from explainable_salt.figures.explorer import _sources

    run, rest = error_run()
    _, definitions, _ = _sources(_data(run, None, rest[1], rest[2]))
    assert definitions.data["has_error"] == [False, False] and definitions.data["note"] == [NOT_GIVEN] * 2
    assert "sampling error not given" in NOT_GIVEN


def test_a_sampling_error_adds_one_byte_a_channel_and_one_for_the_marks():
    def size(n_shown, errors):
        run, rest = error_run(40, n_shown)
        if not errors:
            rest[3] = rest[3].assign(share=np.nan, t_quantile=np.nan)
            rest[4] = rest[5]
        return len(explorer_with_errors(run, rest))

    extra = ((size(22, True) - size(2, True)) - (size(22, False) - size(2, False))) / 20
    # uint8 standard error per channel, one byte of bits for three channels, base64 × 4/3
    assert extra > (4 / 3) * 101 * 101 * 3
    assert extra < 1.05 * (4 / 3) * 101 * 101 * (3 + 1) + 1000


def test_the_pipeline_hands_the_explorer_the_significance_table_and_every_definitions_errors():
    run, rest = error_run()
    page = explorer_with_errors(run, rest)
    assert "phi-energy_marks" in page and "waterfall_error" in page
    assert "t = 2.36 (Student's t, 7 degrees of freedom" in html.unescape(page)  # the rule, with K = 8's t
    with pytest.raises(ValueError, match="1 standard-error stacks"):
        explorer_with_errors(run, rest[:-1])
