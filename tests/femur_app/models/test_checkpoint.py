"""femur_app.models.checkpoint.load_model: the network is built without random draws, then holds exactly the
weights and batch-norm statistics that were saved, for every registered architecture; ``load`` gives it as a
FoldModel that predicts with its own normalisation."""
import numpy as np
import pytest

from femur_app.data.normalise import Normalisation
from femur_app.models import MODELS, build_model, checkpoint
from minicnn.layers import Conv2d, Dropout, Linear
from minicnn.losses import softmax

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


def test_a_network_to_be_loaded_starts_at_zero_and_its_dropout_is_seeded(tmp_path):
    model = build_model("alexnet_bn", rng=checkpoint.ZeroWeights(), width=0.0625, input_size=SIZE)
    weighted = [layer for _, layer in model.named_layers() if isinstance(layer, (Conv2d, Linear))]
    assert len(weighted) == 8  # conv1-5, fc6-8
    assert all(layer.params["weight"].dtype == np.float32 and not layer.params["weight"].any() for layer in weighted)
    path = checkpoint.save_model(tmp_path / "model.npz", model, architecture="alexnet_bn",
                                 model_kwargs={"width": 0.0625}, input_size=SIZE,
                                 normalisation=Normalisation.from_dict({"mean": [0.1], "std": [0.2]}), threshold=0.5)
    loaded, _ = checkpoint.load_model(path)
    dropouts = [layer for _, layer in loaded.named_layers() if isinstance(layer, Dropout)]
    assert len(dropouts) == 2  # after fc6 and fc7: their masks come from a generator seeded 0
    assert all(layer.rng.random(4).tolist() == np.random.default_rng(0).random(4).tolist() for layer in dropouts)


def test_load_gives_the_fold_model_with_what_predicting_needs(tmp_path):
    model = build_model("alexnet_bn", rng=np.random.default_rng(3), width=0.0625, input_size=SIZE)
    path = checkpoint.save_model(tmp_path / "model.npz", model, architecture="alexnet_bn",
                                 model_kwargs={"width": 0.0625}, input_size=SIZE,
                                 normalisation=Normalisation.from_dict({"mean": [0.1], "std": [0.2]}), threshold=0.3,
                                 extra={"fold": 4, "preprocess": {"roi": "box"}})
    loaded = checkpoint.load(path)
    assert (loaded.fold, loaded.threshold, loaded.architecture, loaded.input_size) == (4, 0.3, "alexnet_bn", SIZE)
    assert loaded.preprocess == {"roi": "box"}
    assert (loaded.normalisation.mean.tolist(), loaded.normalisation.std.tolist()) == ([np.float32(0.1)], [np.float32(0.2)])
    x = np.random.default_rng(5).random((3, 1, SIZE, SIZE)).astype(np.float32)
    expected = softmax(model.forward((x - np.float32(0.1)) / np.float32(0.2), train=False))[:, 1]
    np.testing.assert_allclose(loaded.predict(x, batch_size=2), expected, rtol=1e-6)
