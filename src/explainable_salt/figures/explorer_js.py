"""The explorer's JavaScript: the bodies of its Bokeh ``CustomJS`` callbacks.

``PRELUDE`` (shared helpers, and ``render_pixel``: the waterfall and the numbers of one pixel) is
prepended to each callback. ``SHOW_IMAGE`` runs when an image is selected, when the switch
(``view_switch``: an absence definition, or the primary's pair interactions) changes and when the
page is ready; ``POINT`` runs when the pointer moves over a map or clicks it
(``cb_obj``: the Bokeh event, ``x``/``y`` in pixel units). The names they use are the callbacks'
``args`` in :func:`explainable_salt.figures.explorer.explorer_document`; ``meta`` holds the
quantisation steps and the channel names.

The Divs render their text as HTML, so every name written into it (image ids, channel, pair and
definition names) goes through ``esc``: an id is untrusted data from the raw files' names, and
``<img onerror=…>`` in one would otherwise run when its image is picked.
"""

PRELUDE = """
const N = meta.size;
function esc(text) {
  const entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
  return String(text).replace(/[&<>"']/g, c => entities[c]);
}
function current_image() { return images.selected.indices.length ? images.selected.indices[0] : 0; }
function showing_pairs() { return view_switch.active >= definitions.data.name.length; }
function current_definition() { return showing_pairs() ? 0 : view_switch.active; }
function expected_codes(d, r) {  // per image where the definition has one per image (blur)
  const own = contributions.data.expected_value[r];
  return own.length ? own : definitions.data.expected_value[d];
}
function contribution_row(k, d) {
  const rows = contributions.data;
  for (let r = 0; r < rows.image.length; r++) { if (rows.image[r] === k && rows.definition[r] === d) return r; }
  return -1;
}
function fmt(v) { return (v >= 0 ? "+" : "\\u2212") + Math.abs(v).toFixed(4); }
function plain(v) { return (Math.round(v * 1e4) / 1e4 || 0).toFixed(4); }  // no "-0.0000"
function cell(quantity, channel, v, text) {
  return `<td data-quantity="${quantity}" data-channel="${esc(channel)}" data-value="${v}">${text}</td>`;
}
function render_pixel(i, j) {
  const k = current_image(), d = current_definition(), r = contribution_row(k, d);
  const n = i * N + j;
  const ev = expected_codes(d, r)[n] * meta.probability_step;
  const step = contributions.data.phi_step[r];
  const phi = meta.channels.map((_, c) => contributions.data["phi_" + c][r][n] * step);
  const p = images.data.probability[k][n] * meta.probability_step;
  const mask = images.data.masks[k][n];
  const has_error = definitions.data.has_error[d], t = definitions.data.t[d];
  const se_step = contributions.data.se_step[r];  // the 95 % interval's half width, t × SE, per channel
  const half = meta.channels.map((_, c) => has_error ? t * contributions.data["se_" + c][r][n] * se_step : 0);
  const error_x = [], lower = [], upper = [];
  const x = [], bottom = [], top = [], colour = [], label = [], label_y = [];
  function bar(name, b, t, c, text) {
    x.push(name); bottom.push(b); top.push(t); colour.push(c); label.push(text); label_y.push(Math.max(b, t));
  }
  bar(meta.start, 0, ev, "#7f7f7f", ev.toFixed(3));
  let running = ev;
  meta.channels.forEach((name, c) => {
    bar(name, running, running + phi[c], phi[c] >= 0 ? "#b2182b" : "#2166ac", fmt(phi[c]).slice(0, -1));
    running += phi[c];
    if (has_error) { error_x.push(name); lower.push(running - half[c]); upper.push(running + half[c]); }
  });
  bar(meta.end, 0, p, "#3b528b", p.toFixed(3));
  waterfall.data = {x, bottom, top, colour, label, label_y};
  waterfall_error.data = {x: error_x, lower, upper};
  const low = Math.min(0, ...bottom, ...top, ...lower), high = Math.max(1, ...bottom, ...top, ...upper);
  waterfall_figure.y_range.start = low - 0.05;
  waterfall_figure.y_range.end = high + 0.1;
  let rows = `<tr><th>${meta.start}</th><td></td>${cell("expected_value", "", ev, plain(ev))}</tr>`;
  meta.channels.forEach((name, c) => {
    const value = meta.input_offset[c] + images.data["input_" + c][k][n] * meta.input_step[c];
    const interval = has_error ? cell("interval", name, half[c], `\\u00b1 ${half[c].toFixed(4)}`) : "";
    rows += `<tr><th>+ \\u03c6 ${esc(name)}</th><td class="input">${value.toFixed(2)}</td>${cell("phi", name, phi[c], fmt(phi[c]))}${interval}</tr>`;
  });
  rows += `<tr><th>= ${meta.start} + \\u03a3\\u03c6</th><td></td>${cell("sum", "", running, plain(running))}</tr>`;
  rows += `<tr><th>${meta.end}</th><td></td>${cell("probability", "", p, plain(p))}</tr>`;
  if (showing_pairs()) {
    rows += `<tr><th colspan="3">pair interactions I (not part of the sum)</th></tr>`;
    meta.pairs.forEach((pair, q) => {
      const v = contributions.data["pair_" + q][r][n] * contributions.data.pair_step[r];
      rows += `<tr><th>I ${esc(pair)}</th><td></td>${cell("interaction", pair, v, fmt(v))}</tr>`;
    });
  }
  const truth = mask & meta.truth_bit ? "salt" : "no salt", predicted = mask & meta.predicted_bit ? "salt" : "no salt";
  const pinned = cursor.data.pinned[0] ? " (pinned: click again to release)" : "";
  const id = esc(images.data.id[k]);
  numbers.text = `<div class="explorer-numbers" data-image="${id}" data-row="${i}" data-col="${j}">` +
    `<b>${id}</b>, pixel row ${i}, column ${j}${pinned}<br>truth: ${truth}, predicted: ${predicted}, ` +
    `absent channels: ${esc(definitions.data.name[d])}` +
    `<table style="font-family:monospace;border-spacing:10px 1px"><tr><th></th><th>input</th><th>value</th>` +
    `${has_error ? "<th>95 % interval</th>" : ""}</tr>${rows}</table>` +
    `<div class="explorer-error" data-has-error="${has_error}">` + (has_error
      ? `\\u00b1 t \\u00d7 SE: ${esc(definitions.data.note[d])}; greyed on the \\u03c6 maps: ${esc(definitions.data.rule[d])}`
      : `\\u03c6 ${esc(definitions.data.note[d])}`) + `</div>` +
    `<small>inputs within ${meta.input_step.map(s => s.toFixed(3)).join(" / ")}, \\u03c6 within ${(step / 2).toExponential(1)}` +
    (has_error ? `, SE within ${(se_step / 2).toExponential(1)}` : "") +
    ` and probabilities within ${(meta.probability_step / 2).toExponential(1)} of the run's values</small></div>`;
}
"""

SHOW_IMAGE = """
const k = current_image(), d = current_definition(), r = contribution_row(k, d), pairs = showing_pairs();
input_views.forEach((view, c) => { view.data = {image: [images.data["input_" + c][k]]}; });
phi_views.forEach((view, c) => { view.data = {image: [contributions.data["phi_" + c][r]]}; });
const marked = definitions.data.has_error[d];  // bit c % 8 of byte c // 8: the palette greys that channel's bit
marks_views.forEach((view, c) => {
  if (marked) { view.data = {image: [contributions.data["insignificant_" + Math.floor(c / 8)][r]]}; }
  marks_renderers[c].visible = marked;
});
if (pairs) {  // only the primary's rows hold interactions
  pair_views.forEach((view, q) => { view.data = {image: [contributions.data["pair_" + q][r]]}; });
}
probability_view.data = {image: [images.data.probability[k]]};
expected_view.data = {image: [expected_codes(d, r)]};
const limit = contributions.data.limit[r], step = contributions.data.phi_step[r];
phi_mapper.low = -limit; phi_mapper.high = limit;
phi_bar_mapper.low = -limit * step; phi_bar_mapper.high = limit * step;
const pair_limit = contributions.data.pair_limit[r], pair_step = contributions.data.pair_step[r];
pair_mapper.low = -pair_limit; pair_mapper.high = pair_limit;
pair_bar_mapper.low = -pair_limit * pair_step; pair_bar_mapper.high = pair_limit * pair_step;
phi_row.visible = !pairs; pair_row.visible = pairs;
function segments(flat) {
  const x0 = [], y0 = [], x1 = [], y1 = [];
  for (let e = 0; e < flat.length; e += 4) { x0.push(flat[e]); y0.push(flat[e + 1]); x1.push(flat[e + 2]); y1.push(flat[e + 3]); }
  return {x0, y0, x1, y1};
}
truth_outline.data = segments(images.data.truth_outline[k]);
predicted_outline.data = segments(images.data.predicted_outline[k]);
heading.text = `<b>${esc(images.data.id[k])}</b>: coverage ${(100 * images.data.coverage[k]).toFixed(1)} %; ` +
  `run's prediction ${(100 * images.data.predicted_coverage[k]).toFixed(1)} % (score ${images.data.score[k].toFixed(2)}); ` +
  `explained prediction ${(100 * images.data.explained_coverage[k]).toFixed(1)} % (score ${images.data.explained_score[k].toFixed(2)}); ` +
  (pairs ? `pair interactions (Shapley interaction index) under ${esc(definitions.data.name[d])}`
         : `absence definition: ${esc(definitions.data.name[d])} (${marked ? "greyed \\u03c6: not distinguishable from 0"
                                                                         : esc(definitions.data.note[d])})`);
render_pixel(cursor.data.i[0], cursor.data.j[0]);
"""

POINT = """
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
