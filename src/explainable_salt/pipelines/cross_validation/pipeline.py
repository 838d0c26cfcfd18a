"""The cross_validation pipeline: the same training pipeline instantiated once per fold under the
namespace ``fold_<k>`` (outputs through the ``fold_{k}.*`` dataset factories), then the ensemble.
Not part of ``__default__``: it trains K models. Run it with ``kedro run --pipeline cross_validation``;
on a Dask cluster, ``--runner ThreadRunner --params execution.mode=local_cluster`` trains the folds
in parallel. Each fold is also an MLflow run nested in the Kedro run's (``fold_<k>.fold_run``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from explainable_salt.pipelines.cross_validation.nodes import (
    evaluate_ensemble,
    fold_run,
    predict_with_ensemble,
    train_fold,
)
from explainable_salt.tgs.rle import make_submission
from explainable_salt.tracking.metrics import tracking_node

SHARED = {"model_inputs", "train_masks", "manifest"}


def fold_pipeline(fold: int) -> Pipeline:
    """Training on all folds but ``fold``, as a namespaced modular pipeline."""
    train = update_wrapper(partial(train_fold, fold=fold), train_fold)
    template = Pipeline([
        node(train, inputs=["model_inputs", "train_masks", "manifest", "params:modelling", "params:execution"],
             outputs=["salt_model", "training_history", "validation_score"], name="train_fold"),
        node(fold_run, inputs=["training_history", "validation_score", "params:modelling"],
             outputs="fold_run", name="track_fold_run"),
    ])
    return pipeline(template, namespace=f"fold_{fold}", inputs=SHARED,
                    parameters={"params:modelling", "params:execution"})


def create_pipeline(n_folds: int, **kwargs) -> Pipeline:
    """One training pipeline per fold (``n_folds``: ``data_engineering.n_folds``), and their ensemble."""
    folds = [fold_pipeline(k) for k in range(n_folds)]
    models = [f"fold_{k}.salt_model" for k in range(n_folds)]
    scores = [f"fold_{k}.validation_score" for k in range(n_folds)]
    ensemble = Pipeline([
        node(evaluate_ensemble, inputs=["model_inputs", "train_masks", "manifest", "params:modelling", *models, *scores],
             outputs="cross_validation_metrics", name="evaluate_ensemble"),
        tracking_node("cross_validation_metrics"),
        node(predict_with_ensemble, inputs=["model_inputs_test", "params:modelling", "params:execution", *models],
             outputs="test_masks_predicted_cv", name="predict_with_ensemble"),
        node(make_submission, inputs="test_masks_predicted_cv", outputs="submission_cv", name="make_submission_cv"),
    ])
    return sum(folds, Pipeline([])) + ensemble
