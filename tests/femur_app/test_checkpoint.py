"""femur_app.models.checkpoint.load_model: the network is built without random draws, then holds exactly the
weights and batch-norm statistics that were saved, for every registered architecture."""
import numpy as np
import pytest

from femur_app.data.normalise import Normalisation
from femur_app.models import MODELS, build_model, checkpoint
from minicnn.layers import Conv2d, Linear

SIZE = 64  # googlenet takes a multiple of 32


@pytest.mark.parametrize("architecture", sorted(MODELS))
def test_loaded_model_holds_exactly_the_saved_state(architecture, tmp_path):
    model = build_model(architecture, rng=np.random.default_rng(3), width=0.0625, input_size=SIZE)
    model.forward(np.random.default_rng(4).standard_normal((3, 1, SIZE, SIZE)).astype(np.float32))  # BN statistics
    path = checkpoint.save_model(tmp_path / "model.npz", model, architecture=architecture,
                                 model_kwargs={"width": 0.0625}, input_size=SIZE,
                                 normalisation=Normalisation.from_dict({"mean": [0.1], "std": [0.2]}), threshold=0.5)
    loaded, _ = checkpoint.load_model(path)
    saved, restored = model.state_dict(), loaded.state_dict()
    assert sorted(saved) == sorted(restored)
    for name, value in saved.items():
        assert restored[name].dtype == value.dtype and np.array_equal(restored[name], value), name
    x = np.random.default_rng(5).standard_normal((2, 1, SIZE, SIZE)).astype(np.float32)
    assert np.array_equal(loaded.forward(x, train=False), model.forward(x, train=False))


def test_weights_to_be_loaded_start_at_zero_and_other_draws_are_seeded():
    rng = checkpoint.WeightsToBeLoaded()
    model = build_model("alexnet_bn", rng=rng, width=0.0625, input_size=SIZE)
    weighted = [layer for _, layer in model.named_layers() if isinstance(layer, (Conv2d, Linear))]
    assert len(weighted) == 8  # conv1-5, fc6-8
    assert all(layer.params["weight"].dtype == np.float32 and not layer.params["weight"].any() for layer in weighted)
    assert rng.random(4).tolist() == np.random.default_rng(0).random(4).tolist()  # dropout's masks
