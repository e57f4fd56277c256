"""femur_app.models.checkpoint.load_model: the network is built without random draws, then holds exactly the
weights and batch-norm statistics that were saved, for every registered architecture; ``load`` gives it as a
FoldModel that predicts with its own normalisation."""
import tracemalloc

import numpy as np
import pytest

from femur_app.data.normalise import Normalisation
from femur_app.errors import DataError
from femur_app.models import MODELS, build_model, checkpoint
from minicnn import serialize
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


def small_checkpoint(path):
    model = build_model("alexnet_bn", rng=np.random.default_rng(3), width=0.0625, input_size=SIZE)
    return checkpoint.save_model(path, model, architecture="alexnet_bn", model_kwargs={"width": 0.0625},
                                 input_size=SIZE, normalisation=Normalisation.from_dict({"mean": [0.1], "std": [0.2]}),
                                 threshold=0.5)


@pytest.mark.parametrize("dtype", [np.int8, np.bool_, np.complex64, np.str_, np.float16])
def test_an_array_of_another_dtype_is_refused_naming_it_not_cast(tmp_path, dtype):
    path = small_checkpoint(tmp_path / "model.npz")
    state, metadata = serialize.load(path)
    state["fc8.weight"] = np.ones(state["fc8.weight"].shape).astype(dtype)
    serialize.save(path, state, metadata)
    with pytest.raises(DataError) as error:
        checkpoint.load(path)
    assert str(error.value) == (f"{path}: array fc8.weight ({state['fc8.weight'].dtype}) is not float32 or float64 (expected the "
                                "float32 or float64 weights of a trained model)")


def test_an_array_of_another_shape_is_refused_naming_it(tmp_path):
    path = small_checkpoint(tmp_path / "model.npz")
    state, metadata = serialize.load(path)
    state["fc8.weight"] = state["fc8.weight"][:, :-1]
    serialize.save(path, state, metadata)
    with pytest.raises(DataError, match=r"layer parameter 'fc8.weight': the model has shape \(2, 256\), the loaded "
                                        r"state has shape \(2, 255\) \(expected the weights of the architecture"):
        checkpoint.load(path)


def test_arrays_larger_than_the_network_the_metadata_describe_are_refused_unread(tmp_path):
    """Small metadata with 64 MiB of arrays besides the weights: refused from the zip directory, before a
    byte of them is read - the crafted checkpoint of issue 29 could otherwise make a refusal read 2 GiB."""
    path = small_checkpoint(tmp_path / "model.npz")
    state, metadata = serialize.load(path)
    serialize.save(path, {**state, "extra": np.zeros(2**24, np.float32)}, metadata)
    del state
    tracemalloc.start()
    with pytest.raises(DataError) as error:
        checkpoint.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(error.value).startswith(f"{path}: unreadable model checkpoint ({path}: not a readable minicnn .npz "
                                       "file (its arrays declare ")
    assert "bytes; the network its metadata describe holds at most" in str(error.value)
    assert peak < 4 * 2**20


@pytest.mark.parametrize("width, size, need", [(4.0, 1024, "185.6"), (2.0, 1024, "46.9")])
def test_metadata_asking_for_more_memory_than_the_budget_are_refused_before_building(tmp_path, monkeypatch, width,
                                                                                     size, need):
    """Widths up to 4 and sizes up to 1024 are in bounds one by one; together they hold 15-61 GiB of weights."""
    monkeypatch.setenv("FEMUR_APP_MEMORY_GIB", "8")
    path = small_checkpoint(tmp_path / "model.npz")
    state, metadata = serialize.load(path)
    serialize.save(path, state, {**metadata, "model_kwargs": {"width": width}, "input_size": size})
    tracemalloc.start()
    with pytest.raises(DataError) as error:
        checkpoint.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(error.value) == (
        f"{path}: metadata model_kwargs {{'width': {width}}} and input_size {size}: needs about {need} GiB of memory, "
        "more than the budget of 8.0 GiB (FEMUR_APP_MEMORY_GIB=8) (expected smaller values; FEMUR_APP_MEMORY_GIB=N "
        "raises the budget to N GiB)")
    assert peak < 32 * 2**20


def test_googlenet_metadata_at_a_size_it_does_not_take_are_refused(tmp_path):
    path = small_checkpoint(tmp_path / "model.npz")
    state, metadata = serialize.load(path)
    serialize.save(path, state, {**metadata, "architecture": "googlenet", "input_size": 100})
    with pytest.raises(DataError) as error:
        checkpoint.load(path)
    assert str(error.value) == (f"{path}: metadata input_size is 100 (expected googlenet takes 32 to 1024 pixels and "
                                "a multiple of 32)")
