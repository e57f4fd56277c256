"""The device switch: clear errors without CuPy or without a GPU, nothing imported or moved behind the user's
back, and the model walk of to_gpu/to_cpu (checked with a stand-in CuPy, since there is no GPU here)."""
import subprocess
import sys
import types

import numpy as np
import pytest

from minicnn import backend
from minicnn.layers import BatchNorm2d, Concat, Conv2d, Flatten, Linear, ReLU, Sequential


@pytest.fixture(autouse=True)
def restore_backend():
    yield
    backend._current = "numpy"


def _has_gpu():
    try:
        backend.cupy_module()
        return True
    except backend.GPUUnavailableError:
        return False


def test_default_is_numpy():
    assert backend.current() == "numpy" and backend.xp() is np
    backend.use("numpy")
    assert backend.current() == "numpy"


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="'numpy', 'cupy'"):
        backend.use("cuda")


def test_without_cupy_the_gpu_asks_for_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail as if it were not installed
    for ask in (lambda: backend.use("cupy"), lambda: backend.to_gpu(np.ones(3))):
        with pytest.raises(backend.GPUUnavailableError, match=r"not installed.*pip install minicnn\[gpu\]"):
            ask()
    assert backend.current() == "numpy"  # a failed use() changes nothing


@pytest.mark.skipif(_has_gpu(), reason="a GPU is present: the no-GPU error cannot happen")
def test_cupy_without_a_gpu_refuses_instead_of_falling_back():
    pytest.importorskip("cupy")
    with pytest.raises(backend.GPUUnavailableError, match=r"cannot use a GPU.*does not fall back.*minicnn\[gpu\]"):
        backend.use("cupy")
    with pytest.raises(backend.GPUUnavailableError):
        backend.to_gpu(np.ones(3))
    assert backend.current() == "numpy"


def test_selfcheck_without_a_gpu_exits_2_with_the_reason(monkeypatch, capsys):
    from minicnn.selfcheck import main

    monkeypatch.setitem(sys.modules, "cupy", None)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: selfcheck: ") and err.count("\n") == 1  # one line, as every command's errors
    assert "pip install minicnn[gpu]" in err and "--compile-only or --emulate" in err


def test_selfcheck_usage_error_is_one_line_with_status_2():
    result = subprocess.run([sys.executable, "-m", "minicnn.selfcheck", "--bogus"], capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: unrecognized arguments: --bogus") and result.stderr.count("\n") == 1


def test_importing_minicnn_does_not_import_cupy():
    code = ("import sys, minicnn, minicnn.backend, minicnn.layers, minicnn.kernels, minicnn.selfcheck, "
            "minicnn.optim, minicnn.losses; print(sorted(m for m in sys.modules if m.startswith('cupy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cpu_path_unaffected_by_to_cpu():
    rng = np.random.default_rng(0)
    model = Sequential(Conv2d(2, 3, 3, padding=1, rng=rng), ReLU(), Flatten(), Linear(3 * 4 * 4, 2, rng=rng))
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    y = model.forward(x)
    weight = model.layers[0].params["weight"]
    assert backend.to_cpu(model) is model and model.layers[0].params["weight"] is weight
    assert backend.to_cpu(x) is x
    np.testing.assert_array_equal(model.forward(x), y)


def test_to_gpu_refuses_what_is_neither_array_nor_model(monkeypatch):
    _install_fake_cupy(monkeypatch)
    with pytest.raises(TypeError, match="an array or a model"):
        backend.to_gpu([1, 2, 3])


# --- the model walk, with a stand-in for CuPy ------------------------------------------------------------------

class FakeDeviceArray:
    """What to_gpu makes of an array here: a wrapper whose type lives in a module named cupy."""

    def __init__(self, host):
        self.host = np.array(host)

    def get(self):
        return self.host.copy()


FakeDeviceArray.__module__ = "cupy.fake"


def _install_fake_cupy(monkeypatch):
    fake = types.ModuleType("cupy")
    fake.__version__ = "fake"
    fake.asarray = FakeDeviceArray
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_to_gpu_and_back_walk_every_layer_in_place(monkeypatch):
    _install_fake_cupy(monkeypatch)
    rng = np.random.default_rng(1)
    branch = Concat(Conv2d(2, 2, 1, rng=rng), Sequential(Conv2d(2, 3, 3, padding=1, rng=rng), BatchNorm2d(3)))
    model = Sequential(branch, ReLU(), Flatten(), Linear(5 * 3 * 3, 2, rng=rng))
    x = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    model.backward(_loss_grad(model.forward(x)))  # fills grads and caches
    before = {k: v.copy() for k, v in model.state_dict().items()}
    grads = {(p, k): g.copy() for p, layer in model.named_layers() for k, g in layer.grads.items()}

    backend.use("cupy")
    assert backend.current() == "cupy" and backend.xp() is sys.modules["cupy"]
    assert backend.to_gpu(model) is model
    layers = [layer for _, layer in model.named_layers()]
    assert len(layers) == 9
    for layer in layers:
        for store in (layer.params, layer.grads, layer.buffers):
            assert all(isinstance(v, FakeDeviceArray) for v in store.values())
        assert layer._cache is None  # it held host arrays
    assert {k for _, layer in model.named_layers() for k in layer.buffers} == {"running_mean", "running_var"}

    assert backend.to_cpu(model) is model
    for key, value in model.state_dict().items():
        assert type(value) is np.ndarray
        np.testing.assert_array_equal(value, before[key])
    for path, layer in model.named_layers():
        for key, grad in layer.grads.items():
            np.testing.assert_array_equal(grad, grads[(path, key)])
    assert model.forward(x).shape == (4, 2)  # back on the CPU, it runs


def _loss_grad(logits):
    return np.ones_like(logits) / logits.size
