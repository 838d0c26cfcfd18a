import keras
import numpy as np
import pandas as pd
import pytest

from explainable_salt.segmentation import training
from explainable_salt.segmentation.losses import combined_loss, dice_loss, focal_loss, lovasz_hinge_loss
from explainable_salt.segmentation.models import build_model
from explainable_salt.segmentation.training import fit
from explainable_salt.tracking.metrics import history_as_metrics

RNG = np.random.default_rng(0)
TRUTH = np.zeros((2, 8, 8, 1), dtype=np.float32)
TRUTH[0, 2:6, 2:6] = 1.0


@pytest.mark.parametrize(
    "loss",
    [dice_loss, focal_loss, lovasz_hinge_loss, combined_loss({"bce": 1, "lovasz": 1})],
)
def test_a_loss_is_smaller_for_a_good_prediction_than_for_its_inverse(loss):
    good = np.clip(TRUTH, 0.05, 0.95)
    assert float(loss(TRUTH, good)) < float(loss(TRUTH, 1.0 - good))


def test_lovasz_hinge_is_zero_for_confident_correct_predictions():
    confident = np.where(TRUTH > 0, 0.999, 0.001).astype(np.float32)
    assert float(lovasz_hinge_loss(TRUTH, confident)) == pytest.approx(0.0, abs=1e-6)


def _lovasz_reference(truth: np.ndarray, probabilities: np.ndarray, hinge) -> float:
    """Berman et al.'s binary Lovász hinge, image by image, in plain numpy."""
    losses = []
    for y, p in zip(truth.reshape(len(truth), -1), probabilities.reshape(len(truth), -1)):
        logits = np.log(p) - np.log1p(-p)
        errors = 1.0 - logits * (2.0 * y - 1.0)
        order = np.argsort(-errors, kind="stable")
        y_sorted = y[order]
        jaccard = 1.0 - (y.sum() - np.cumsum(y_sorted)) / (y.sum() + np.cumsum(1.0 - y_sorted))
        jaccard[1:] = jaccard[1:] - jaccard[:-1]
        losses.append(float(np.dot(hinge(errors[order]), jaccard)))
    return float(np.mean(losses))


def _relu(e):
    return np.maximum(e, 0.0)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("lovasz", lambda y, p: _lovasz_reference(y, p, _relu)),
    ],
)
def test_lovasz_losses_match_a_numpy_reference(name, reference):
    truth = (RNG.random((3, 6, 6, 1)) < 0.4).astype(np.float32)
    truth[2] = 0.0  # an empty image: only its largest error counts
    probabilities = RNG.uniform(0.02, 0.98, truth.shape).astype(np.float32)
    loss = combined_loss({name: 1.0})
    assert float(loss(truth, probabilities)) == pytest.approx(reference(truth, probabilities), rel=1e-4)


def test_unknown_loss_names_the_known_ones():
    with pytest.raises(ValueError, match="lovasz"):
        combined_loss({"iou": 1.0})


def test_staged_training_logs_each_stage_and_the_validation_metric():
    x = RNG.normal(size=(24, 101, 101, 2)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.uint8)
    model = build_model("unet", 2, depth=1, base_filters=4)
    settings = {
        "stages": [
            {"loss_weights": {"bce": 1.0, "dice": 1.0}, "epochs": 2, "learning_rate": 0.01},
            {"loss_weights": {"lovasz": 1.0}, "epochs": 1, "learning_rate": 0.001},
        ],
        "batch_size": 8, "seed": 0,
    }
    history = fit(model, x[:16], y[:16], x[16:], y[16:], settings)
    assert history["stage"].tolist() == [1, 1, 2]
    assert history["epoch"].tolist() == [1, 2, 3]
    assert {"loss", "val_loss", "val_competition_metric"} <= set(history.columns)
    assert history["val_competition_metric"].between(0, 1).all()


def test_stage_time_limit_stops_before_an_epoch_would_end_past_the_limit(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(training.time, "perf_counter", lambda: now["t"])
    limit = training.StageTimeLimit(minutes=1.0)
    limit.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    limit.model.stop_training = False
    limit.on_train_begin()
    for epoch, end in enumerate([25.0, 50.0]):
        limit.on_epoch_begin(epoch)
        now["t"] = end
        limit.on_epoch_end(epoch, {})
        # after 25 s: 25 + 25 ≤ 60, go on; after 50 s: another 25-s epoch would end at 75 > 60
        assert limit.model.stop_training is (epoch == 1)


def test_no_stage_time_limit_never_stops():
    limit = training.StageTimeLimit(minutes=None)
    limit.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    limit.model.stop_training = False
    limit.on_train_begin()
    limit.on_epoch_begin(0)
    limit.on_epoch_end(0, {})
    assert limit.model.stop_training is False


def test_cosine_schedule_decays_over_epochs_or_minutes_whichever_runs_out_first(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(training.time, "perf_counter", lambda: now["t"])
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    schedule = training.CosineOverBudget(learning_rate=0.01, epochs=4, minutes=1.0)
    schedule.set_model(model)
    schedule.on_train_begin()
    rates = []
    for epoch, t in enumerate([0.0, 5.0, 45.0]):  # by epochs: 0, 1/4, 2/4 of the budget
        now["t"] = t  # by time: 0, 1/12, 3/4
        schedule.on_epoch_begin(epoch)
        logs = {}
        schedule.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    expected = [0.01, 0.005 * (1 + np.cos(np.pi / 4)), 0.005 * (1 + np.cos(np.pi * 0.75))]
    np.testing.assert_allclose(rates, expected, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0.25, 1.0])
def test_cosine_schedule_decays_to_alpha_times_the_rate_and_alpha_one_holds_it_constant(alpha):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    schedule = training.CosineOverBudget(learning_rate=0.01, epochs=2, minutes=None, alpha=alpha)
    schedule.set_model(model)
    schedule.on_train_begin()
    rates = []
    for epoch in range(3):  # 0, 1/2 and all of the budget
        schedule.on_epoch_begin(epoch)
        logs = {}
        schedule.on_epoch_end(epoch, logs)
        rates.append(logs["learning_rate"])
    np.testing.assert_allclose(rates, [0.01, 0.01 * (alpha + (1 - alpha) / 2), 0.01 * alpha], rtol=1e-6)
    with pytest.raises(ValueError, match=r"alpha .* \[0, 1\]; got 1.5"):
        training.CosineOverBudget(learning_rate=0.01, epochs=2, minutes=None, alpha=1.5)


def test_an_unknown_schedule_names_the_known_ones():
    with pytest.raises(ValueError, match="cosine"):
        training._schedule_callbacks({"learning_rate": 0.1, "epochs": 1, "schedule": "step"})


def test_staged_training_with_a_cosine_schedule_decays_the_rate_each_epoch():
    x = RNG.normal(size=(16, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.uint8)
    model = build_model("unet", 1, depth=1, base_filters=4)
    settings = {
        "stages": [{"loss_weights": {"bce": 1.0}, "epochs": 3, "learning_rate": 0.01, "schedule": "cosine"}],
        "batch_size": 8, "seed": 0,
    }
    history = fit(model, x[:12], y[:12], x[12:], y[12:], settings)
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.0075, 0.0025], rtol=1e-5)


def test_validation_loss_is_the_loss_keras_evaluates_for_the_kept_weights():
    x = RNG.normal(size=(16, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.uint8)
    model = build_model("unet", 1, depth=1, base_filters=4)
    settings = {"stages": [{"loss_weights": {"bce": 1.0, "dice": 1.0}, "epochs": 3, "learning_rate": 0.01}],
                "batch_size": 8, "seed": 0}
    history = fit(model, x[:12], y[:12], x[12:], y[12:], settings)
    kept = history.loc[history["val_competition_metric"].idxmax()]  # the first best epoch
    evaluated = model.evaluate(x[12:], y[12:, ..., None].astype(np.float32), batch_size=4, verbose=0)
    assert kept["val_loss"] == pytest.approx(evaluated, rel=1e-4)


@pytest.mark.parametrize("schedule, epochs_run", [("plateau", 2), ("cosine", 4)])
def test_only_a_plateau_stage_stops_early_a_cosine_stage_runs_its_budget(schedule, epochs_run):
    # at a learning rate of 0, and without batch-norm statistics, the model never changes
    x = RNG.normal(size=(12, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.uint8)
    model = build_model("unet", 1, depth=1, base_filters=4, batch_norm=False)
    stage = {"loss_weights": {"bce": 1.0}, "epochs": 4, "learning_rate": 0.0, "schedule": schedule}
    settings = {"stages": [{**stage, "patience": 1} if schedule == "plateau" else stage], "batch_size": 4, "seed": 0}
    history = fit(model, x[:8], y[:8], x[8:], y[8:], settings)
    assert len(history) == epochs_run
    assert history["val_competition_metric"].nunique() == 1


def test_training_targets_with_presence_say_which_images_hold_salt_and_flip_with_the_image():
    x = np.zeros((3, 101, 101, 1), dtype=np.float32)
    x[:, :, :50] = 1.0  # the left half marks where the mask is, to see flips follow
    y = np.zeros((3, 101, 101), dtype=np.uint8)
    y[0, :, :50] = 1
    y[2, :, :50] = 1
    images, (masks, presence) = next(iter(training.training_dataset(x, y, batch_size=3, seed=0, presence=True)))
    images, masks, presence = images.numpy(), masks.numpy(), presence.numpy()
    assert masks.shape == (3, 101, 101, 1) and presence.shape == (3, 1)
    np.testing.assert_array_equal(presence[:, 0], masks.max(axis=(1, 2, 3)))
    assert sorted(presence[:, 0].tolist()) == [0.0, 1.0, 1.0]
    for image, mask in zip(images, masks):
        if mask.any():
            np.testing.assert_array_equal(mask[..., 0], image[..., 0])  # flipped together


def test_presence_head_training_leaves_a_mask_only_model_and_logs_the_presence_loss():
    x = RNG.normal(size=(16, 101, 101, 2)).astype(np.float32)
    y = (x[..., 0] > 0.5).astype(np.uint8)
    y[:6] = 0  # some images without salt
    model = build_model("unet", 2, depth=2, base_filters=4)
    before = [w.copy() for w in model.get_weights()]
    settings = {"stages": [{"loss_weights": {"lovasz": 1.0}, "epochs": 2, "learning_rate": 0.01}],
                "batch_size": 12, "seed": 0, "presence_loss_weight": 0.5}
    history = fit(model, x[:12], y[:12], x[12:], y[12:], settings)
    assert [o.shape for o in model.outputs] == [(None, 101, 101, 1)]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    # one batch per epoch, so the epoch means add up exactly
    np.testing.assert_allclose(history["loss"], history["salt_mask_loss"] + 0.5 * history["salt_presence_loss"],
                               rtol=1e-3)


def test_augmentation_can_be_switched_off_and_rejects_bad_settings():
    x = RNG.normal(size=(4, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.uint8)
    data = training.training_dataset(x, y, batch_size=4, seed=0, augmentation={"flip": False})
    images, masks = next(iter(data))
    order = _source_order(x, images.numpy())
    np.testing.assert_array_equal(images.numpy(), x[order])  # only shuffled
    np.testing.assert_array_equal(masks.numpy()[..., 0], y[order])
    with pytest.raises(ValueError, match="min_crop"):  # crop augmentation was removed: not silently ignored
        training.training_dataset(x, y, batch_size=4, seed=0, augmentation={"min_crop": 0.8})


def _source_order(x: np.ndarray, images: np.ndarray) -> list[int]:
    """The index in ``x`` of each of ``images`` (unaugmented copies of its images)."""
    return [int(np.argmin(np.abs(x - image).sum(axis=(1, 2, 3)))) for image in images]


def test_training_pipeline_runs_without_tf_data_autotuning_and_yields_each_image_once_per_epoch():
    x = RNG.normal(size=(10, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.uint8)
    data = training.training_dataset(x, y, batch_size=4, seed=0, augmentation={"flip": False})
    assert data.options().autotune.enabled is False
    for _ in range(2):  # each pass is a new iterator, as each epoch of ``fit`` is
        batches = [batch.numpy() for batch, _ in data]
        assert [len(batch) for batch in batches] == [4, 4, 2]
        images = np.concatenate(batches)
        order = _source_order(x, images)
        assert sorted(order) == list(range(10))
        np.testing.assert_array_equal(images, x[order])


def test_a_stage_with_an_unknown_setting_is_refused():
    x = RNG.normal(size=(4, 101, 101, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.uint8)
    settings = {"stages": [{"loss_weights": {"bce": 1.0}, "epochs": 1, "learning_rate": 0.01, "average_from": 0.5}],
                "batch_size": 4, "seed": 0}
    with pytest.raises(ValueError, match="average_from"):
        fit(build_model("unet", 1, depth=1, base_filters=2), x[:2], y[:2], x[2:], y[2:], settings)


def test_history_metrics_skip_the_empty_cells_of_a_column_kept_for_some_epochs_only():
    history = pd.DataFrame({"epoch": [1, 2], "stage": [1, 1], "loss": [0.5, 0.4],
                            "averaged_val_competition_metric": [np.nan, 0.7]})
    metrics = history_as_metrics(history)
    assert metrics == {"loss": [{"value": 0.5, "step": 1}, {"value": 0.4, "step": 2}],
                       "averaged_val_competition_metric": [{"value": 0.7, "step": 2}]}
