"""The interactive explorer: one self-contained Bokeh HTML file (JavaScript inlined, no server).

A table lists the chosen images; for the selected one, panels show each input channel and the
probability with the true and predicted outlines, the expected value, and each channel's
contribution φ on one symmetric diverging scale. Pointing at a pixel of any panel shows its
waterfall, expected value → + each φ → probability, with the numbers; a click pins the pixel.

The data travels in :class:`~bokeh.models.ColumnDataSource`\\ s, one quantised array per map
(see :mod:`explorer_data`); switching image only re-points the panels at other arrays, and the
pixel callback reads a handful of codes. Layout of the sources:

- ``images``: one row per image, the table's columns, ``input_<c>``, ``probability``, ``masks``,
  ``truth_outline``, ``predicted_outline``;
- ``definitions``: one row per absence definition, ``name``, ``expected_value``, ``phi_step``;
- ``contributions``: one row per (definition, image), ``definition``, ``image``, ``phi_<c>``,
  ``limit``; pair interactions would be more columns of it.

The selected row of ``definitions`` is the definition shown (the first, until a switch is added).
"""

from __future__ import annotations

import matplotlib
import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.events import DocumentReady, MouseMove, Tap
from bokeh.layouts import column, row
from bokeh.models import (
    ColorBar, ColumnDataSource, CustomJS, DataTable, Div, FactorRange, LabelSet, LinearColorMapper,
    NumberFormatter, Range1d, TableColumn,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

from explainable_salt.figures.explorer_data import PREDICTED_BIT, TRUTH_BIT, ExplorerData, mask_outline
from explainable_salt.figures.plotting import CONTRIBUTION_CMAP, IMAGE_CMAP
from explainable_salt.stacks import IMAGE_SIZE

PIXEL_SIZE = 2  # screen pixels per image pixel in every map panel
PROBABILITY_CMAP = "viridis"  # as the static figures' probability and expected value
TRUTH_COLOUR, PREDICTED_COLOUR = "#00e5ff", "#ffd400"
WATERFALL_START, WATERFALL_END = "expected value", "probability"


def _palette(name: str) -> list[str]:
    return [matplotlib.colors.to_hex(c) for c in matplotlib.colormaps[name](np.linspace(0, 1, 256))]


def _sources(data: ExplorerData) -> tuple[ColumnDataSource, ColumnDataSource, ColumnDataSource]:
    channels = range(len(data.channels))
    images = {column: data.table[column].tolist() for column in data.table.columns}
    images.update({f"input_{c}": list(data.inputs.codes[..., c]) for c in channels})
    images["probability"] = list(data.probability.codes)
    images["masks"] = list(data.masks)
    images["truth_outline"] = [mask_outline(m & TRUTH_BIT) for m in data.masks]
    images["predicted_outline"] = [mask_outline(m & PREDICTED_BIT) for m in data.masks]
    definitions = {"name": [], "expected_value": [], "phi_step": []}
    contributions = {"definition": [], "image": [], "limit": [], **{f"phi_{c}": [] for c in channels}}
    for d, (name, explanation) in enumerate(data.explanations.items()):
        definitions["name"].append(name)
        definitions["expected_value"].append(explanation.expected_value.codes)
        definitions["phi_step"].append(explanation.contributions.step)
        for k, phi in enumerate(explanation.contributions.codes):
            contributions["definition"].append(d)
            contributions["image"].append(k)
            contributions["limit"].append(max(int(np.abs(phi).max(initial=0)), 1))
            for c in channels:
                contributions[f"phi_{c}"].append(phi[..., c])
    images_source = ColumnDataSource(images, name="images")
    images_source.selected.indices = [len(data.table) // 2]  # listed by coverage: a middle one has salt
    definitions_source = ColumnDataSource(definitions, name="definitions")
    definitions_source.selected.indices = [0]
    return images_source, definitions_source, ColumnDataSource(contributions, name="contributions")


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
    return fig, source, column(Div(text=f"<b>{title}</b>", name=f"{name}_title", height=18), fig)


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
    fig.yaxis.axis_label = "salt probability"
    fig.xaxis.major_label_orientation = 0.6
    return fig, source


_PRELUDE = """
const N = meta.size;
function current_image() { return images.selected.indices.length ? images.selected.indices[0] : 0; }
function current_definition() { return definitions.selected.indices.length ? definitions.selected.indices[0] : 0; }
function contribution_row(k, d) {
  const rows = contributions.data;
  for (let r = 0; r < rows.image.length; r++) { if (rows.image[r] === k && rows.definition[r] === d) return r; }
  return -1;
}
function fmt(v) { return (v >= 0 ? "+" : "\\u2212") + Math.abs(v).toFixed(4); }
function plain(v) { return (Math.round(v * 1e4) / 1e4 || 0).toFixed(4); }  // no "-0.0000"
function cell(quantity, channel, v, text) {
  return `<td data-quantity="${quantity}" data-channel="${channel}" data-value="${v}">${text}</td>`;
}
function render_pixel(i, j) {
  const k = current_image(), d = current_definition(), r = contribution_row(k, d);
  const n = i * N + j;
  const ev = definitions.data.expected_value[d][n] * meta.probability_step;
  const step = definitions.data.phi_step[d];
  const phi = meta.channels.map((_, c) => contributions.data["phi_" + c][r][n] * step);
  const p = images.data.probability[k][n] * meta.probability_step;
  const mask = images.data.masks[k][n];
  const x = [], bottom = [], top = [], colour = [], label = [], label_y = [];
  function bar(name, b, t, c, text) {
    x.push(name); bottom.push(b); top.push(t); colour.push(c); label.push(text); label_y.push(Math.max(b, t));
  }
  bar(meta.start, 0, ev, "#7f7f7f", ev.toFixed(3));
  let running = ev;
  meta.channels.forEach((name, c) => {
    bar(name, running, running + phi[c], phi[c] >= 0 ? "#b2182b" : "#2166ac", fmt(phi[c]).slice(0, -1));
    running += phi[c];
  });
  bar(meta.end, 0, p, "#3b528b", p.toFixed(3));
  waterfall.data = {x, bottom, top, colour, label, label_y};
  const low = Math.min(0, ...bottom, ...top), high = Math.max(1, ...bottom, ...top);
  waterfall_figure.y_range.start = low - 0.05;
  waterfall_figure.y_range.end = high + 0.1;
  let rows = `<tr><th>${meta.start}</th><td></td>${cell("expected_value", "", ev, plain(ev))}</tr>`;
  meta.channels.forEach((name, c) => {
    const value = meta.input_offset[c] + images.data["input_" + c][k][n] * meta.input_step[c];
    rows += `<tr><th>+ \\u03c6 ${name}</th><td class="input">${value.toFixed(2)}</td>${cell("phi", name, phi[c], fmt(phi[c]))}</tr>`;
  });
  rows += `<tr><th>= ${meta.start} + \\u03a3\\u03c6</th><td></td>${cell("sum", "", running, plain(running))}</tr>`;
  rows += `<tr><th>${meta.end}</th><td></td>${cell("probability", "", p, plain(p))}</tr>`;
  const truth = mask & meta.truth_bit ? "salt" : "no salt", predicted = mask & meta.predicted_bit ? "salt" : "no salt";
  const pinned = cursor.data.pinned[0] ? " (pinned: click again to release)" : "";
  numbers.text = `<div class="explorer-numbers" data-image="${images.data.id[k]}" data-row="${i}" data-col="${j}">` +
    `<b>${images.data.id[k]}</b>, pixel row ${i}, column ${j}${pinned}<br>truth: ${truth}, predicted: ${predicted}` +
    `<table style="font-family:monospace;border-spacing:10px 1px"><tr><th></th><th>input</th><th>value</th></tr>${rows}</table>` +
    `<small>inputs within ${meta.input_step.map(s => s.toFixed(3)).join(" / ")}, \\u03c6 within ${(step / 2).toExponential(1)} ` +
    `and probabilities within ${(meta.probability_step / 2).toExponential(1)} of the run's values</small></div>`;
}
"""

_SHOW_IMAGE = """
const k = current_image(), d = current_definition(), r = contribution_row(k, d);
input_views.forEach((view, c) => { view.data = {image: [images.data["input_" + c][k]]}; });
phi_views.forEach((view, c) => { view.data = {image: [contributions.data["phi_" + c][r]]}; });
probability_view.data = {image: [images.data.probability[k]]};
expected_view.data = {image: [definitions.data.expected_value[d]]};
const limit = contributions.data.limit[r];
phi_mapper.low = -limit; phi_mapper.high = limit;
phi_bar_mapper.low = -limit * definitions.data.phi_step[d]; phi_bar_mapper.high = limit * definitions.data.phi_step[d];
function segments(flat) {
  const x0 = [], y0 = [], x1 = [], y1 = [];
  for (let e = 0; e < flat.length; e += 4) { x0.push(flat[e]); y0.push(flat[e + 1]); x1.push(flat[e + 2]); y1.push(flat[e + 3]); }
  return {x0, y0, x1, y1};
}
truth_outline.data = segments(images.data.truth_outline[k]);
predicted_outline.data = segments(images.data.predicted_outline[k]);
heading.text = `<b>${images.data.id[k]}</b>: coverage ${(100 * images.data.coverage[k]).toFixed(1)} %; ` +
  `run's prediction ${(100 * images.data.predicted_coverage[k]).toFixed(1)} % (score ${images.data.score[k].toFixed(2)}); ` +
  `explained prediction ${(100 * images.data.explained_coverage[k]).toFixed(1)} % (score ${images.data.explained_score[k].toFixed(2)}); ` +
  `absence definition: ${definitions.data.name[d]}`;
render_pixel(cursor.data.i[0], cursor.data.j[0]);
"""

_POINT = """
const j = Math.floor(cb_obj.x), i = Math.floor(cb_obj.y);
if (!(i >= 0 && i < N && j >= 0 && j < N)) return;
let pinned = cursor.data.pinned[0];
if (cb_obj.event_name === "tap") {
  pinned = !(pinned && cursor.data.i[0] === i && cursor.data.j[0] === j);
} else if (pinned) {
  return;
}
cursor.data = {x: [j + 0.5], y: [i + 0.5], i: [i], j: [j], pinned: [pinned]};
render_pixel(i, j);
"""


def explorer_document(data: ExplorerData, title: str) -> Document:
    """The explorer's Bokeh document: image table, waterfall and numbers above the map panels."""
    images, definitions, contributions = _sources(data)
    explanation = next(iter(data.explanations.values()))
    grey = LinearColorMapper(palette=_palette(IMAGE_CMAP), low=0, high=255)
    unit = LinearColorMapper(palette=_palette(PROBABILITY_CMAP), low=0, high=np.iinfo(np.uint16).max)
    unit_bar = LinearColorMapper(palette=_palette(PROBABILITY_CMAP), low=0, high=1)
    first = images.selected.indices[0]  # shown until the page's script takes over
    limit = contributions.data["limit"][first]
    phi_mapper = LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-limit, high=limit)
    phi_bar_mapper = LinearColorMapper(palette=_palette(CONTRIBUTION_CMAP), low=-limit * explanation.contributions.step,
                                       high=limit * explanation.contributions.step)
    centre = IMAGE_SIZE // 2
    cursor = ColumnDataSource({"x": [centre + 0.5], "y": [centre + 0.5], "i": [centre], "j": [centre], "pinned": [False]},
                              name="cursor")
    outlines = {kind: ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []}, name=f"{kind}_outline")
                for kind in ("truth", "predicted")}

    x_range, y_range = Range1d(0, IMAGE_SIZE), Range1d(IMAGE_SIZE, 0)  # shared: the panels pan and zoom together
    panels, figures, input_views, phi_views = {}, [], [], []

    def add(title_, name, mapper, image, outlined=False):
        fig, view, panel = _map_panel(title_, name, mapper, image, x_range, y_range)
        if outlined:
            for kind, colour in (("truth", TRUTH_COLOUR), ("predicted", PREDICTED_COLOUR)):
                fig.segment("x0", "y0", "x1", "y1", source=outlines[kind], line_color=colour, line_width=1.5)
        fig.rect("x", "y", 1, 1, source=cursor, fill_alpha=0, line_color="#ff00ff", line_width=1.5)
        figures.append(fig)
        panels[name] = panel
        return view

    for c, channel in enumerate(data.channels):
        input_views.append(add(channel, f"input-{channel}", grey, data.inputs.codes[first, ..., c], outlined=True))
    probability_view = add("probability", "probability", unit, data.probability.codes[first], outlined=True)
    expected_view = add("expected value", "expected-value", unit, explanation.expected_value.codes)
    for c, channel in enumerate(data.channels):
        phi_views.append(add(f"φ {channel}", f"phi-{channel}", phi_mapper, explanation.contributions.codes[first, ..., c]))

    waterfall_figure, waterfall = _waterfall(data.channels)
    numbers = Div(text="", width=420, name="numbers")
    heading = Div(text="", width=900, name="heading")
    meta = {
        "size": IMAGE_SIZE, "channels": list(data.channels), "probability_step": data.probability.step,
        "input_offset": [float(v) for v in data.inputs.offset], "input_step": [float(v) for v in data.inputs.step],
        "truth_bit": TRUTH_BIT, "predicted_bit": PREDICTED_BIT, "start": WATERFALL_START, "end": WATERFALL_END,
    }
    shared = dict(images=images, definitions=definitions, contributions=contributions, cursor=cursor, meta=meta,
                  waterfall=waterfall, waterfall_figure=waterfall_figure, numbers=numbers)
    show_image = CustomJS(
        args=dict(**shared, input_views=input_views, phi_views=phi_views, probability_view=probability_view,
                  expected_view=expected_view, phi_mapper=phi_mapper, phi_bar_mapper=phi_bar_mapper,
                  truth_outline=outlines["truth"], predicted_outline=outlines["predicted"], heading=heading),
        code=_PRELUDE + _SHOW_IMAGE,
    )
    images.selected.js_on_change("indices", show_image)
    definitions.selected.js_on_change("indices", show_image)
    point = CustomJS(args=shared, code=_PRELUDE + _POINT)
    for fig in figures:
        fig.js_on_event(MouseMove, point)
        fig.js_on_event(Tap, point)

    table = DataTable(
        source=images, name="image_table", width=700, height=300, index_position=None, selectable=True,
        reorderable=False,
        columns=[
            TableColumn(field="id", title="image"),
            TableColumn(field="coverage", title="coverage", formatter=NumberFormatter(format="0.0%")),
            TableColumn(field="coverage_class", title="class"),
            TableColumn(field="predicted_coverage", title="predicted coverage", formatter=NumberFormatter(format="0.0%")),
            TableColumn(field="score", title="score", formatter=NumberFormatter(format="0.00")),
            TableColumn(field="explained_coverage", title="explained pred.", formatter=NumberFormatter(format="0.0%")),
            TableColumn(field="explained_score", title="expl. score", formatter=NumberFormatter(format="0.00")),
            TableColumn(field="depth", title="depth (ft)", formatter=NumberFormatter(format="0")),
        ],
    )
    legend = Div(text=(
        f"<h2 style='margin:0'>{title}</h2>Pick an image in the table; point at a pixel of any map to see its "
        "waterfall (click pins it). Outlines: "
        f"<span style='color:{TRUTH_COLOUR};background:#333'>&nbsp;true salt&nbsp;</span> "
        f"<span style='color:{PREDICTED_COLOUR};background:#333'>&nbsp;predicted salt&nbsp;</span>. "
        "φ: red pushes towards salt, blue away from it; one scale for all channels of the image."
    ), width=1200, name="legend")
    maps = column(
        heading,
        row(*[panels[f"input-{c}"] for c in data.channels], panels["probability"]),
        row(panels["expected-value"], _colour_bar(unit_bar, "probability"),
            *[panels[f"phi-{c}"] for c in data.channels], _colour_bar(phi_bar_mapper, "φ")),
        name="maps",
    )
    document = Document(title=title)
    document.add_root(column(legend, row(table, waterfall_figure, numbers), maps, name="explorer"))
    document.js_on_event(DocumentReady, show_image)  # fills the heading, outlines and numbers on opening
    return document


def explorer_html(data: ExplorerData, title: str = "explainable-salt explorer") -> str:
    """The explorer as one HTML document with BokehJS inlined: opens offline, from a file."""
    return file_html(explorer_document(data, title), resources=INLINE, title=title)
