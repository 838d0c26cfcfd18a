import numpy as np
import pytest
from skimage.filters import sobel

from explainable_salt.attributes import ATTRIBUTES, amplitude, compute_attributes, sobel_magnitude


@pytest.fixture(scope="module")
def images(synthetic_raw):
    train_images = synthetic_raw[0]
    return np.stack([train_images[k][..., 0] for k in sorted(train_images)[:8]])


def test_sobel_matches_scikit_image_per_image(images):
    reference = np.stack([sobel(image.astype(np.float64)) for image in images])
    np.testing.assert_allclose(sobel_magnitude(images), reference, rtol=1e-5, atol=1e-3)


def test_sobel_does_not_mix_neighbouring_images(images):
    alone = sobel_magnitude(images[:1])
    in_stack = sobel_magnitude(images)[:1]
    np.testing.assert_array_equal(alone, in_stack)


def test_amplitude_maps_grey_levels_to_minus_one_one():
    np.testing.assert_allclose(amplitude(np.array([[[0, 255]]], dtype=np.uint8)), [[[-1.0, 1.0]]])


def test_channels_stack_in_the_requested_order(images):
    stacked = compute_attributes(images, ["sobel", "amplitude"])
    assert stacked.shape == (*images.shape, 2) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[..., 1], amplitude(images))


def test_unknown_channel_lists_the_registry(images):
    with pytest.raises(ValueError, match="coherence.*amplitude"):
        compute_attributes(images, ["coherence"])


def test_registry_holds_at_least_amplitude_and_sobel():
    assert {"amplitude", "sobel"} <= set(ATTRIBUTES)
