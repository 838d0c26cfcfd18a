"""The explainability pipeline."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from explainable_salt.pipelines.explainability.nodes import (
    analyse_importance,
    analyse_interactions,
    analyse_sampling_error,
    analyse_significance,
    choose_showcase_images,
    compare_absence_definitions,
    compute_deletion_curves,
    explain_channels,
    explain_channels_amortized,
    fit_amortized_explainer,
    label_amortized_explainer,
    map_salt_locations,
    randomisation_check,
    sample_background,
)
from explainable_salt.tracking.metrics import tracking_node

EXPLANATION_OUTPUTS = [
    "channel_contributions", "expected_value_map", "explained_probabilities", "explanation_checks",
    "channel_interactions", "shapley_taylor", "contribution_standard_error", "background_redraws",
]


EXPLANATION_INPUTS = [  # shared by every definition's node
    "salt_model", "salt_model_channels", "model_inputs", "manifest", "shapley_background", "shapley_background_weights",
]


def _explain_in_game(definition: str) -> Pipeline:
    """The explanations of a definition of absence that is not the primary: the same node under
    the namespace ``<definition>`` (outputs ``<definition>.channel_contributions`` … through
    dataset factories), its checks tracked."""
    explain = update_wrapper(partial(explain_channels, definition=definition), explain_channels)
    template = Pipeline([
        node(explain, inputs=[*EXPLANATION_INPUTS, "params:explainability", "params:execution"],
             outputs=EXPLANATION_OUTPUTS, name="explain_channels"),
        tracking_node("explanation_checks"),
    ])
    return pipeline(template, namespace=definition, inputs=set(EXPLANATION_INPUTS),
                    parameters={"params:explainability", "params:execution"})


AMORTIZED_INPUTS = ["salt_model", "salt_model_channels", "model_inputs", "manifest"]


def amortized_explainer_pipeline() -> Pipeline:
    """Labels, then the amortized explainer fitted to them (``estimator: amortized``), its
    measured error tracked; the inference pipeline reads the explainer it saves."""
    return Pipeline([
        node(label_amortized_explainer, inputs=[*AMORTIZED_INPUTS, "params:explainability", "params:execution"],
             outputs=["amortized_explainer_labels", "amortized_explainer_validation_labels",
                      "amortized_explainer_label_settings"],
             name="label_amortized_explainer"),
        node(fit_amortized_explainer,
             inputs=[*AMORTIZED_INPUTS, "amortized_explainer_labels", "amortized_explainer_validation_labels",
                     "amortized_explainer_label_settings", "params:explainability", "params:execution"],
             outputs=["amortized_explainer", "amortized_explainer_metrics"], name="fit_amortized_explainer"),
        tracking_node("amortized_explainer_metrics"),
    ])


def _primary_explanations(estimator: str) -> Pipeline:
    """The primary definition's explanations: by the exact engine, or by the amortized explainer
    (trained here); the node is ``explain_channels`` either way."""
    if estimator == "exact":
        return Pipeline([node(explain_channels, inputs=[*EXPLANATION_INPUTS, "params:explainability", "params:execution"],
                              outputs=EXPLANATION_OUTPUTS, name="explain_channels")])
    return amortized_explainer_pipeline() + Pipeline([node(
        explain_channels_amortized,
        inputs=[*AMORTIZED_INPUTS, "amortized_explainer", "amortized_explainer_metrics", "params:explainability",
                "params:execution"],
        outputs=EXPLANATION_OUTPUTS, name="explain_channels")])


def create_pipeline(absence: list[str] | tuple[str, ...] = ("background",), estimator: str = "exact",
                    **kwargs) -> Pipeline:
    """The explainability pipeline for the definitions of absence ``absence``
    (``explainability.absence``, see :func:`explainable_salt.pipeline_registry.configured_absence`):
    the first one's explanations feed the analysis and the report, each other one writes its own.
    With ``estimator="amortized"`` the first one's values come from the amortized explainer."""
    other_definitions = sum((_explain_in_game(d) for d in absence[1:]), Pipeline([]))
    return Pipeline([other_definitions, _primary_explanations(estimator), Pipeline(
        [
            node(
                sample_background,
                inputs=["model_inputs", "salt_model_channels", "manifest", "params:explainability.background"],
                outputs=["shapley_background", "shapley_background_weights"],
                name="sample_background",
            ),
            node(
                update_wrapper(partial(compare_absence_definitions, definitions=list(absence)),
                               compare_absence_definitions),
                inputs=["params:explainability", "params:explainability.analysis", "channel_contributions",
                        *(f"{d}.channel_contributions" for d in absence[1:])],
                outputs=["explanation_sensitivity", "explanation_sensitivity_sentence", "sensitivity_metrics"],
                name="compare_absence_definitions",
            ),
            node(
                analyse_sampling_error,
                inputs=["channel_contributions", "contribution_standard_error", "background_redraws",
                        "shapley_background_weights", "params:explainability.sampling_error"],
                outputs=["explanation_sampling_error", "explanation_sampling_error_sentence", "sampling_metrics"],
                name="analyse_sampling_error",
            ),
            node(
                update_wrapper(partial(analyse_significance, definitions=list(absence)), analyse_significance),
                inputs=["explained_probabilities", "decision_rule", "channel_contributions",
                        "contribution_standard_error", "explanation_checks",
                        *(f"{d}.{name}" for d in absence[1:]
                          for name in ("channel_contributions", "contribution_standard_error", "explanation_checks"))],
                outputs=["explanation_significance", "significance_metrics"],
                name="analyse_significance",
            ),
            node(
                analyse_interactions,
                inputs=["channel_interactions", "params:explainability.analysis"],
                outputs=["channel_interaction_matrix", "interaction_metrics"],
                name="analyse_interactions",
            ),
            node(
                analyse_importance,
                inputs=[
                    "channel_contributions", "model_inputs", "train_masks", "explained_probabilities",
                    "manifest", "decision_rule", "params:explainability.analysis",
                ],
                outputs=["global_importance", "contribution_samples", "importance_metrics"],
                name="analyse_importance",
            ),
            node(
                compute_deletion_curves,
                inputs=[
                    "salt_model", "channel_contributions", "model_inputs", "train_masks",
                    "shapley_background", "shapley_background_weights", "global_importance",
                    "decision_rule", "params:explainability.deletion",
                ],
                outputs=["deletion_curves", "deletion_metrics"],
                name="compute_deletion_curves",
            ),
            node(
                randomisation_check,
                inputs=[
                    "salt_model", "channel_contributions", "model_inputs", "manifest", "shapley_background",
                    "shapley_background_weights", "params:explainability",
                ],
                outputs="randomisation_metrics",
                name="randomisation_check",
            ),
            node(
                choose_showcase_images,
                inputs=["manifest", "channel_contributions", "params:explainability.showcase"],
                outputs="showcase_image_ids",
                name="choose_showcase_images",
            ),
            node(
                map_salt_locations,
                inputs=[
                    "salt_model", "showcase_image_ids", "model_inputs", "explained_probabilities",
                    "shapley_background", "decision_rule", "params:explainability.pixel_maps",
                ],
                outputs="salt_location_maps",
                name="map_salt_locations",
            ),
            tracking_node("explanation_checks"),
            tracking_node("importance_metrics"),
            tracking_node("interaction_metrics"),
            tracking_node("sensitivity_metrics"),
            tracking_node("sampling_metrics"),
            tracking_node("significance_metrics"),
            tracking_node("deletion_metrics"),
            tracking_node("randomisation_metrics"),
        ],
    )], tags="explainability")
