"""The inference pipeline: ``kedro run --pipeline inference``.

Its first nodes depend on what ``inference.sections`` names (:func:`sections_kind`): PNG sections
(a folder or zip, the default) are checked as they are; a SEG-Y file, zarr store or NetCDF file is
read lazily as a line or volume, cut into sections predicted a chunk at a time (streamed to
``seismic_section_probabilities`` on its grid, so memory does not grow with the volume) and its
outputs assembled on its grid. Prediction runs the same chunk function for both; explanation is
the same node.
"""

from pathlib import Path

from kedro.pipeline import Pipeline, node

from explainable_salt.pipelines.inference.nodes import (
    explain_sections,
    make_section_submission,
    predict_sections,
    prepare_sections,
)
from explainable_salt.pipelines.inference.seismic_nodes import (
    arrange_segy,
    arrange_xarray,
    predict_seismic_sections,
    segy_outputs,
    seismic_quicklooks,
    seismic_sections,
    seismic_volume,
)
from explainable_salt.tracking.metrics import tracking_node

SEGY_SUFFIXES = (".sgy", ".segy")
XARRAY_SUFFIXES = (".zarr", ".nc")


def sections_kind(sections: str | None) -> str:
    """``png``, ``segy`` or ``xarray``: how the sections ``inference.sections`` names are read,
    by the path's suffix (``None``, a folder or a zip: PNG sections)."""
    suffix = Path(str(sections or "")).suffix.lower()
    return "segy" if suffix in SEGY_SUFFIXES else "xarray" if suffix in XARRAY_SUFFIXES else "png"


def _prediction_nodes(kind: str) -> list:
    """PNG sections: probabilities and masks per section, and a submission; seismic files:
    probabilities on the input's grid, streamed a chunk of sections at a time."""
    inputs = ["inference_sections", "salt_model", "salt_model_channels", "channel_normaliser", "decision_rule",
              "params:feature_engineering", "params:modelling.inference", "params:inference", "params:execution"]
    if kind != "png":
        return [node(predict_seismic_sections, inputs, "seismic_section_probabilities",
                     name="predict_seismic_sections")]
    return [
        node(predict_sections, inputs, ["inference_probabilities", "inference_masks"], name="predict_sections"),
        node(make_section_submission, inputs="inference_masks", outputs="inference_submission",
             name="make_section_submission"),
    ]


def _seismic_nodes(kind: str) -> tuple[list, list]:
    arranged = [
        node(arrange_segy, ["seismic_segy_raw", "params:inference.seismic"], "seismic_amplitude",
             name="arrange_segy") if kind == "segy" else
        node(arrange_xarray, ["seismic_xarray_raw", "params:inference.seismic"], "seismic_amplitude",
             name="arrange_xarray"),
        node(seismic_sections, ["seismic_amplitude", "train_images", "salt_model_channels", "params:inference.seismic"],
             ["inference_sections", "seismic_scaling"], name="seismic_sections"),
    ]
    outputs = [
        node(seismic_volume, ["seismic_section_probabilities", "inference_explanations", "seismic_amplitude",
                              "seismic_scaling", "decision_rule", "params:inference.seismic"],
             "seismic_volume", name="seismic_volume"),
        node(seismic_quicklooks, ["seismic_volume", "params:inference.seismic"], "seismic_quicklooks",
             name="seismic_quicklooks"),
    ]
    if kind == "segy":
        outputs.append(node(segy_outputs, "seismic_volume", ["seismic_probability_segy", "seismic_mask_segy"],
                            name="segy_outputs"))
    return arranged, outputs


def create_pipeline(kind: str = "png", estimator: str = "exact", **kwargs) -> Pipeline:
    """The inference pipeline for sections of ``kind`` (:func:`sections_kind`), explained by the
    exact engine or, with ``estimator="amortized"``, by the explainability pipeline's amortized
    explainer (``data/06_models/amortized_explainer.keras``)."""
    if kind == "png":
        first = [node(prepare_sections, inputs=["inference_images_raw", "inference_depths", "salt_model_channels"],
                      outputs="inference_sections", name="prepare_sections")]
        last = []
    else:
        first, last = _seismic_nodes(kind)
    return Pipeline(
        [
            *first,
            *_prediction_nodes(kind),
            node(
                explain_sections,
                inputs=[
                    "inference_sections", "salt_model", "salt_model_channels", "channel_normaliser",
                    "shapley_background", "shapley_background_weights", "model_inputs", "manifest",
                    "params:feature_engineering",
                    "params:explainability", "params:inference", "params:execution",
                    *(["amortized_explainer"] if estimator == "amortized" else []),
                ],
                outputs=["inference_explanations", "inference_explanation_checks"],
                name="explain_sections",
            ),
            tracking_node("inference_explanation_checks"),
            *last,
        ],
        tags="inference",
    )
