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
figure. With ``--project`` (a project folder after a run on the competition data), runs
``kedro run --pipeline inference`` on the section for each setting and prints the predicted salt
fraction.
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
            predicted_fractions(options.project, segy)


def predicted_fractions(project: Path, segy: Path) -> None:
    """The salt fraction the project's model predicts on the section for each scaling setting."""
    import xarray as xr
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    settings = [{"scaling": {"method": m, "matched_quantiles": q}, "polarity": p, "resample": r}
                for m, q in (("linear", [0.05, 0.95]), ("linear", [0.01, 0.99]), ("linear", [0.2, 0.8]),
                             ("histogram", [0.05, 0.95]))
                for p in (1, -1) for r in ([1.0, 1.0], [0.5, 0.5])]
    bootstrap_project(project)
    print(f"{'method':<10} {'quantiles':<12} {'polarity':>8} {'resample':>9} {'salt %':>7}")
    for setting in settings:
        with KedroSession.create(project_path=project, runtime_params={"inference": {
                "sections": str(segy), "seismic": setting, "explanations": {"max_images": 1}}}) as session:
            session.run(pipeline_name="inference")
        mask = xr.open_zarr(project / "data/07_model_output/inference/seismic.zarr")["mask"].to_numpy()
        scaling = setting["scaling"]
        print(f"{scaling['method']:<10} {scaling['matched_quantiles']!s:<12} {setting['polarity']:>8} "
              f"{setting['resample']!s:>9} {100 * mask.mean():7.1f}")


if __name__ == "__main__":
    main()
