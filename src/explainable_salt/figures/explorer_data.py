"""What the interactive explorer embeds: the chosen images and their explanations, quantised.

Every map is stored as small integers with an offset and a step (``value = offset + code × step``),
so the page carries 15 bytes a pixel per image (four channels) instead of 40 as float32 (Bokeh
then gzips each array), and each number it shows is within half a step of the stored float.

Explanations are kept per absence definition (what replaces an absent channel), each with its own
expected value and contributions; the primary definition's pair interactions come with it. Each
image's φ has its own step (set by its largest |φ|): int16 for the primary, int8 for the other
definitions and the interactions, which are there to compare maps, not to read to 4 decimals.

A definition with a sampling error (a background drawn at random, the conditional neighbours) also
carries each φ's standard error, uint8 per channel with the image's own step (for the interval
``φ ± t × SE`` a pixel shows), and which φ are not distinguishable from 0, decided here by
:func:`explainable_salt.attribution.sampling.significant` on the stored floats and packed as bits
(channel ``c`` is bit ``c % 8`` of byte ``c // 8``): ``C + 1`` bytes a pixel for four channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explainable_salt.attribution import sampling
from explainable_salt.stacks import IMAGE_SIZE
from explainable_salt.tgs.metrics import apply_decision_rule, competition_score_per_image

# The run's evaluation (per_image_metrics: its prediction, with flip TTA where configured) and the
# explained prediction (the model's plain output, under the same decision rule) can differ.
TABLE_COLUMNS = ["id", "coverage", "coverage_class", "predicted_coverage", "score", "depth"]
EXPLAINED_COLUMNS = ["explained_coverage", "explained_score"]
TRUTH_BIT, PREDICTED_BIT = 1, 2  # bits of the combined mask code


@dataclass(frozen=True)
class Quantised:
    """``values ≈ offset + codes × step``; every value within ``step / 2`` of the original."""

    codes: np.ndarray
    offset: float
    step: float

    def values(self) -> np.ndarray:
        return self.offset + self.codes.astype(np.float64) * self.step


def quantise_unit(values: np.ndarray) -> Quantised:
    """Values in [0, 1] (probabilities, expected values) as uint16 codes of step 1 / 65535."""
    step = 1.0 / np.iinfo(np.uint16).max
    codes = np.rint(np.clip(values, 0.0, 1.0) / step).astype(np.uint16)
    return Quantised(codes, 0.0, step)


def quantise_symmetric(values: np.ndarray, dtype: type = np.int16) -> Quantised:
    """Signed values (contributions φ) as ``dtype`` codes of one step, ±max code at the largest |φ|."""
    limit = float(np.abs(values).max()) if values.size else 0.0
    step = (limit or 1.0) / np.iinfo(dtype).max
    return Quantised(np.rint(values / step).astype(dtype), 0.0, step)


def quantise_per_image(values: np.ndarray, dtype: type = np.int16) -> list[Quantised]:
    """Signed maps ``(N, H, W, …)`` quantised image by image (:func:`quantise_symmetric`)."""
    return [quantise_symmetric(v, dtype) for v in values]


def quantise_magnitude(values: np.ndarray) -> Quantised:
    """Non-negative values (standard errors) as uint8 codes of one step, 255 at the largest."""
    limit = float(values.max()) if values.size else 0.0
    step = (limit or 1.0) / np.iinfo(np.uint8).max
    return Quantised(np.rint(np.clip(values, 0.0, None) / step).astype(np.uint8), 0.0, step)


def bit_planes(flags: np.ndarray) -> np.ndarray:
    """Bool ``(…, C)`` as uint8 ``(…, ⌈C / 8⌉)``: flag ``c`` is bit ``c % 8`` of byte ``c // 8``."""
    n_bytes = -(-flags.shape[-1] // 8)
    padded = np.zeros((*flags.shape[:-1], 8 * n_bytes), bool)
    padded[..., : flags.shape[-1]] = flags
    return np.packbits(padded.reshape(*flags.shape[:-1], n_bytes, 8), axis=-1, bitorder="little")[..., 0]


def quantise_range(values: np.ndarray, low: float, high: float) -> Quantised:
    """Values for display (input channels) as uint8 codes over [low, high], clipped outside it."""
    step = (high - low) / 255 if high > low else 1.0
    return Quantised(np.rint((np.clip(values, low, high) - low) / step).astype(np.uint8), float(low), float(step))


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """Pixel edges between salt and not-salt of one ``(H, W)`` mask, as ``(4 × n,)`` uint8
    ``x0, y0, x1, y1`` in pixel units (x = column, y = row), image borders included."""
    padded = np.pad(np.asarray(mask, dtype=bool), 1)
    rows, cols = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])  # vertical edges at x = col
    vertical = np.stack([cols, rows, cols, rows + 1], axis=1)
    rows, cols = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])  # horizontal edges at y = row
    horizontal = np.stack([cols, rows, cols + 1, rows], axis=1)
    return np.concatenate([vertical, horizontal]).astype(np.uint8).ravel()


NOT_GIVEN = "sampling error not given to the explorer"


@dataclass(frozen=True)
class Explanation:
    """One absence definition's explanation of the chosen images.

    ``standard_error`` (per image ``(H, W, C)`` uint8) and ``insignificant`` (``(N, H, W, ⌈C/8⌉)``
    uint8 bits, :func:`bit_planes`: φ not distinguishable from 0) exist where the game has a
    sampling error, from ``n_references`` references with Student's ``t``; ``note`` says what the
    error is, or why there is none."""

    expected_value: Quantised  # (H, W) uint16, or (N, H, W) where it is per image (blur)
    contributions: list[Quantised]  # per image (H, W, C): int16 for the primary, int8 for the others
    standard_error: list[Quantised] | None = None
    insignificant: np.ndarray | None = None
    n_references: int = 0
    t: float = 0.0
    note: str = NOT_GIVEN
    rule: str = ""  # what a greyed pixel means


@dataclass(frozen=True)
class ExplorerData:
    """The chosen images, in the order they are listed, and what the explorer shows of them.

    Attributes:
        table: one row per image, :data:`TABLE_COLUMNS` then :data:`EXPLAINED_COLUMNS`.
        channels: the ``C`` explained channels, in the order of the last axis.
        inputs: ``(N, H, W, C)`` uint8 normalised channel values (clipped to percentiles 0.5-99.5).
        masks: ``(N, H, W)`` uint8, bit :data:`TRUTH_BIT` true salt, bit :data:`PREDICTED_BIT`
            predicted salt (the run's decision rule applied to ``probability``).
        probability: ``(N, H, W)`` uint16 predicted salt probability.
        explanations: absence definition → its :class:`Explanation`, the primary first.
        pairs: the ``P`` channel pairs ``"a:b"`` of ``interactions`` (empty without them).
        interactions: per image ``(H, W, P)`` int8 Shapley interaction index of the primary.
    """

    table: pd.DataFrame
    channels: tuple[str, ...]
    inputs: Quantised
    masks: np.ndarray
    probability: Quantised
    explanations: dict[str, Explanation]
    pairs: tuple[str, ...] = ()
    interactions: list[Quantised] = ()


def explorer_data(
    table: pd.DataFrame,
    inputs: np.ndarray,
    truth: np.ndarray,
    probabilities: np.ndarray,
    explanations: dict[str, tuple[np.ndarray, np.ndarray]],
    channels: tuple[str, ...],
    decision_rule: dict,
    interactions: tuple[np.ndarray, tuple[str, ...]] | None = None,
    errors: dict[str, tuple[np.ndarray | None, int, str]] | None = None,
) -> ExplorerData:
    """Quantise what the explorer shows of ``N`` images.

    Shapes: ``inputs`` ``(N, H, W, C)`` normalised channels; ``truth`` ``(N, H, W)`` 0/1;
    ``probabilities`` ``(N, H, W)``; ``explanations`` maps an absence definition (the primary
    first) to its expected value ``(H, W)`` or ``(N, H, W)`` and contributions ``(N, H, W, C)``;
    ``interactions`` the primary's interaction index ``(N, H, W, P)`` and its pair names;
    ``errors`` maps each definition to its standard error ``(N, H, W, C)`` (``None`` where the game
    has none), its ``K`` references and what to say of its sampling error (without ``errors``, the
    page says it was not given); ``table`` has one row per image.
    """
    if inputs.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images of {inputs.shape[1:3]}, not {IMAGE_SIZE} × {IMAGE_SIZE}")
    predicted = apply_decision_rule(probabilities, decision_rule)
    masks = (np.asarray(truth, dtype=bool) * TRUTH_BIT + predicted * PREDICTED_BIT).astype(np.uint8)
    low, high = np.percentile(inputs, [0.5, 99.5], axis=(0, 1, 2)) if len(inputs) else (np.zeros(0), np.zeros(0))
    channel_inputs = [quantise_range(inputs[..., c], low[c], high[c]) for c in range(len(channels))]
    return ExplorerData(
        table=table[TABLE_COLUMNS].reset_index(drop=True).assign(
            explained_coverage=predicted.reshape(len(predicted), -1).mean(axis=1),
            explained_score=competition_score_per_image(truth, predicted),
        ),
        channels=tuple(channels),
        inputs=Quantised(
            np.stack([q.codes for q in channel_inputs], axis=-1) if channel_inputs else np.zeros(inputs.shape, np.uint8),
            np.array([q.offset for q in channel_inputs]),
            np.array([q.step for q in channel_inputs]),
        ),
        masks=masks,
        probability=quantise_unit(probabilities),
        explanations={
            name: _explanation(expected, contributions, np.int16 if d == 0 else np.int8, (errors or {}).get(name))
            for d, (name, (expected, contributions)) in enumerate(explanations.items())
        },
        pairs=tuple(interactions[1]) if interactions is not None else (),
        interactions=quantise_per_image(interactions[0], np.int8) if interactions is not None else [],
    )


def _explanation(expected: np.ndarray, contributions: np.ndarray, dtype: type,
                 error: tuple[np.ndarray | None, int, str] | None) -> Explanation:
    """One definition quantised, with its standard errors and insignificant φ where it has them."""
    quantised = Explanation(quantise_unit(expected), quantise_per_image(contributions, dtype))
    if error is None:
        return quantised
    standard_error, k, note = error
    if standard_error is None:
        return Explanation(quantised.expected_value, quantised.contributions, n_references=k, note=note)
    return Explanation(
        quantised.expected_value, quantised.contributions,
        standard_error=[quantise_magnitude(e) for e in standard_error],
        insignificant=bit_planes(~sampling.significant(contributions, standard_error, k)),
        n_references=k, t=sampling.t_quantile(k), note=note, rule=sampling.insignificance_rule(k),
    )
