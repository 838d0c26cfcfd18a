"""shap's own ``ExactExplainer`` playing the engine's channel game: an independent reference.

shap explains a model of ``M`` binary features through a masker ``masker(mask, x)`` that returns
the rows to evaluate for one coalition; the model's outputs on those rows are averaged. With
:class:`ChannelMasker` the features are the ``C`` channels of one image ``x`` ``(H, W, C)`` and the
rows are ``x`` with its absent channels taken from each of the ``K`` background images, so shap's
value of a coalition ``S`` is::

    v(S) = mean_k f(x_S ∪ (b_k)_{C∖S})

the ``background`` game of :func:`explainable_salt.attribution.shapley.channel_shapley` with
uniform weights (shap averages the masker's rows uniformly; weighted k-means summaries are not
supported here). The model sees ``(B, H, W, C)`` and returns ``(B, H·W)``: every output pixel is
one of shap's outputs, so one enumeration of the ``2^C`` coalitions explains all of them, and
shap's ``base_values`` (the empty coalition) is the engine's expected-value map.

shap explains one image at a time and evaluates every coalition on all ``K`` rows, the empty and
full ones included: ``2^C K`` forward passes per image against the engine's ``(2^C − 2) K + 1``.
Per image it holds those ``2^C K`` inputs and ``(2^C, H·W)`` averaged outputs (a few tens of MB at
101 × 101, C = 4, K = 8), so neither output pixels nor images need chunking.
"""

from __future__ import annotations

import numpy as np
import shap

from explainable_salt.attribution.absence import splice
from explainable_salt.attribution.inputs import require_count, require_stack
from explainable_salt.segmentation.forward import Predictor


class ChannelMasker(shap.maskers.Masker):
    """shap masker with the channels as features: absent channels come from each background image.

    ``background`` is ``(K, H, W, C)``; a call with ``mask`` ``(C,)`` bool and one image ``x``
    ``(H, W, C)`` returns ``(K, H, W, C)`` composite inputs.
    """

    immutable_outputs = True  # each call builds new arrays: spares shap a deep copy per coalition

    def __init__(self, background: np.ndarray) -> None:
        require_stack(background, "background")
        require_count(len(background), 1, "background", "images", "explainability.background.size")
        self.background = background
        # (rows per coalition, number of features): without it shap counts every input value as a feature
        self.shape = (len(background), background.shape[-1])

    def __call__(self, mask: np.ndarray, x: np.ndarray) -> tuple[np.ndarray]:
        return (splice(x[None], mask[None], self.background[None, None])[0, 0],)

    def mask_shapes(self, x: np.ndarray) -> list[tuple[int, ...]]:
        # One mask of C entries per image; without it shap reshapes the (C, H·W) values by x's shape.
        return [(x.shape[-1],)]


def flat_outputs(predict: Predictor) -> Predictor:
    """``predict`` ``(B, H, W, C)`` → ``(B, H, W)`` as a shap model ``(B, H, W, C)`` → ``(B, H·W)``."""

    def model(inputs: np.ndarray) -> np.ndarray:
        outputs = np.asarray(predict(inputs))
        return outputs.reshape(len(outputs), int(np.prod(outputs.shape[1:])))  # -1 cannot size no image

    return model


def shap_exact_channel_shapley(
    predict: Predictor,
    images: np.ndarray,
    background: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Channel Shapley values of ``predict`` for ``images`` ``(N, H, W, C)`` from shap's
    ``ExactExplainer`` with :class:`ChannelMasker` over ``background`` ``(K, H, W, C)``.

    Returns the contributions ``(N, H, W, C)`` and the expected-value map ``(H, W)`` (shap's
    ``base_values``, the same for every image), both float64. shap calls ``predict`` once per image
    with all ``2^C K`` composite inputs (``batch_size`` = ``2^C`` coalitions); wrap ``predict`` with
    :func:`explainable_salt.segmentation.forward.batched` to bound the model's batch. No image
    raises ``ValueError``: shap's expected value comes with an explained image.
    """
    require_stack(images, "images")
    require_count(len(images), 1, "images", "images")
    n, height, width, n_channels = images.shape
    explainer = shap.ExactExplainer(flat_outputs(predict), ChannelMasker(background))
    explanation = explainer(images, batch_size=2**n_channels, silent=True)
    # shap: values (N, C, H·W) and base_values (N, H·W); the engine: (N, H, W, C) and (H, W).
    values = np.asarray(explanation.values).reshape(n, n_channels, height, width).transpose(0, 2, 3, 1)
    expected = np.asarray(explanation.base_values)[0].reshape(height, width)
    return values, expected
