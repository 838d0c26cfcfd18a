"""A real salt section through the seismic path: its amplitudes scaled to the TGS training images'
grey levels, side by side with TGS images, and, given a project that has a trained model, the salt
the model predicts as the scaling, the polarity and the resampling vary.

    .venv/bin/python benchmarks/seismic_scaling.py [--tgs ../shared/tgs] [--seismic ../shared/seismic]
        [--figure docs/images/seismic_scaling.png] [--project PATH]

The section is ``cgg_salt_section.f32be`` of ../shared/seismic (260 traces x 280 samples, raw
big-endian float32; Wu, Fomel & Hudec 2018, see that folder's README): it is written to a SEG-Y
file (inline 1, crosslines 1-260, a placeholder 4 ms sample interval) and read back through the
project's reader, as a user's file would be. Prints the grey-level quantiles and saturated share of
the scaled section for each scaling method against the TGS training images', and writes the
figure. With ``--project`` (a project folder after a run on the competition data), runs the
project's trained model on the section through the inference pipeline's seismic nodes for each
scaling, polarity and resampling, prints the predicted salt fraction and its overlap (IoU) with
the salt body drawn by eye (:data:`SALT_OUTLINE`), and draws the best setting's outline beside the
default's (``seismic_salt_section.png`` beside the figure).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _data import DEFAULT_TGS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SEISMIC = Path(__file__).resolve().parents[1].parent / "shared" / "seismic"
TRACES, SAMPLES = 260, 280


def write_section_segy(raw: Path, target: Path) -> None:
    """The raw salt section as a SEG-Y line: inline 1, crosslines 1-260, 4 ms (a placeholder)."""
    from explainable_salt.seismic.segy import write_volume

    write_volume(target, np.fromfile(raw, dtype=">f4").reshape(1, TRACES, SAMPLES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tgs", type=Path, default=DEFAULT_TGS)
    parser.add_argument("--seismic", type=Path, default=DEFAULT_SEISMIC)
    parser.add_argument("--figure", type=Path, default=REPO / "docs/images/seismic_scaling.png")
    parser.add_argument("--project", type=Path, default=None, help="a project with a trained model: predict too")
    options = parser.parse_args()
    raw = options.seismic / "cgg_salt_section.f32be"
    if not raw.is_file():
        parser.error(f"argument --seismic: no cgg_salt_section.f32be in {options.seismic}")
    if not (options.tgs / "train.zip").is_file():
        parser.error(f"no train.zip in {options.tgs}: pass --tgs, or set TGS_DATA_DIR")

    from _data import load_grey_images

    from explainable_salt.figures.plotting import figure
    from explainable_salt.seismic.amplitude import amplitude_quantiles, grey_map, grey_quantiles, to_grey
    from explainable_salt.seismic.segy import arrange, read_segy

    tgs, _ = load_grey_images(options.tgs, limit=4000)
    reference = grey_quantiles(tgs)
    with tempfile.TemporaryDirectory() as scratch:
        segy = Path(scratch) / "cgg_salt_section.sgy"
        write_section_segy(raw, segy)
        line = arrange(read_segy(segy, 10**6, 10**5, 10**9))
        amplitude = line.to_numpy()
        quantiles = amplitude_quantiles(amplitude)
        greys = {method: to_grey(amplitude, grey_map(quantiles, reference, method, (0.05, 0.95))).T
                 for method in ("linear", "histogram")}
        print(f"{'grey levels':<22} {'5 %':>5} {'25 %':>5} {'50 %':>5} {'75 %':>5} {'95 %':>5} {'saturated':>10}")
        rows = {"TGS train images": tgs, **{f"section, {m}": g for m, g in greys.items()}}
        for name, values in rows.items():
            q = np.percentile(values, [5, 25, 50, 75, 95])
            saturated = 100 * np.isin(values, (0, 255)).mean()
            print(f"{name:<22} " + " ".join(f"{v:5.0f}" for v in q) + f" {saturated:9.2f} %")

        fig, axes = figure(1, 4, panel_size=2.6)
        axes[0, 0].imshow(tgs[7], cmap="gray", vmin=0, vmax=255)
        axes[0, 0].set_title("a TGS training image (101 x 101)", fontsize=8)
        for ax, (method, grey) in zip(axes[0, 1:3], greys.items()):
            ax.imshow(grey, cmap="gray", vmin=0, vmax=255, aspect="auto")
            ax.set_title(f"CGG salt section, {method} scaling", fontsize=8)
        bins = np.arange(257)
        axes[0, 3].hist(tgs.ravel(), bins=bins, density=True, histtype="step", label="TGS train images")
        for method, grey in greys.items():
            axes[0, 3].hist(grey.ravel(), bins=bins, density=True, histtype="step", label=f"section, {method}")
        axes[0, 3].set_title("grey-level distributions", fontsize=8)
        axes[0, 3].legend(fontsize=6)
        for ax in axes[0, :3]:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.text(0.01, 0.01, "Section: Wu, Fomel & Hudec (2018), Geophysics 83(3) O45-O53 (xinwucwp/sbp)", fontsize=6)
        options.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(options.figure, dpi=80)
        print(f"figure: {options.figure}")

        if options.project is not None:
            results = predicted_masks(options.project.resolve(), segy, tgs)
            report_predictions(results, options.figure.with_name("seismic_salt_section.png"), greys["linear"])


# The salt body as it reads by eye on the section (trace, sample) vertices: top of salt, the right
# flank, the base reflection and the left flank. Drawn for this benchmark, not from the source.
SALT_OUTLINE = [(45, 95), (60, 83), (80, 78), (100, 65), (120, 45), (135, 30), (150, 35), (175, 30), (185, 22),
                (200, 24), (208, 40), (212, 80), (222, 130), (235, 160), (240, 185), (232, 215), (215, 235),
                (190, 245), (160, 250), (130, 242), (100, 240), (75, 246), (60, 250), (50, 235), (45, 200),
                (42, 150), (40, 110)]
DEFAULT_SETTING = ("linear", (0.05, 0.95), 1, (1.0, 1.0))
"""(scaling method, matched quantiles, polarity, (vertical, horizontal) resampling): the defaults."""
SETTINGS = [DEFAULT_SETTING, ("linear", (0.01, 0.99), 1, (1.0, 1.0)), ("histogram", (0.05, 0.95), 1, (1.0, 1.0)),
            ("linear", (0.05, 0.95), -1, (1.0, 1.0)),
            *(("linear", (0.05, 0.95), polarity, factors) for polarity in (1, -1)
              for factors in ((0.5, 0.5), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0), (5.0, 5.0), (6.0, 6.0), (4.0, 2.0),
                              (2.0, 4.0))),
            ("histogram", (0.05, 0.95), 1, (5.0, 5.0))]
"""Settings tried; a resampling factor of 2 doubles the samples along that axis."""


def outline_mask() -> np.ndarray:
    """:data:`SALT_OUTLINE` filled, ``(SAMPLES, TRACES) bool``."""
    from skimage.draw import polygon

    mask = np.zeros((SAMPLES, TRACES), bool)
    traces, samples = np.array(SALT_OUTLINE).T
    mask[polygon(samples, traces, mask.shape)] = True
    return mask


def predicted_masks(project: Path, segy: Path, tgs: np.ndarray) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """``{(method, quantiles, polarity, resample): (probability, mask)}`` ``(SAMPLES, TRACES)``: the
    project's trained model on the section through the seismic nodes, for each setting."""
    from _data import base_parameters
    from bench_inference import artifacts

    from explainable_salt.pipelines.inference.seismic_nodes import (
        arrange_segy,
        predict_seismic_sections,
        seismic_sections,
        seismic_volume,
    )
    from explainable_salt.seismic.segy import read_segy
    from explainable_salt.stacks import ImageStack

    def parameters(name):  # the project's own settings
        return base_parameters(name, project)

    inference, modelling = parameters("inference"), parameters("modelling")
    described, model, channels, normaliser, rule, _, _ = artifacts(project / "data", modelling["channels"], tgs)
    if "untrained" in described:
        raise SystemExit(f"{project}/data/06_models has no trained model: run the project on the competition data")
    line = arrange_segy(read_segy(segy, 10**6, 10**5, 10**9), inference["seismic"])
    train = ImageStack(np.arange(len(tgs)).astype(str), tgs)
    results = {}
    for setting in SETTINGS:
        method, quantiles, polarity, factors = setting
        seismic = {**inference["seismic"], "scaling": {"method": method, "matched_quantiles": list(quantiles)},
                   "polarity": polarity, "resample": list(factors)}
        sections, scaling = seismic_sections(line, train, channels, seismic)
        probabilities = dict(predict_seismic_sections(
            sections, model, channels, normaliser, rule, parameters("feature_engineering"),
            modelling["inference"], inference).items())
        volume = seismic_volume(probabilities, {}, line, scaling, rule, seismic)
        results[setting] = volume["probability"].to_numpy().T, volume["mask"].to_numpy().T > 0
    return results


def separation_auc(probability: np.ndarray, reference: np.ndarray) -> float:
    """How well the probability ranks the salt drawn by eye above the rest: the chance that a pixel
    inside ``reference`` gets a higher probability than one outside (0.5: no separation)."""
    from scipy.stats import rankdata

    ranks = rankdata(probability.ravel())
    inside = reference.ravel()
    n_in, n_out = inside.sum(), (~inside).sum()
    return float((ranks[inside].sum() - n_in * (n_in + 1) / 2) / (n_in * n_out))


def report_predictions(results: dict, figure_path: Path, grey: np.ndarray) -> None:
    """Print, for each setting, the salt fraction, its overlap (IoU) with :data:`SALT_OUTLINE`, the
    probability's separation of that body (AUC) and its mean inside and outside; draw the default's
    and the best IoU's outlines on the section."""
    from skimage.measure import find_contours

    from explainable_salt.figures.plotting import figure

    reference = outline_mask()
    print(f"\nsalt drawn by eye: {100 * reference.mean():.1f} % of the section; marking every pixel salt "
          f"gives IoU {reference.mean():.2f}")
    print(f"{'method':<10} {'quantiles':<12} {'polarity':>8} {'resample':>9} {'salt %':>7} {'IoU':>6} {'AUC':>6} "
          f"{'p inside':>9} {'p outside':>10}")
    scores = {}
    for setting, (probability, mask) in results.items():
        method, quantiles, polarity, factors = setting
        scores[setting] = iou = (mask & reference).sum() / (mask | reference).sum()
        resample = "x".join(f"{f:g}" for f in factors)
        print(f"{method:<10} {quantiles!s:<12} {polarity:>8} {resample:>9} {100 * mask.mean():7.1f} {iou:6.2f} "
              f"{separation_auc(probability, reference):6.2f} {probability[reference].mean():9.2f} "
              f"{probability[~reference].mean():10.2f}")
    best = max(scores, key=scores.get)
    fig, axes = figure(1, 2, panel_size=3.4)
    for ax, key in zip(axes[0], (DEFAULT_SETTING, best)):
        _, mask = results[key]
        ax.imshow(grey, cmap="gray", vmin=0, vmax=255, aspect="auto")
        for contour in find_contours(reference.astype(float), 0.5):
            ax.plot(contour[:, 1], contour[:, 0], color="yellow", lw=1, ls="--")
        for contour in find_contours(mask.astype(float), 0.5):
            ax.plot(contour[:, 1], contour[:, 0], color="red", lw=1.2)
        ax.set_title(f"{key[0]} {key[1][0]:g}-{key[1][1]:g}, polarity {key[2]}, resample {key[3][0]:g} x "
                     f"{key[3][1]:g}: {100 * mask.mean():.0f} % salt, IoU {scores[key]:.2f}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.text(0.01, 0.01, "red: predicted salt; yellow dashed: salt drawn by eye. Section: Wu, Fomel & Hudec (2018), "
             "Geophysics 83(3) O45-O53 (xinwucwp/sbp)", fontsize=6)
    fig.subplots_adjust(bottom=0.1)
    fig.savefig(figure_path, dpi=80)
    print(f"best IoU: {best}; figure: {figure_path}")

if __name__ == "__main__":
    main()
