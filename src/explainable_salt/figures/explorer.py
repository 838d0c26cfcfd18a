"""The interactive explorer: one self-contained Bokeh HTML file (JavaScript inlined, no server).

A table lists the chosen images; for the selected one, panels show each input channel and the
probability with the true and predicted outlines, the expected value, and each channel's
contribution φ on one symmetric diverging scale. Pointing at a pixel of any panel shows its
waterfall, expected value → + each φ → probability, with the numbers; a click pins the pixel.
A switch above the maps chooses what the φ panels show: the explanation under each absence
definition the run computed (what replaced an absent channel), or the primary definition's pair
interactions (Shapley interaction index, one panel per channel pair).

The data travels in :class:`~bokeh.models.ColumnDataSource`\\ s, one quantised array per map
(see :mod:`explorer_data`); switching image only re-points the panels at other arrays, and the
pixel callback reads a handful of codes. Layout of the sources:

- ``images``: one row per image, the table's columns, ``input_<c>``, ``probability``, ``masks``,
  ``truth_outline``, ``predicted_outline``;
- ``definitions``: one row per absence definition, ``name`` and the shared ``expected_value``
  (empty where it is per image, as for blur), ``has_error``, Student's ``t`` of its ``K``
  references, ``note`` (its sampling error, or why there is none) and ``rule`` (what grey means);
- ``contributions``: one row per (definition, image), ``definition``, ``image``, its own
  ``expected_value`` (empty where shared), ``phi_<c>`` with ``phi_step`` and ``limit`` (largest
  |code|), on the primary's rows ``pair_<p>`` with ``pair_step`` and ``pair_limit``, and where the
  definition has a sampling error ``se_<c>`` with ``se_step`` and the bits ``insignificant_<g>``
  (empty elsewhere).

Each φ panel has a grey overlay (``phi-<c>_marks``) showing the insignificant bits of its channel
through a palette: the byte is the image, and the colour of value ``v`` is grey where bit ``c % 8``
of ``v`` is set, transparent elsewhere; it is hidden for a definition without an error. The
waterfall's whiskers (``waterfall_error``) are each channel's 95 % interval ``φ ± t × SE``.

The switch (``view_switch``, a ``RadioButtonGroup``) holds the state: button ``d`` shows
definition ``d``, the last (when the run has interactions) the primary's pair interactions.
"""

from __future__ import annotations

import html

import matplotlib
import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady, MouseMove, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    ColorBar,
    ColumnDataSource,
    CustomJS,
    DataTable,
    Div,
    FactorRange,
    LabelSet,
    LinearColorMapper,
    NumberFormatter,
    RadioButtonGroup,
    Range1d,
    TableColumn,
    Whisker,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

from explainable_salt.figures import explorer_js
from explainable_salt.figures.explorer_data import PREDICTED_BIT, TRUTH_BIT, ExplorerData, mask_outline
from explainable_salt.figures.plotting import CONTRIBUTION_CMAP, IMAGE_CMAP, INSIGNIFICANT_ALPHA, INSIGNIFICANT_COLOUR
from explainable_salt.stacks import IMAGE_SIZE

PIXEL_SIZE = 2  # screen pixels per image pixel in every map panel
PROBABILITY_CMAP = "viridis"  # as the static figures' probability and expected value
TRUTH_COLOUR, PREDICTED_COLOUR, CURSOR_COLOUR = "#00e5ff", "#ffd400", "#ff00ff"
WATERFALL_START, WATERFALL_END = "expected value", "probability"


def _palette(name: str) -> list[str]:
    return [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps[name](np.linspace(0, 1, 256))]


def _marks_palette(channel: int) -> list[str]:
    """256 colours: translucent grey for the bytes with bit ``channel % 8`` set, else transparent."""
    grey = matplotlib.colors.to_hex(INSIGNIFICANT_COLOUR, keep_alpha=False) + f"{round(255 * INSIGNIFICANT_ALPHA):02x}"
    return [grey if (v >> channel % 8) & 1 else "#00000000" for v in range(256)]


def _limit(codes: np.ndarray) -> int:
    return max(int(np.abs(codes.astype(np.int32)).max(initial=0)), 1)


def _sources(data: ExplorerData) -> tuple[ColumnDataSource, ColumnDataSource, ColumnDataSource]:
    channels, pairs = range(len(data.channels)), range(len(data.pairs))
    images = {column: data.table[column].tolist() for column in data.table.columns}
    images.update({f"input_{c}": list(data.inputs.codes[..., c]) for c in channels})
    images["probability"] = list(data.probability.codes)
    images["masks"] = list(data.masks)
    images["truth_outline"] = [mask_outline(m & TRUTH_BIT) for m in data.masks]
    images["predicted_outline"] = [mask_outline(m & PREDICTED_BIT) for m in data.masks]
    planes = range(-(-len(data.channels) // 8))
    definitions = {"name": [], "expected_value": [], "has_error": [], "t": [], "n_references": [], "note": [],
                   "rule": []}
    contributions = {"definition": [], "image": [], "expected_value": [], "phi_step": [], "limit": [],
                     **{f"phi_{c}": [] for c in channels}, "pair_step": [], "pair_limit": [],
                     **{f"pair_{p}": [] for p in pairs}, "se_step": [], **{f"se_{c}": [] for c in channels},
                     **{f"insignificant_{g}": [] for g in planes}}
    shared, own, none = np.zeros(0, np.uint16), np.zeros(0, np.int8), np.zeros(0, np.uint8)  # empty: "not stored here"
    for d, (name, explanation) in enumerate(data.explanations.items()):
        expected = explanation.expected_value.codes
        per_image = expected.ndim == 3
        errors = explanation.standard_error
        definitions["name"].append(name)
        definitions["expected_value"].append(shared if per_image else expected)
        definitions["has_error"].append(errors is not None)
        definitions["t"].append(explanation.t)
        definitions["n_references"].append(explanation.n_references)
        definitions["note"].append(explanation.note)
        definitions["rule"].append(explanation.rule)
        for k, phi in enumerate(explanation.contributions):
            interactions = data.interactions[k] if d == 0 and len(data.interactions) else None
            entry = {"definition": d, "image": k, "expected_value": expected[k] if per_image else shared,
                     "phi_step": phi.step, "limit": _limit(phi.codes),
                     "pair_step": interactions.step if interactions else 1.0,
                     "pair_limit": _limit(interactions.codes) if interactions else 1,
                     "se_step": errors[k].step if errors else 1.0}
            entry.update({f"phi_{c}": phi.codes[..., c] for c in channels})
            entry.update({f"pair_{p}": interactions.codes[..., p] if interactions else own for p in pairs})
            entry.update({f"se_{c}": errors[k].codes[..., c] if errors else none for c in channels})
            entry.update({f"insignificant_{g}": explanation.insignificant[k, ..., g] if errors else none for g in planes})
            for key, value in entry.items():
                contributions[key].append(value)
    images_source = ColumnDataSource(images, name="images")
    images_source.selected.indices = [len(data.table) // 2]  # listed by coverage: a middle one has salt
    return (images_source, ColumnDataSource(definitions, name="definitions"),
            ColumnDataSource(contributions, name="contributions"))


def _map_panel(title: str, name: str, mapper: LinearColorMapper, image, x_range=None, y_range=None):
    """A titled map of one image: frame of ``PIXEL_SIZE`` screen pixels per pixel at its top-left
    corner (no axes, no toolbar), row 0 at the top."""
    size = PIXEL_SIZE * IMAGE_SIZE
    fig = figure(
        frame_width=size, frame_height=size, x_range=x_range or Range1d(0, IMAGE_SIZE),
        y_range=y_range or Range1d(IMAGE_SIZE, 0), x_axis_location=None, y_axis_location=None,
        toolbar_location=None, min_border=0, name=name, css_classes=[f"explorer-{name}"],
        tools="", outline_line_color="#888888",
    )
    fig.grid.visible = False
    source = ColumnDataSource({"image": [image]}, name=f"{name}_view")
    fig.image(image="image", x=0, y=0, dw=IMAGE_SIZE, dh=IMAGE_SIZE, source=source, color_mapper=mapper)
    # A Div renders HTML: channel and pair names are configuration, shown as text.
    return fig, source, column(Div(text=f"<b>{html.escape(title)}</b>", name=f"{name}_title", height=18), fig)


def _colour_bar(mapper: LinearColorMapper, title: str):
    """A figure holding nothing but a vertical colour bar for ``mapper`` (in display units)."""
    fig = figure(width=75, frame_height=PIXEL_SIZE * IMAGE_SIZE, toolbar_location=None, min_border=0,
                 x_axis_location=None, y_axis_location=None, outline_line_color=None, tools="")
    fig.scatter([0], [0], alpha=0)  # a figure needs a renderer
    fig.grid.visible = False
    fig.add_layout(ColorBar(color_mapper=mapper, title=title, width=12, padding=2), "left")
    return column(Div(text="&nbsp;", height=18), fig)


def _waterfall(channels: tuple[str, ...]):
    factors = [WATERFALL_START, *channels, WATERFALL_END]
    source = ColumnDataSource(
        {"x": factors, "bottom": [0.0] * len(factors), "top": [0.0] * len(factors),
         "colour": ["#999999"] * len(factors), "label": [""] * len(factors), "label_y": [0.0] * len(factors)},
        name="waterfall",
    )
    fig = figure(x_range=FactorRange(*factors), y_range=Range1d(0, 1), width=440, height=300, toolbar_location=None,
                 tools="", title="Waterfall of the pixel", name="waterfall_figure")
    fig.vbar(x="x", bottom="bottom", top="top", width=0.7, color="colour", source=source)
    fig.add_layout(LabelSet(x="x", y="label_y", text="label", source=source, text_align="center",
                            text_font_size="10px", y_offset=2))
    errors = ColumnDataSource({"x": [], "lower": [], "upper": []}, name="waterfall_error")
    fig.add_layout(Whisker(source=errors, base="x", lower="lower", upper="upper", line_color="black",
                           line_width=1.5, name="waterfall_whiskers"))
    fig.yaxis.axis_label = "salt probability"
    fig.xaxis.major_label_orientation = 0.6
    return fig, source, errors


def pair_panel(pair: str) -> str:
    """The panel name of channel pair ``"a:b"``."""
    return "interaction-" + pair.replace(":", "-")


def _map_panels(data: ExplorerData, first: int, cursor, outlines: dict, mappers: dict):
    """Every map panel, by name (``input-<c>``, ``probability``, ``expected-value``, ``phi-<c>``,
    ``interaction-<a>-<b>``): its titled layout, the source it shows (re-pointed by the page's
    script; ``phi-<c>_marks`` for the grey over a φ panel), its figure, and the grey's renderer
    of each φ panel."""
    explanation = next(iter(data.explanations.values()))
    expected = explanation.expected_value.codes
    maps = [
        *((f"input-{ch}", ch, "grey", data.inputs.codes[first, ..., c], True) for c, ch in enumerate(data.channels)),
        ("probability", "probability", "unit", data.probability.codes[first], True),
        ("expected-value", "expected value", "unit", expected[first] if expected.ndim == 3 else expected, False),
        *((f"phi-{ch}", f"φ {ch}", "phi", explanation.contributions[first].codes[..., c], False)
          for c, ch in enumerate(data.channels)),
        *((pair_panel(pair), f"I {pair.replace(':', ' × ')}", "pair", data.interactions[first].codes[..., p], False)
          for p, pair in enumerate(data.pairs)),
    ]
    x_range, y_range = Range1d(0, IMAGE_SIZE), Range1d(IMAGE_SIZE, 0)  # shared: the panels pan and zoom together
    panels, views, figures, marks = {}, {}, [], {}
    for name, title, mapper, image, outlined in maps:
        fig, views[name], panels[name] = _map_panel(title, name, mappers[mapper], image, x_range, y_range)
        if name.startswith("phi-"):  # the insignificant φ greyed, re-pointed by the page's script
            c = data.channels.index(name[len("phi-"):])
            views[f"{name}_marks"] = ColumnDataSource({"image": [np.zeros((1, 1), np.uint8)]}, name=f"{name}_marks")
            marks[name] = fig.image(image="image", x=0, y=0, dw=IMAGE_SIZE, dh=IMAGE_SIZE, source=views[f"{name}_marks"],
                                    color_mapper=LinearColorMapper(palette=_marks_palette(c), low=-0.5, high=255.5),
                                    name=f"{name}_marks_renderer")
        if outlined:
            for kind, colour in (("truth", TRUTH_COLOUR), ("predicted", PREDICTED_COLOUR)):
                fig.segment("x0", "y0", "x1", "y1", source=outlines[kind], line_color=colour, line_width=1.5)
        fig.rect("x", "y", 1, 1, source=cursor, fill_alpha=0, line_color=CURSOR_COLOUR, line_width=1.5)
        figures.append(fig)
    return panels, views, figures, marks


def _image_table(images: ColumnDataSource) -> DataTable:
    percent, two = NumberFormatter(format="0.0%"), NumberFormatter(format="0.00")
    columns = [  # field, title, formatter, width
        ("id", "image", None, 90), ("coverage", "coverage", percent, 70), ("coverage_class", "class", None, 45),
        ("predicted_coverage", "run: predicted", percent, 95), ("score", "run: score", two, 75),
        ("explained_coverage", "explained: predicted", percent, 130), ("explained_score", "explained: score", two, 110),
        ("depth", "depth (ft)", NumberFormatter(format="0"), 70),
    ]
    return DataTable(
        source=images, name="image_table", width=700, height=300, index_position=None, selectable=True,
        reorderable=False, autosize_mode="none",
        columns=[TableColumn(field=f, title=t, width=w, **({"formatter": fmt} if fmt else {})) for f, t, fmt, w in columns],
    )


def _legend(title: str) -> Div:
    return Div(text=(
        f"<h2 style='margin:0'>{html.escape(title)}</h2>Pick an image in the table; point at a pixel of any map to "
        "see its waterfall (click pins it). Outlines: "
        f"<span style='color:{TRUTH_COLOUR};background:#333'>&nbsp;true salt&nbsp;</span> "
        f"<span style='color:{PREDICTED_COLOUR};background:#333'>&nbsp;predicted salt&nbsp;</span>. "
        "φ: red pushes towards salt, blue away from it; one scale for all channels of the image; "
        "greyed: not distinguishable from 0 at 95 % (|φ| ≤ t × SE), where the definition has a sampling error "
        "(the waterfall's whiskers: φ ± t × SE). "
        "The buttons switch between what replaced an absent channel and the pair interactions "
        "(I: red synergy, blue redundancy; not part of the sum)."
    ), width=1200, name="legend")


def _switch(data: ExplorerData) -> RadioButtonGroup:
    """One button per absence definition, then (when computed) the primary's pair interactions."""
    names = list(data.explanations)
    labels = names + ([f"pair interactions ({names[0]})"] if data.pairs else [])
    return RadioButtonGroup(labels=labels, active=0, name="view_switch", css_classes=["explorer-view"])


def _colour_mappers(contributions: ColumnDataSource, first: int) -> tuple[dict, dict]:
    """The map panels' colour mappers, in the codes the page stores (grey 0-255, probability 0-65535,
    φ and pair interactions ± the first image's limit), and the colour bars' mappers over the same
    palettes in values."""
    limit, step = contributions.data["limit"][first], contributions.data["phi_step"][first]
    pair_limit, pair_step = contributions.data["pair_limit"][first], contributions.data["pair_step"][first]
    mappers = {
        "grey": LinearColorMapper(palette=_palette(IMAGE_CMAP), low=0, high=255),
        "unit": LinearColorMapper(palette=_palette(PROBABILITY_CMAP), low=0, high=np.iinfo(np.uint16).max),
        "phi": LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-limit, high=limit),
        "pair": LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-pair_limit, high=pair_limit),
    }
    bars = {
        "unit": LinearColorMapper(palette=_palette(PROBABILITY_CMAP), low=0, high=1),
        "phi": LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-limit * step, high=limit * step),
        "pair": LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-pair_limit * pair_step,
                                  high=pair_limit * pair_step),
    }
    return mappers, bars


def explorer_document(data: ExplorerData, title: str) -> Document:
    """The explorer's Bokeh document: image table, waterfall and numbers above the map panels."""
    images, definitions, contributions = _sources(data)
    first = images.selected.indices[0]  # shown until the page's script takes over
    mappers, bars = _colour_mappers(contributions, first)
    unit_bar, phi_bar, pair_bar = bars["unit"], bars["phi"], bars["pair"]
    centre = IMAGE_SIZE // 2
    cursor = ColumnDataSource({"x": [centre + 0.5], "y": [centre + 0.5], "i": [centre], "j": [centre], "pinned": [False]},
                              name="cursor")
    outlines = {kind: ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []}, name=f"{kind}_outline")
                for kind in ("truth", "predicted")}
    panels, views, figures, marks = _map_panels(data, first, cursor, outlines, mappers)
    waterfall_figure, waterfall, waterfall_error = _waterfall(data.channels)
    numbers, heading = Div(text="", width=420, name="numbers"), Div(text="", width=900, name="heading")
    view_switch = _switch(data)
    phi_row = row(*[panels[f"phi-{c}"] for c in data.channels], _colour_bar(phi_bar, "φ"), name="phi_row")
    pair_row = row(*[panels[pair_panel(p)] for p in data.pairs], _colour_bar(pair_bar, "I"), name="pair_row",
                   visible=False)

    meta = {
        "size": IMAGE_SIZE, "channels": list(data.channels), "probability_step": data.probability.step,
        "input_offset": [float(v) for v in data.inputs.offset], "input_step": [float(v) for v in data.inputs.step],
        "truth_bit": TRUTH_BIT, "predicted_bit": PREDICTED_BIT, "start": WATERFALL_START, "end": WATERFALL_END,
        "pairs": list(data.pairs),
    }
    shared = {"images": images, "definitions": definitions, "contributions": contributions, "cursor": cursor,
              "meta": meta, "waterfall": waterfall, "waterfall_error": waterfall_error,
              "waterfall_figure": waterfall_figure, "numbers": numbers, "view_switch": view_switch}
    show_image = CustomJS(
        args=dict(**shared, input_views=[views[f"input-{c}"] for c in data.channels],
                  phi_views=[views[f"phi-{c}"] for c in data.channels], probability_view=views["probability"],
                  marks_views=[views[f"phi-{c}_marks"] for c in data.channels],
                  marks_renderers=[marks[f"phi-{c}"] for c in data.channels],
                  pair_views=[views[pair_panel(p)] for p in data.pairs], expected_view=views["expected-value"],
                  phi_mapper=mappers["phi"], phi_bar_mapper=phi_bar, pair_mapper=mappers["pair"],
                  pair_bar_mapper=pair_bar, phi_row=phi_row, pair_row=pair_row,
                  truth_outline=outlines["truth"], predicted_outline=outlines["predicted"], heading=heading),
        code=explorer_js.PRELUDE + explorer_js.SHOW_IMAGE,
    )
    images.selected.js_on_change("indices", show_image)
    view_switch.js_on_change("active", show_image)
    point = CustomJS(args=shared, code=explorer_js.PRELUDE + explorer_js.POINT)
    for fig in figures:
        fig.js_on_event(MouseMove, point)
        fig.js_on_event(Tap, point)

    maps = column(
        row(view_switch, heading),
        row(*[panels[f"input-{c}"] for c in data.channels], panels["probability"], panels["expected-value"],
            _colour_bar(unit_bar, "probability")),
        phi_row, pair_row,
        name="maps",
    )
    document = Document(title=title)
    document.add_root(column(_legend(title), row(_image_table(images), waterfall_figure, numbers), maps, name="explorer"))
    document.js_on_event(DocumentReady, show_image)  # fills the heading, outlines and numbers on opening
    return document


def explorer_html(data: ExplorerData, title: str = "explainable-salt explorer") -> str:
    """The explorer as one HTML document with BokehJS inlined: opens offline, from a file."""
    return file_html(explorer_document(data, title), resources=INLINE, title=title)
