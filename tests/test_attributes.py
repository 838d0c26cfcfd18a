"""Every registered attribute against a reference implementation, on real images where present."""

import io
import zipfile

import bruges.attribute
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter1d, generic_filter, uniform_filter
from scipy.signal import hilbert
from skimage.filters import sobel as skimage_sobel
from skimage.filters.rank import entropy
from skimage.morphology import disk

from explainable_salt.seismic import attributes as A


@pytest.fixture(scope="module")
def images(tgs_dir):
    """Six real training images, grey levels ``(6, 101, 101) uint8``."""
    with zipfile.ZipFile(tgs_dir / "train.zip") as archive:
        names = sorted(n for n in archive.namelist() if n.startswith("images/") and n.endswith(".png"))
        picked = names[::500][:6]
        return np.stack([np.asarray(Image.open(io.BytesIO(archive.read(n))))[..., 0] for n in picked])


def _traces(image: np.ndarray) -> np.ndarray:
    """bruges wants (trace, sample): the transpose of our (depth, trace) image, in float64."""
    return A.amplitude(image).T.astype(np.float64)


def _gradient_energy(image: np.ndarray) -> np.ndarray:
    x = A.amplitude(image).astype(np.float64)
    squared = sum(gaussian_filter1d(x, 1.0, axis=a, order=1) ** 2 for a in (0, 1))
    return uniform_filter(squared, (9, 3), mode="mirror")


def test_energy_matches_bruges_everywhere_with_its_zero_padding(images):
    ours = A.energy(images, window=9, mode="constant")
    for image, mine in zip(images, ours):
        reference = bruges.attribute.energy(_traces(image), duration=9).T
        np.testing.assert_allclose(mine, reference, atol=1e-6)


def test_energy_with_reflect_edges_matches_bruges_away_from_the_top_and_bottom(images):
    ours = A.energy(images, window=9, mode="reflect")
    reference = bruges.attribute.energy(_traces(images[0]), duration=9).T
    np.testing.assert_allclose(ours[0, 4:-4], reference[4:-4], atol=1e-6)


def test_similarity_matches_bruges_gst(images):
    ours = A.similarity(images[:3], window=9, step_out=1, sigma=1.0)
    for image, mine in zip(images[:3], ours):
        reference = bruges.attribute.similarity(
            _traces(image), duration=9, dt=1, step_out=1, kind="gst", sigma=1
        ).T
        # Where a window holds no gradient beyond rounding noise, bruges returns 0/0 = NaN or the
        # coherence of that noise; ours returns 0. Compare everywhere else.
        flat = _gradient_energy(image) < 1e-10
        np.testing.assert_allclose(mine[~flat], reference[~flat], atol=1e-5)
        assert (mine[flat] == 0).all() and flat.mean() < 0.05


def test_similarity_is_zero_not_nan_where_there_is_no_gradient():
    flat = np.full((1, 101, 101), 90, dtype=np.uint8)
    assert np.array_equal(A.similarity(flat), np.zeros((1, 101, 101), dtype=np.float32))


def test_sobel_matches_scikit_image(images):
    reference = np.stack([skimage_sobel(image.astype(np.float64)) for image in images])
    np.testing.assert_allclose(A.sobel(images), reference, rtol=1e-5, atol=1e-3)


def test_envelope_and_cos_phase_match_scipy_hilbert(images):
    analytic = hilbert(A.amplitude(images).astype(np.float64), axis=1)
    np.testing.assert_allclose(A.envelope(images), np.abs(analytic), atol=1e-5)
    np.testing.assert_allclose(A.cos_phase(images), np.cos(np.angle(analytic)), atol=1e-4)


def test_envelope_matches_bruges(images):
    reference = bruges.attribute.envelope(_traces(images[0])).T
    np.testing.assert_allclose(A.envelope(images[:1])[0], reference, atol=1e-5)


def test_local_variance_matches_a_per_pixel_variance_filter(images):
    reference = generic_filter(A.amplitude(images[0]).astype(np.float64), np.var, size=7, mode="reflect")
    np.testing.assert_allclose(A.local_variance(images[:1], window=7)[0], reference, atol=1e-6)


def test_local_entropy_matches_scikit_image_per_image(images):
    reference = entropy(images[1], disk(4))
    np.testing.assert_allclose(A.local_entropy(images[:2], radius=4)[1], reference, atol=1e-6)


def test_depth_is_a_constant_plane_per_image(images):
    planes = A.depth(images[:2], depths=np.array([120.0, 870.0]))
    assert planes.shape == (2, 101, 101)
    assert (planes[0] == 120).all() and (planes[1] == 870).all()


@pytest.mark.parametrize("name", [n for n, a in A.ATTRIBUTES.items() if not a.needs_depth])
def test_no_attribute_mixes_neighbouring_images(images, name):
    alone = A.ATTRIBUTES[name].function(images[2:3])
    in_stack = A.ATTRIBUTES[name].function(images)[2:3]
    np.testing.assert_allclose(alone, in_stack, atol=1e-6)


@pytest.mark.parametrize("name", list(A.ATTRIBUTES))
def test_every_attribute_is_finite_on_blank_and_saturated_images(name):
    extremes = np.stack([np.zeros((101, 101)), np.full((101, 101), 255)]).astype(np.uint8)
    channels = A.compute_attributes(extremes, [name], depths=np.array([1.0, 2.0]))
    assert np.isfinite(channels).all()


def test_channels_stack_in_the_requested_order(images):
    stacked = A.compute_attributes(images, ["sobel", "amplitude"])
    assert stacked.shape == (*images.shape, 2) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[..., 1], A.amplitude(images))


def test_unknown_channel_lists_the_registry():
    with pytest.raises(ValueError, match="coherence.*amplitude"):
        A.compute_attributes(np.zeros((1, 101, 101), np.uint8), ["coherence"])


def test_depth_channel_without_depths_is_an_error():
    with pytest.raises(ValueError, match="needs the images' depths"):
        A.compute_attributes(np.zeros((1, 101, 101), np.uint8), ["depth"])


def test_registry_has_at_least_seven_attributes_including_the_original_four():
    assert len(A.ATTRIBUTES) >= 7
    assert {"amplitude", "energy", "similarity", "sobel"} <= set(A.ATTRIBUTES)
