"""The inference pipeline run with SequentialRunner: synthetic sections of 101 × 101 and 300 × 400,
a tiny model, outputs written by the catalog's own datasets into a scratch folder."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from PIL import Image

from explainable_salt.datasets import PNGSetDataset, SectionSetDataset
from explainable_salt.pipelines.feature_engineering.nodes import build_model_inputs
from explainable_salt.pipelines.inference import create_pipeline
from explainable_salt.pipelines.modelling.nodes import predict_test_masks
from explainable_salt.segmentation.models import build_model
from explainable_salt.seismic.attributes import compute_attributes
from explainable_salt.seismic.normalisation import fit_normaliser
from explainable_salt.stacks import ImageStack
from explainable_salt.tgs import synthetic
from explainable_salt.tgs.rle import rle_decode

BUILT = ["amplitude", "energy", "sobel", "depth"]     # what feature_engineering built
FEATURES = {"channels": BUILT, "attribute_settings": {"energy": {"window": 9}}}
PREDICTION = {"batch_size": 8, "flip_tta": True, "chunk_size": 2}
EXPLAINABILITY = {"max_exact_channels": 8, "n_permutations": 4, "seed": 11, "images_per_call": 8, "batch_size": 64,
                  "background": {"seed": 7}}
RULE = {"threshold": 0.5, "min_area": 5, "peak_threshold": 0.0}
OUTPUTS = {"inference_masks": "png", "inference_probabilities": "npy", "inference_explanations": "npz"}


def _params(max_images=None, overlap=50, per_tile=True):
    return {"tile_overlap": overlap, "explanations": {"max_images": max_images, "chunk_size": 2,
                                                      "additivity_tolerance": 1e-5, "background_per_tile": per_tile,
                                                      "background_pool": 5}}


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so tests can read every output afterwards."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def sections():
    small = synthetic.generate(3, seed=1, shape_probabilities={"none": 0.5, "dome": 0.5})
    large = synthetic.generate(1, seed=2, shape_probabilities={"dome": 1.0}, size=(300, 400))
    images = {i: im for i, im in zip(small.ids, small.images)}
    images[large.ids[0]] = np.repeat(large.images[0][..., None], 3, axis=-1)  # RGB with equal channels
    depths = pd.DataFrame({"id": small.ids + large.ids, "z": np.r_[small.depths, large.depths]})
    return images, depths, large.ids[0]


@pytest.fixture(scope="module")
def trained(sections):
    """A tiny untrained model on two of the four built channels, and what the run needs with it."""
    images, depths, _ = sections
    grey = np.stack([im for im in images.values() if im.shape == (101, 101)])
    normaliser = fit_normaliser(compute_attributes(grey, BUILT, depths=np.full(len(grey), 500.0)), BUILT)
    channels = ["amplitude", "sobel"]
    background = np.random.default_rng(0).normal(size=(2, 101, 101, 2)).astype(np.float32)
    built = np.random.default_rng(1).normal(size=(8, 101, 101, len(BUILT))).astype(np.float32)
    pool_ids = [f"t{k}" for k in range(8)]
    return {
        "salt_model": build_model("unet", 2, depth=1, base_filters=2),
        "salt_model_channels": channels,
        "channel_normaliser": normaliser,
        "decision_rule": RULE,
        "shapley_background": ImageStack(["b0", "b1"], background, tuple(channels)),
        "shapley_background_weights": [0.5, 0.5],
        "model_inputs": ImageStack(pool_ids, built, tuple(BUILT)),
        "manifest": pd.DataFrame({"id": pool_ids, "split": ["train"] * 6 + ["validation", "internal_test"]}),
    }


def run_inference(folder, images, depths, trained, params, execution=None):
    """Run the pipeline; return the submission and checks (the other outputs are files in ``folder``)."""
    catalog = DataCatalog({
        "inference_images_raw": MemoryDataset(images, copy_mode="assign"),
        "inference_depths": MemoryDataset(depths),
        **{name: MemoryDataset(value, copy_mode="assign") for name, value in trained.items()},
        "params:feature_engineering": MemoryDataset(FEATURES),
        "params:modelling.inference": MemoryDataset(PREDICTION),
        "params:explainability": MemoryDataset(EXPLAINABILITY),
        "params:inference": MemoryDataset(params),
        "params:execution": MemoryDataset(execution or {"mode": "in_process"}),
        **{name: SectionSetDataset(str(folder / name), format) for name, format in OUTPUTS.items()},
        **{name: KeptDataset() for name in ("inference_submission", "inference_explanation_checks")},
    })
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog.load("inference_submission"), catalog.load("inference_explanation_checks")


@pytest.fixture(scope="module")
def run(tmp_path_factory, sections, trained):
    folder = tmp_path_factory.mktemp("inference")
    images, depths, _ = sections
    submission, checks = run_inference(folder, images, depths, trained, _params())
    return folder, submission, checks


def _load(folder, name):
    return SectionSetDataset(str(folder / name), OUTPUTS[name]).load()


def _fingerprint(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_section_gets_a_0_255_mask_and_a_probability_map_of_its_own_size(run, sections):
    folder, _, _ = run
    images, _, large = sections
    masks, probabilities = _load(folder, "inference_masks"), _load(folder, "inference_probabilities")
    assert set(masks) == set(probabilities) == set(images)
    for section_id, image in images.items():
        assert masks[section_id].shape == probabilities[section_id].shape == image.shape[:2]
        assert set(np.unique(masks[section_id])) <= {0, 255}
        assert probabilities[section_id].dtype == np.float32
        assert np.array_equal(masks[section_id] == 255, probabilities[section_id] > RULE["threshold"]) or \
            masks[section_id].sum() == 0  # emptied below the minimum area
    assert masks[large].shape == (300, 400)


def test_the_submission_has_one_row_per_section_whose_rle_decodes_to_its_mask(run, sections):
    folder, submission, _ = run
    masks = _load(folder, "inference_masks")
    assert list(submission.columns) == ["id", "rle_mask"] and list(submission["id"]) == sorted(sections[0])
    for row in submission.itertuples():
        assert np.array_equal(rle_decode(row.rle_mask, masks[row.id].shape), masks[row.id] // 255)


def test_the_300_by_400_section_is_explained_and_additive_at_every_stitched_pixel(run, sections):
    folder, _, checks = run
    explanation = _load(folder, "inference_explanations")[sections[2]]
    assert explanation["contributions"].shape == (300, 400, 2)
    assert list(explanation["channels"]) == ["amplitude", "sobel"]
    residual = (explanation["expected_value"] + explanation["contributions"].astype(np.float64).sum(axis=-1)
                - explanation["probability"])
    assert np.abs(residual).max() <= 1e-5
    assert checks["inference.max_additivity_error"] <= 1e-5 and checks["inference.n_explained"] == 4


def test_each_tile_of_a_large_section_has_its_own_background_and_one_tile_sections_the_shared_one(
        tmp_path, run, sections, trained):
    folder, _, _ = run
    images, depths, large = sections
    run_inference(tmp_path, images, depths, trained, _params(per_tile=False))
    per_tile, shared = _load(folder, "inference_explanations"), _load(tmp_path, "inference_explanations")
    for section_id, image in images.items():
        np.testing.assert_array_equal(per_tile[section_id]["probability"], shared[section_id]["probability"])
        same = np.array_equal(per_tile[section_id]["expected_value"], shared[section_id]["expected_value"])
        assert same == (image.shape[:2] == (101, 101)), section_id  # only the large section plays other draws
    # with the shared background, the 300 x 400 section's expected value repeats the tiles' one map
    from explainable_salt.segmentation.forward import forward_pass
    from explainable_salt.segmentation.tiling import blend, plan_tiles

    tiling = plan_tiles((300, 400), _params()["tile_overlap"])
    one_map = forward_pass(trained["salt_model"])(trained["shapley_background"].data).astype(np.float64).mean(axis=0)
    stitched = blend(np.broadcast_to(one_map, (len(tiling), 101, 101)), tiling)[0]
    np.testing.assert_allclose(shared[large]["expected_value"], stitched, atol=1e-5)
    assert np.abs(per_tile[large]["expected_value"] - stitched).max() > 1e-3


def test_only_the_first_max_images_sections_in_id_order_are_explained(tmp_path, sections, trained):
    images, depths, _ = sections
    run_inference(tmp_path, images, depths, trained, _params(max_images=2))
    assert sorted(_load(tmp_path, "inference_explanations")) == sorted(images)[:2]


def test_zero_sections_to_explain_is_refused_naming_the_parameter(tmp_path, sections, trained):
    images, depths, _ = sections
    with pytest.raises(Exception, match=r"inference.explanations.max_images must be a positive number .* not 0"):
        run_inference(tmp_path, images, depths, trained, _params(max_images=0))


def test_modelling_predicts_the_same_test_masks_as_the_inference_pipeline(run, sections, trained):
    folder, _, _ = run
    images, depths, _ = sections
    ids = sorted(i for i, im in images.items() if im.shape == (101, 101))
    grey = ImageStack(ids, np.stack([images[i] for i in ids]))
    inputs = next(iter(build_model_inputs(grey, depths, trained["channel_normaliser"],
                                          {**FEATURES, "chunk_size": 10}))).chunk
    masks = predict_test_masks(trained["salt_model"], trained["salt_model_channels"], inputs, RULE, PREDICTION)
    inferred = _load(folder, "inference_masks")
    assert np.array_equal(masks.data * 255, np.stack([inferred[i] for i in ids]))


def _bad(images, kind):
    images = dict(images)
    victim = sorted(images)[1]
    if kind == "small":
        images[victim] = images[victim][:100]
    elif kind == "colour":
        image = np.repeat(images[victim][..., :1] if images[victim].ndim == 3 else images[victim][..., None], 3, axis=-1)
        image[..., 0] //= 2
        images[victim] = image
    return images, f"{victim}.png"


@pytest.mark.parametrize("kind, message", [("small", "at least 101 x 101"), ("colour", "colour image")])
def test_a_bad_section_names_its_file_and_leaves_earlier_outputs_intact(run, sections, trained, kind, message):
    folder, _, _ = run
    before = _fingerprint(folder)
    images, name = _bad(sections[0], kind)
    with pytest.raises(Exception, match=f"{name}.*{message}"):
        run_inference(folder, images, sections[1], trained, _params())
    assert _fingerprint(folder) == before


def test_a_missing_depth_names_the_file_when_the_model_needs_depths(tmp_path, sections, trained):
    images, depths, _ = sections
    victim = sorted(images)[0]
    with_depth = {**trained, "salt_model": build_model("unet", 2, depth=1, base_filters=2),
                  "salt_model_channels": ["amplitude", "depth"],
                  "shapley_background": ImageStack(["b0"], np.zeros((1, 101, 101, 2), np.float32), ("amplitude", "depth")),
                  "shapley_background_weights": [1.0]}
    with pytest.raises(Exception, match=f"depth.*{victim}.png"):
        run_inference(tmp_path, images, depths[depths["id"] != victim], with_depth, _params())
    assert not (tmp_path / "inference_masks").exists()


def test_an_unreadable_file_in_a_folder_of_sections_is_named(tmp_path):
    for name, payload in {"a.png": None, "b.png": b"not a png"}.items():
        if payload is None:
            Image.fromarray(np.zeros((120, 130), np.uint8)).save(tmp_path / name)
        else:
            (tmp_path / name).write_bytes(payload)
    with pytest.raises(Exception, match="b.png"):
        PNGSetDataset(folder=str(tmp_path), archive=str(tmp_path)).load()


def test_sections_on_a_local_dask_cluster_get_the_in_process_masks(run, tmp_path, sections, trained):
    images, depths, _ = sections
    run_inference(tmp_path, images, depths, trained, _params(max_images=1),
                  execution={"mode": "local_cluster", "n_workers": 1, "threads_per_worker": 1})
    in_process, on_cluster = _load(run[0], "inference_masks"), _load(tmp_path, "inference_masks")
    assert all(np.array_equal(in_process[i], on_cluster[i]) for i in images)


@pytest.mark.parametrize("shape, expected", [((9, 101, 101), 500), ((9, 300, 400), 42), ((9, 1000, 1000), 5),
                                             ((9, 5000, 5000), 1)])
def test_a_chunk_of_sections_holds_about_as_many_pixels_as_chunk_size_images(shape, expected):
    from explainable_salt.pipelines.inference.nodes import sections_per_chunk

    assert sections_per_chunk(500, shape) == expected
