"""The explorer of a tiny run, opened in headless Chromium (Debian's `chromium`, driven by
Playwright): it loads without console errors, an image is picked in its table, and the numbers it
shows at the pixels pointed at are the run's stored values within the quantisation step, and the
switch between absence definitions and pair interactions changes them to the other stored values.

`make test` installs `chromium` when it is missing (as root, with apt-get). Elsewhere, without a
browser, these tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from explorer_run import CHANNELS, PAIRS, explorer_of, tiny_run

from explainable_salt.attribution import sampling
from explainable_salt.pipelines.reporting.nodes import build_explorer
from explainable_salt.tgs.splits import spread_over_coverage

PHI_LEVELS, UNIT_LEVELS = 32767, 65535  # int16 φ codes at the largest |φ|, uint16 probability codes
# (panel pointed at, row, column): corners and inner pixels, on each kind of map
PIXELS = [("probability", 0, 0), ("phi-energy", 37, 81), ("input-amplitude", 100, 100),
          ("expected-value", 64, 12), ("phi-similarity", 3, 99)]


def _browser() -> str:
    from explainable_salt.figures.explorer_browser import chromium_path

    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed (make install)"
    path = chromium_path()
    if reason is None and (path is None or not os.path.exists(path)):
        reason = "Debian's chromium is not installed (make test installs it as root: apt-get install chromium)"
    if reason is None:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but the browser test cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def run():
    return tiny_run()


@pytest.fixture(scope="module")
def opened(run, tmp_path_factory):
    """The explorer page, opened; yields (page, seconds to open)."""
    from explainable_salt.figures.explorer_browser import browser_page, open_explorer

    executable = _browser()
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(build_explorer(**run))
    with browser_page(executable) as page:
        yield page, open_explorer(page, path)


def _numbers(page) -> dict:
    """What the numbers panel shows: its image and pixel, and each cell's value and text."""
    return page.evaluate("""() => {
        const find = (root) => {
            const hit = root.querySelector(".explorer-numbers");
            if (hit) return hit;
            for (const el of root.querySelectorAll("*")) {
                if (el.shadowRoot) { const inner = find(el.shadowRoot); if (inner) return inner; }
            }
            return null;
        };
        const box = find(document);
        const cells = [...box.querySelectorAll("td[data-quantity]")].map(td => ({
            quantity: td.dataset.quantity, channel: td.dataset.channel, value: Number(td.dataset.value),
            text: td.textContent}));
        return {image: box.dataset.image, row: Number(box.dataset.row), col: Number(box.dataset.col), cells};
    }""")


def _shown_number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def _point(page, panel, row, col, click=False):
    from explainable_salt.figures.explorer_browser import pixel_position

    x, y = pixel_position(page, panel, row, col)
    page.mouse.click(x, y) if click else page.mouse.move(x, y)
    page.wait_for_timeout(50)


def test_the_page_loads_without_console_errors(opened):
    page, seconds = opened
    assert page.evaluate("() => Bokeh.documents[0].is_idle")
    assert page.locator(".explorer-numbers").count() == 1
    assert page.console_errors == []


def test_picking_an_image_in_the_table_shows_it(opened, run):
    page, _ = opened
    chosen = spread_over_coverage(run["per_image_metrics"], run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[0]).first.click()
    page.wait_for_timeout(100)
    assert page.locator(".bk-Div", has_text=f"{chosen[0]}: coverage").count() >= 1
    _point(page, "probability", 50, 50)
    assert _numbers(page)["image"] == chosen[0]


@pytest.mark.parametrize("panel, row, col", PIXELS)
def test_the_numbers_at_a_pixel_are_the_stored_values_within_the_quantisation_step(opened, run, panel, row, col):
    page, _ = opened
    chosen = spread_over_coverage(run["per_image_metrics"], run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[-1]).first.click()
    _point(page, panel, row, col)
    shown = _numbers(page)
    assert (shown["image"], shown["row"], shown["col"]) == (chosen[-1], row, col)

    k = list(run["channel_contributions"].ids).index(chosen[-1])
    phi = run["channel_contributions"].data
    phi_tolerance = np.abs(phi).max() / PHI_LEVELS / 2 + 1e-9  # half a step: the step is set by the largest |φ| shown
    unit_tolerance = 0.5 / UNIT_LEVELS + 1e-9
    stored = {
        ("expected_value", ""): (run["expected_value_map"].data[0, row, col], unit_tolerance),
        ("probability", ""): (run["explained_probabilities"].data[k, row, col], unit_tolerance),
        ("sum", ""): (run["explained_probabilities"].data[k, row, col], unit_tolerance + len(CHANNELS) * phi_tolerance + 1e-6),
        **{("phi", c): (phi[k, row, col, i], phi_tolerance) for i, c in enumerate(CHANNELS)},
    }
    cells = {(c["quantity"], c["channel"]): c for c in shown["cells"]}
    assert set(cells) == set(stored)
    for key, (value, tolerance) in stored.items():
        assert abs(cells[key]["value"] - value) <= tolerance, key
        assert abs(_shown_number(cells[key]["text"]) - cells[key]["value"]) <= 0.5e-4 + 1e-12, key  # 4 decimals


def test_the_waterfall_climbs_from_the_expected_value_by_each_contribution(opened, run):
    page, _ = opened
    _point(page, "probability", 20, 30)
    bars = page.evaluate("() => Bokeh.documents[0].get_model_by_name('waterfall').data")
    shown = {(c["quantity"], c["channel"]): c["value"] for c in _numbers(page)["cells"]}
    assert bars["x"] == ["expected value", *CHANNELS, "probability"]
    assert bars["top"][0] == pytest.approx(shown[("expected_value", "")], abs=1e-12)
    running = shown[("expected_value", "")]
    for i, channel in enumerate(CHANNELS, start=1):
        assert bars["bottom"][i] == pytest.approx(running, abs=1e-12)
        running += shown[("phi", channel)]
        assert bars["top"][i] == pytest.approx(running, abs=1e-12)
    assert bars["top"][-1] == pytest.approx(shown[("probability", "")], abs=1e-12)
    assert running == pytest.approx(bars["top"][-1], abs=1e-3)  # additive, up to the quantisation


def test_a_click_pins_the_pixel_until_clicked_again(opened):
    page, _ = opened
    _point(page, "phi-amplitude", 10, 20, click=True)
    _point(page, "phi-amplitude", 70, 80)
    assert (_numbers(page)["row"], _numbers(page)["col"]) == (10, 20)
    page.wait_for_timeout(600)  # not a double click
    _point(page, "phi-amplitude", 10, 20, click=True)
    _point(page, "phi-amplitude", 70, 80)
    assert (_numbers(page)["row"], _numbers(page)["col"]) == (70, 80)
    assert page.console_errors == []


@pytest.fixture(scope="module")
def blur_run():
    return tiny_run(blur=True)


@pytest.fixture(scope="module")
def switched(opened, blur_run, tmp_path_factory):
    """The explorer of a run with a second definition (blur, expected value per image), opened in
    the same browser page (one Playwright at a time)."""
    from explainable_salt.figures.explorer_browser import open_explorer

    page, _ = opened
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(explorer_of(blur_run))
    open_explorer(page, path)
    return page


def _switch_to(page, label: str) -> None:
    page.get_by_role("button", name=label, exact=True).click()
    page.wait_for_timeout(100)


def _cells(page) -> dict:
    return {(c["quantity"], c["channel"]): c["value"] for c in _numbers(page)["cells"]}


def _panel_visible(page, name: str) -> bool:
    return page.evaluate(f"() => Bokeh.documents[0].get_model_by_name('{name}').visible")


def test_the_switch_offers_each_definition_then_the_pair_interactions(switched):
    labels = switched.evaluate("() => Bokeh.documents[0].get_model_by_name('view_switch').labels")
    assert labels == ["background", "blur", "pair interactions (background)"]


@pytest.mark.parametrize("row, col", [(12, 40), (90, 3)])
def test_switching_to_blur_shows_its_contributions_and_its_per_image_expected_value(switched, blur_run, row, col):
    page = switched
    chosen = spread_over_coverage(blur_run["per_image_metrics"], blur_run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[1]).first.click()
    _switch_to(page, "blur")
    _point(page, "phi-energy", row, col)
    k = list(blur_run["channel_contributions"].ids).index(chosen[1])
    phi, expected = (stack.data[k] for stack in blur_run["other_explanations"])
    shown = _cells(page)
    phi_tolerance = float(np.abs(phi).max()) / 127 / 2 + 1e-9  # int8 codes, this image's own step
    assert shown[("expected_value", "")] == pytest.approx(expected[row, col], abs=0.5 / UNIT_LEVELS + 1e-9)
    for c, channel in enumerate(CHANNELS):
        assert shown[("phi", channel)] == pytest.approx(phi[row, col, c], abs=phi_tolerance)
    assert shown[("sum", "")] == pytest.approx(blur_run["explained_probabilities"].data[k, row, col],
                                               abs=len(CHANNELS) * phi_tolerance + 1e-4)
    assert "absence definition: blur" in page.evaluate("() => Bokeh.documents[0].get_model_by_name('heading').text")

    _switch_to(page, "background")
    _point(page, "phi-energy", row, col)
    primary = blur_run["channel_contributions"].data[k, row, col]
    back = _cells(page)
    assert back[("expected_value", "")] == pytest.approx(blur_run["expected_value_map"].data[0, row, col], abs=1e-4)
    primary_tolerance = float(np.abs(blur_run["channel_contributions"].data[k]).max()) / PHI_LEVELS / 2 + 1e-9
    assert [back[("phi", c)] for c in CHANNELS] == pytest.approx(primary.tolist(), abs=primary_tolerance)
    assert page.console_errors == []


def test_switching_to_pair_interactions_shows_one_map_and_one_number_per_pair(switched, blur_run):
    page = switched
    chosen = spread_over_coverage(blur_run["per_image_metrics"], blur_run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[-1]).first.click()
    _switch_to(page, "pair interactions (background)")
    assert _panel_visible(page, "pair_row") and not _panel_visible(page, "phi_row")
    _point(page, "interaction-amplitude-similarity", 30, 70)
    k = list(blur_run["channel_contributions"].ids).index(chosen[-1])
    interactions = blur_run["channel_interactions"].data[k]
    shown = _cells(page)
    tolerance = float(np.abs(interactions).max()) / 127 / 2 + 1e-9
    for p, pair in enumerate(PAIRS):
        assert shown[("interaction", pair)] == pytest.approx(interactions[30, 70, p], abs=tolerance)
    primary = blur_run["channel_contributions"].data[k]  # the waterfall stays the primary's
    assert shown[("phi", "energy")] == pytest.approx(primary[30, 70, 1], abs=float(np.abs(primary).max()) / PHI_LEVELS)
    shown_map = page.evaluate("() => Array.from(Bokeh.documents[0].get_model_by_name("
                              "'interaction-amplitude-similarity_view').data.image[0])")
    np.testing.assert_allclose(np.array(shown_map).reshape(101, 101) * float(np.abs(interactions).max()) / 127,
                               interactions[..., 1], atol=tolerance)
    _switch_to(page, "blur")
    assert _panel_visible(page, "phi_row") and not _panel_visible(page, "pair_row")
    assert ("interaction", PAIRS[0]) not in _cells(page)
    assert page.console_errors == []


@pytest.fixture(scope="module")
def error_run():
    from test_explorer import error_run as make

    return make()


@pytest.fixture(scope="module")
def with_errors(opened, error_run, tmp_path_factory):
    """The explorer of a run with a background drawn from 8 images (standard errors) and an exact
    baseline, opened in the same browser page."""
    from test_explorer import explorer_with_errors

    from explainable_salt.figures.explorer_browser import open_explorer

    page, _ = opened
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(explorer_with_errors(*error_run))
    open_explorer(page, path)
    return page


def _error_text(page) -> str:
    return page.locator(".explorer-error").inner_text()


def test_a_background_pixel_shows_each_phi_with_its_95_percent_interval_and_whiskers(with_errors, error_run):
    page, (run, rest) = with_errors, error_run
    chosen = spread_over_coverage(run["per_image_metrics"], run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[2]).first.click()
    _switch_to(page, "background")
    _point(page, "phi-energy", 33, 44)
    k = list(run["channel_contributions"].ids).index(chosen[2])
    errors = rest[4].data[k, 33, 44]
    se_tolerance = float(rest[4].data[k].max()) / 255 / 2 + 1e-9  # uint8 codes, this image's own step
    t = sampling.t_quantile(8)
    cells = {(c["quantity"], c["channel"]): c for c in _numbers(page)["cells"]}
    for c, channel in enumerate(CHANNELS):
        interval = cells[("interval", channel)]
        assert interval["value"] == pytest.approx(t * errors[c], abs=t * se_tolerance)
        assert interval["text"] == f"\u00b1 {interval['value']:.4f}"  # shown as "+0.0123  ± 0.0081"
    whiskers = page.evaluate("() => Bokeh.documents[0].get_model_by_name('waterfall_error').data")
    bars = page.evaluate("() => Bokeh.documents[0].get_model_by_name('waterfall').data")
    assert whiskers["x"] == list(CHANNELS)
    for c in range(len(CHANNELS)):
        half = cells[("interval", CHANNELS[c])]["value"]
        assert whiskers["lower"][c] == pytest.approx(bars["top"][c + 1] - half, abs=1e-9)
        assert whiskers["upper"][c] == pytest.approx(bars["top"][c + 1] + half, abs=1e-9)
    assert "K = 8 background images drawn" in _error_text(page) and "t = 2.36" in _error_text(page)
    assert page.console_errors == []


def test_a_baseline_pixel_says_it_has_no_sampling_error_and_shows_no_interval(with_errors):
    page = with_errors
    _switch_to(page, "baseline")
    _point(page, "phi-energy", 33, 44)
    assert "exact in this game: no sampling error" in _error_text(page)
    assert not [c for c in _numbers(page)["cells"] if c["quantity"] == "interval"]
    assert page.evaluate("() => Bokeh.documents[0].get_model_by_name('waterfall_error').data.x") == []
    assert "no sampling error" in page.evaluate("() => Bokeh.documents[0].get_model_by_name('heading').text")
    _switch_to(page, "background")
    assert page.console_errors == []


def test_the_phi_maps_grey_the_pixels_not_distinguishable_from_zero_and_only_where_there_is_an_error(
        with_errors, error_run):
    page, (run, rest) = with_errors, error_run
    chosen = spread_over_coverage(run["per_image_metrics"], run["params"]["n_images"])
    page.locator(".slick-cell", has_text=chosen[-1]).first.click()
    _switch_to(page, "background")
    k = list(run["channel_contributions"].ids).index(chosen[-1])
    insignificant = ~sampling.significant(run["channel_contributions"].data[k], rest[4].data[k], 8)
    for c, channel in enumerate(CHANNELS):
        shown = page.evaluate(f"() => Array.from(Bokeh.documents[0].get_model_by_name('phi-{channel}_marks')"
                              ".data.image[0])")
        np.testing.assert_array_equal((np.array(shown).reshape(101, 101) >> c) & 1, insignificant[..., c])
    grey = page.evaluate("() => Bokeh.documents[0].get_model_by_name('phi-energy_marks').data.image[0].length")
    assert grey == 101 * 101 and insignificant.any() and not insignificant.all()
    visible = "() => Bokeh.documents[0].get_model_by_name('phi-energy_marks_renderer').visible"
    assert page.evaluate(visible)
    _switch_to(page, "baseline")
    assert not page.evaluate(visible)
    assert page.console_errors == []
