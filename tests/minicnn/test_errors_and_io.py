"""Bad input gets a clear error naming the layer and the shapes; checkpoints round-trip without pickle."""
import numpy as np
import pytest

from minicnn import serialize
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.losses import softmax_cross_entropy


def small_model(seed=0, width=4):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2d(1, width, 3, padding=1, rng=rng, name="conv1"), BatchNorm2d(width, name="bn1"), ReLU(),
                      MaxPool2d(2), Flatten(), Linear(width * 4 * 4, 2, rng=rng, name="fc"))


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 8, 8), np.float32), r"Conv2d 'conv1': expected a 4-D input \(N, C, H, W\), got shape \(2, 8, 8\)"),
    (np.zeros((2, 3, 8, 8), np.float32), r"Conv2d 'conv1': expected 1 channels \(axis 1\), got shape \(2, 3, 8, 8\)"),
    (np.zeros((2, 1, 7, 8), np.float32), r"MaxPool2d: output height \(7 \+ 0 \+ 0 - 2\) / 2 \+ 1 = 3.5 is not an integer"),
    (np.zeros((2, 1, 8, 6), np.float32), r"Linear 'fc': expected 64 channels \(axis 1\), got shape \(2, 48\)"),
])
def test_shape_errors_name_the_layer(x, match):
    with pytest.raises(ValueError, match=match):
        small_model().forward(x)


def test_type_errors():
    with pytest.raises(TypeError, match=r"Conv2d 'conv1': input dtype float64 differs from weight dtype float32"):
        small_model().forward(np.zeros((1, 1, 8, 8)))
    with pytest.raises(TypeError, match="expected a floating-point array, got dtype int64"):
        small_model().forward(np.zeros((1, 1, 8, 8), dtype=np.int64))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel 5 along height is larger than the padded input \(2 \+ 1 \+ 1 = 4\)"):
        Conv2d(1, 1, 5, padding=1).forward(np.zeros((1, 1, 2, 9), np.float32))


def test_backward_before_forward():
    for layer in (Conv2d(1, 1, 3, name="c"), BatchNorm2d(2), ReLU(), MaxPool2d(2), Linear(2, 2), Dropout(0.5), Flatten()):
        with pytest.raises(ValueError, match=r"backward\(\) called before forward\(\)"):
            layer.backward(np.zeros((1, 1, 1, 1), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="p_drop is the drop probability and must lie in"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="padding must be non-negative ints"):
        MaxPool2d(2, padding=-1)
    with pytest.raises(ValueError, match="layer names must be unique"):
        Sequential(ReLU(name="a"), ReLU(name="a"))


def test_loss_input_errors():
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got min 0 max 2"):
        softmax_cross_entropy(np.zeros((2, 2)), np.array([0, 2]))
    with pytest.raises(ValueError, match=r"labels must be 3 integers"):
        softmax_cross_entropy(np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]))


def test_check_finite_names_the_first_bad_layer():
    model = small_model()
    model.check_finite = True
    model.find("bn1").params["gamma"][0] = np.nan
    with pytest.raises(ValueError, match=r"BatchNorm2d 'bn1': output has 128 non-finite values"):
        model.forward(np.ones((2, 1, 8, 8), np.float32))


def test_loss_is_stable_for_huge_logits():
    loss, dlogits = softmax_cross_entropy(np.array([[1000.0, -1000.0], [0.0, 800.0]]), np.array([0, 0]))
    assert loss == pytest.approx(400.0)  # (0 + 800) / 2
    np.testing.assert_allclose(dlogits, [[0, 0], [-0.5, 0.5]])


def test_save_load_roundtrip(tmp_path):
    model = small_model(seed=1)
    model.forward(np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32))  # moves running stats
    path = serialize.save_model(model, tmp_path / "m.npz", metadata={"arch": "small", "threshold": 0.5})
    fresh = small_model(seed=2)
    assert serialize.load_model(fresh, path) == {"arch": "small", "threshold": 0.5}
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value)
    assert set(model.state_dict()) == {"conv1.weight", "conv1.bias", "bn1.gamma", "bn1.beta", "bn1.running_mean",
                                       "bn1.running_var", "fc.weight", "fc.bias"}


def test_load_shape_mismatch_names_layer_and_shapes(tmp_path):
    path = serialize.save_model(small_model(width=4), tmp_path / "m.npz")
    with pytest.raises(ValueError, match=r"'conv1.weight': the model has shape \(6, 1, 3, 3\), the loaded state has shape \(4, 1, 3, 3\)"):
        serialize.load_model(small_model(width=6), path)


def test_load_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([object()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz: not a readable minicnn .npz file"):
        serialize.load(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a readable"):
        serialize.load(tmp_path / "junk.npz")


def test_write_atomic_keeps_the_old_file_on_error_and_leaves_no_temporary(tmp_path):
    from minicnn.serialize import write_atomic, write_text_atomic

    target = tmp_path / "sub" / "out.txt"
    write_text_atomic(target, "first")
    with pytest.raises(RuntimeError):
        with write_atomic(target) as f:
            f.write(b"half of the second")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]
    write_text_atomic(target, "second \u00e9")
    assert target.read_text(encoding="utf-8") == "second \u00e9"


def test_sgd_state_round_trip_copies_and_converts_the_momentum_buffers():
    from minicnn.optim import SGD

    rng = np.random.default_rng(30)
    model = Sequential(Linear(3, 2, rng=rng))
    optimizer = SGD(model, lr=0.1, momentum=0.9)
    model.forward(rng.standard_normal((4, 3)).astype(np.float32))
    model.backward(np.ones((4, 2), np.float32))
    optimizer.step()
    state = {k: (v.astype(np.float64) if hasattr(v, "astype") else v) for k, v in optimizer.state_dict().items()}
    fresh = SGD(model, lr=0.5, momentum=0.9)
    fresh.load_state_dict(state)
    assert fresh.lr == 0.1
    for v, saved in zip(fresh.velocity, optimizer.velocity):
        assert v.dtype == np.float32 and not np.shares_memory(v, saved)  # the parameter's dtype, a copy
        np.testing.assert_array_equal(v, saved)
    with pytest.raises(ValueError, match=r"velocity 0 of Linear.weight has shape \(3, 2\), expected \(2, 3\)"):
        fresh.load_state_dict({"lr": 0.1, "velocity.0": np.zeros((3, 2))})
