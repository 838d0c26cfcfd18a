"""Nodes of the inference pipeline for seismic files (``--params "inference.sections=FILE"`` with a
SEG-Y file, a zarr store or a NetCDF file): a line or volume → 8-bit sections the model reads →
the same prediction and explanation nodes as for PNG sections → outputs on the input's grid (a
zarr store, SEG-Y files with the input's headers, PNG quicklooks)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from explainable_salt.compute.execution import StreamedMapping
from explainable_salt.pipelines.inference.nodes import Sections, predicted_chunks
from explainable_salt.segmentation.inference import section_masks
from explainable_salt.seismic.amplitude import (
    amplitude_quantiles,
    grey_map,
    grey_quantiles,
    sampled_amplitudes,
    to_grey,
)
from explainable_salt.seismic.attributes import ATTRIBUTES
from explainable_salt.seismic.sections import PreparedSections, cut_dims, restored, section_id, section_shapes
from explainable_salt.seismic.segy import VOLUME_DIMS, arrange, in_file_order, require_live_samples
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs.validation import RawDataError

logger = logging.getLogger(__name__)
SAMPLE_NAMES = ("sample", "time", "twt", "depth", "z")  # what a zarr / NetCDF volume may call its sample axis


def line_name(amplitude: xr.DataArray) -> str:
    """The id of a 2-D line's one section: its file's name without suffix."""
    return Path(amplitude.attrs.get("source", "line")).stem


def arrange_segy(seismic_segy_raw: xr.Dataset, params: dict) -> xr.DataArray:
    """The SEG-Y file's amplitudes as a 2-D line ``(trace, sample)`` or a 3-D volume ``(iline,
    xline, sample)``, by the inline / crossline header bytes ``params`` names."""
    return arrange(seismic_segy_raw, params["iline_byte"], params["xline_byte"])


def arrange_xarray(seismic_xarray_raw: xr.Dataset, params: dict) -> xr.DataArray:
    """A zarr or NetCDF volume's amplitudes (its data variable ``params["variable"]``, or its only
    one) as ``(iline, xline, sample)`` or ``(trace, sample)``, still lazy; its sample axis may be
    called sample, time, twt, depth or z. Refused, naming the store: several variables and none
    named, other dimensions, NaN or infinite samples, all-zero traces (read block by block)."""
    source = seismic_xarray_raw.encoding.get("source") or "the zarr / NetCDF input"
    names = list(seismic_xarray_raw.data_vars)
    name = params.get("variable") or (names[0] if len(names) == 1 else None)
    if name not in names:
        raise RawDataError(f"{source}: variables {names}; name the one to read with --params "
                           "\"inference.seismic.variable=NAME\"")
    values = seismic_xarray_raw[name]
    samples = [d for d in values.dims if d in SAMPLE_NAMES]
    values = values.rename({samples[0]: "sample"}) if len(samples) == 1 else values
    for dims in (VOLUME_DIMS, ("trace", "sample")):
        if set(values.dims) == set(dims):
            values = values.transpose(*dims).astype(np.float32)
            break
    else:
        raise RawDataError(f"{source}: variable {name!r} has dims {values.dims}; expected (iline, xline, one of "
                           f"{SAMPLE_NAMES}) or (trace, one of them)")
    require_live_samples(values, source)
    lines = values.shape[:-1]
    values = values.assign_coords(trace_index=(values.dims[:-1], np.arange(int(np.prod(lines))).reshape(lines)))
    if "trace" in values.dims and "trace" not in values.coords:
        values = values.assign_coords(trace=np.arange(values.sizes["trace"]))
    return values.assign_attrs(source=str(source))


def seismic_sections(
    seismic_amplitude: xr.DataArray, train_images: ImageStack, salt_model_channels: list[str], params: dict
) -> tuple[Sections, dict]:
    """The line or volume as 8-bit sections the model reads, and how its amplitudes were scaled.

    Amplitudes (sign flipped when ``polarity`` is -1) become grey levels distributed like
    ``train_images``' over the whole line or volume (``scaling``:
    :mod:`~explainable_salt.seismic.amplitude`, from a strided sample of large volumes); each
    section is resampled by ``resample`` and padded to a tile where shorter. The sections are
    :class:`~explainable_salt.seismic.sections.PreparedSections`, read from the input when a chunk
    of them is predicted, never all at once. Depths: ``params["depth"]`` for every section when
    the model's channels need one, else refused.
    """
    source, polarity = seismic_amplitude.attrs.get("source"), float(params["polarity"])
    needs_depth = [c for c in salt_model_channels if ATTRIBUTES[c].needs_depth]
    if needs_depth and params.get("depth") is None:
        raise RawDataError(f"{source}: the model's channel(s) {needs_depth} need a depth per "
                           "section and a seismic file gives none: set --params \"inference.seismic.depth=FEET\"")
    depth = np.nan if params.get("depth") is None else float(params["depth"])
    scaling = params["scaling"]
    reference = grey_quantiles(train_images.data)
    sampled = polarity * sampled_amplitudes(seismic_amplitude)
    knots = grey_map(amplitude_quantiles(sampled), reference, scaling["method"], tuple(scaling["matched_quantiles"]))
    factors = tuple(params["resample"])
    line = line_name(seismic_amplitude)
    prepared_sections = []
    for dim in cut_dims(seismic_amplitude, params["direction"]) or [None]:
        stack = PreparedSections(seismic_amplitude, dim, knots, polarity, factors)
        ids = [line] if dim is None else [section_id(dim, v) for v in seismic_amplitude[dim].to_numpy()]
        prepared_sections.append((ImageStack(ids, stack), np.full(len(ids), depth, np.float32)))
    grey = to_grey(sampled, knots)
    report = {"method": scaling["method"], "matched_quantiles": list(scaling["matched_quantiles"]),
              "amplitude_at_grey_0": float(knots[0][0]), "amplitude_at_grey_255": float(knots[0][-1]),
              "saturated_share": float(np.mean((grey == 0) | (grey == 255))),
              "tgs_saturated_share": float(np.mean(np.isin(train_images.data, (0, 255)))),
              "grey_quantiles_5_50_95": [float(np.percentile(grey, q)) for q in (5, 50, 95)],
              "tgs_grey_quantiles_5_50_95": [float(reference[int(q * 10)]) for q in (5, 50, 95)],
              "amplitudes_sampled": int(sampled.size), "polarity": int(params["polarity"]),
              "resample": list(factors), "sections": sum(len(s) for s, _ in prepared_sections)}
    logger.info("%s: %d section(s); amplitudes %.4g to %.4g → grey 0 to 255 (%s), %.1f %% saturated (TGS %.1f %%)",
                source, report["sections"], report["amplitude_at_grey_0"], report["amplitude_at_grey_255"],
                scaling["method"], 100 * report["saturated_share"], 100 * report["tgs_saturated_share"])
    return prepared_sections, report


def predict_seismic_sections(
    inference_sections: Sections,
    salt_model: keras.Model,
    salt_model_channels: list[str],
    channel_normaliser: dict,
    decision_rule: dict,
    feature_params: dict,
    prediction_params: dict,
    params: dict,
    execution: dict | None = None,
) -> StreamedMapping:
    """Salt probabilities ``{id: (n_samples, n_traces) float32}`` of every section on the input's
    grid (padding cropped, resampling undone), streamed: computed a chunk of sections at a time
    where ``execution`` says, by the prediction the PNG sections get
    (:func:`~explainable_salt.pipelines.inference.nodes.predict_sections_chunk`), as the catalog
    writes them, so memory stays bounded by a chunk whatever the volume's size."""
    def items():
        for ids, sections, probabilities, _ in predicted_chunks(
                inference_sections, salt_model, salt_model_channels, channel_normaliser, decision_rule,
                feature_params, prediction_params, params, execution, "seismic sections"):
            stack: PreparedSections = sections.data
            for section, probability in zip(ids, probabilities):
                yield section, restored(probability, stack.section_shape, stack.factors)

    return StreamedMapping([i for s, _ in inference_sections for i in s.ids], items)


def _volume_slab(probabilities: Mapping[str, np.ndarray], first: str, position: int, first_value,
                 other_ids: list[str]) -> np.ndarray:
    """The probability ``(n_other, n_samples)`` of the volume at ``position`` along ``first``: its
    section there, averaged with column ``position`` of each section across it (``other_ids``,
    when both directions were predicted)."""
    slab = np.asarray(probabilities[section_id(first, first_value)], np.float32).T
    if other_ids:
        across = np.stack([np.asarray(probabilities[i][:, position], np.float32) for i in other_ids])
        slab = (slab + across) / 2
    return slab


def _mask_block(probability: np.ndarray, axis: int, rule: dict) -> np.ndarray:
    """The decision rule on one section of a probability block ``(..., n_samples)`` (one section
    along ``axis``)."""
    section = np.moveaxis(probability, axis, 0)[0].T  # (n_samples, n_traces)
    return np.expand_dims(section_masks(section[None], rule)[0].T, axis)


def seismic_volume(
    seismic_section_probabilities: Mapping[str, np.ndarray], inference_explanations: dict[str, dict],
    seismic_amplitude: xr.DataArray, seismic_scaling: dict, decision_rule: dict, params: dict,
) -> xr.Dataset:
    """The run's outputs on the input's grid, one ``xarray.Dataset``: ``amplitude``, salt
    ``probability`` (averaged over the directions predicted) and ``mask`` (the decision rule on
    the probability, section by section along the first direction), and for the explained sections
    each channel's ``phi``, the ``expected_value`` and the ``explained_probability`` (per direction
    on a volume: ``phi_iline (explained_iline, xline, sample, channel)``); chunked one section per
    chunk along the first direction.

    Lazy (Dask): each chunk is read from the per-section probabilities when the catalog writes it,
    so a volume larger than memory is written a section at a time. Resampling back to the input's
    grid is linear, so ``expected_value + Σ phi`` still equals the explained probability at every
    sample.
    """
    import dask
    import dask.array as da

    direction, line = params["direction"], line_name(seismic_amplitude)
    shapes, factors = section_shapes(seismic_amplitude, direction, line), tuple(params["resample"])
    dims = cut_dims(seismic_amplitude, direction)
    if not dims:  # a 2-D line: one section
        probability = np.asarray(seismic_section_probabilities[line], np.float32)
        mask = section_masks(probability[None], decision_rule)[0]
        probability, mask = probability.T, mask.T
        amplitude = seismic_amplitude.variable
    else:
        first = dims[0]
        other = next(d for d in ("iline", "xline") if d != first)
        axis = VOLUME_DIMS.index(first)
        other_ids = [section_id(other, v) for v in seismic_amplitude[other].to_numpy()] if len(dims) == 2 else []
        n_other, n_samples = seismic_amplitude.sizes[other], seismic_amplitude.sizes["sample"]
        slab = dask.delayed(_volume_slab, pure=True)
        probability = da.stack([da.from_delayed(slab(seismic_section_probabilities, first, k, v, other_ids),
                                                (n_other, n_samples), np.float32)
                                for k, v in enumerate(seismic_amplitude[first].to_numpy())], axis=axis)
        mask = probability.map_blocks(_mask_block, axis, decision_rule, dtype=np.uint8)
        amplitude = seismic_amplitude.chunk({first: 1}).variable
    coords = {k: v for k, v in seismic_amplitude.coords.items()}
    variables = {"amplitude": amplitude, "probability": (seismic_amplitude.dims, probability),
                 "mask": (seismic_amplitude.dims, mask)}
    channels = None
    for dim in dims or [None]:
        explained = [i for i in shapes if i in inference_explanations and (dim is None or i.startswith(f"{dim}_"))]
        if not explained:
            continue
        channels = [str(c) for c in inference_explanations[explained[0]]["channels"]]
        parts = {key: [np.moveaxis(restored(inference_explanations[i][key], shapes[i], factors), 0, 1)
                       for i in explained] for key in ("contributions", "expected_value", "probability")}
        if dim is None:  # a 2-D line: its one section
            section_dims, suffix = ("trace", "sample"), ""
            parts = {key: value[0] for key, value in parts.items()}
        else:
            across = next(d for d in seismic_amplitude.dims if d not in (dim, "sample"))
            section_dims, suffix = (f"explained_{dim}", across, "sample"), f"_{dim}"
            coords[f"explained_{dim}"] = [int(i.split("_")[1]) for i in explained]
            parts = {key: np.stack(value) for key, value in parts.items()}
        variables[f"phi{suffix}"] = (section_dims + ("channel",), parts["contributions"].astype(np.float32))
        variables[f"expected_value{suffix}"] = (section_dims, parts["expected_value"].astype(np.float32))
        variables[f"explained_probability{suffix}"] = (section_dims, parts["probability"].astype(np.float32))
    if channels is not None:
        coords["channel"] = channels
    attrs = {key: value for key, value in seismic_amplitude.attrs.items() if isinstance(value, (str, int, float))}
    volume = xr.Dataset(variables, coords=coords, attrs={**attrs, "scaling": str(seismic_scaling),
                                                         "direction": direction})
    return volume.chunk({dims[0]: 1}) if dims else volume


def segy_outputs(seismic_volume: xr.Dataset) -> tuple:
    """The salt probability and mask ``(n_traces, n_samples) float32`` in the input SEG-Y file's
    trace order, for files written with its headers: lazy, read from the written volume as the
    files are written."""
    return (in_file_order(seismic_volume["probability"]),
            in_file_order(seismic_volume["mask"].astype(np.float32)))


def seismic_quicklooks(seismic_volume: xr.Dataset, params: dict) -> dict[str, Figure]:
    """A PNG quicklook ``{<section id>.png: figure}`` of the first ``quicklooks`` sections in id
    order (:func:`~explainable_salt.figures.plotting.section_quicklook`)."""
    from explainable_salt.figures.plotting import section_quicklook

    amplitude = seismic_volume["amplitude"]
    line = line_name(amplitude)
    logger.info("Salt in %.1f %% of %s's samples", 100 * float(seismic_volume["mask"].mean()),
                amplitude.attrs.get("source"))
    ids = sorted(section_shapes(amplitude, params["direction"], line))[: params["quicklooks"]]
    figures = {}
    for i in ids:
        if "trace" in amplitude.dims:
            pick, dim, explained = {}, None, "phi" in seismic_volume
        else:
            dim, number = i.split("_")[0], int(i.split("_")[1])
            pick = {dim: number}
            explained = f"explained_{dim}" in seismic_volume.coords and number in seismic_volume[f"explained_{dim}"]
        section = {k: seismic_volume[k].sel(pick).transpose("sample", ...).to_numpy()
                   for k in ("amplitude", "mask", "probability")}
        contributions = None
        if explained:
            phi = seismic_volume["phi" if dim is None else f"phi_{dim}"]
            contributions = (phi if dim is None else phi.sel({f"explained_{dim}": pick[dim]})).transpose(
                "sample", ..., "channel").to_numpy()
        figures[f"{i}.png"] = section_quicklook(i, section["amplitude"], section["mask"], section["probability"],
                                                contributions, [str(c) for c in seismic_volume.coords.get(
                                                    "channel", np.array([])).to_numpy()])
    return figures
