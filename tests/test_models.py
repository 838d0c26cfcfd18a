import numpy as np
import pytest

from explainable_salt.models import build_model


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_unet_maps_101_by_101_channels_to_101_by_101_probabilities(depth):
    model = build_model("unet", input_channels=3, depth=depth, base_filters=4)
    out = model.predict(np.random.rand(2, 101, 101, 3).astype(np.float32), verbose=0)
    assert out.shape == (2, 101, 101, 1)
    assert (out >= 0).all() and (out <= 1).all()


def test_unknown_architecture_names_the_zoo():
    with pytest.raises(ValueError, match="unet"):
        build_model("segformer", input_channels=2)
