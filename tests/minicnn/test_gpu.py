"""The kernels and the engine on a real GPU (CuPy), against NumPy: skipped cleanly where there is none.

The kernel cases are the very ones tests/minicnn/test_kernels_emulated.py runs under the CPU emulation, with the same
comparison (``minicnn.kernel_checks.check``); here the launcher runs on the GPU instead.
"""
import numpy as np
import pytest

from minicnn import backend
from minicnn.kernel_checks import check
from minicnn.kernel_checks.registry import REGISTRY
from minicnn.kernels.core import DTYPES
from test_kernels_emulated import KERNEL_CASES, case_args


def _gpu_problem():
    """None where a GPU is usable, else why not."""
    try:
        backend.cupy_module()
    except backend.GPUUnavailableError as error:
        return str(error)
    return None


NO_GPU = _gpu_problem()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(NO_GPU is not None, reason=f"no GPU: {NO_GPU}")]


@pytest.fixture(scope="module")
def cupy():
    return backend.cupy_module()


@pytest.mark.parametrize("name, sizes, dtype", KERNEL_CASES)
def test_kernel_equals_reference_on_gpu(cupy, name, sizes, dtype):
    entry = REGISTRY[name]
    reference, got = check.run(entry, case_args(name, sizes, dtype), "gpu")
    ok, worst = check.compare(reference, got, entry.exact)
    assert ok, f"{name}: largest difference {worst}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_one_training_step_agrees_between_devices(cupy, dtype):
    from minicnn.selfcheck import TRAIN_TOLERANCE, compare_train_step

    errors = compare_train_step(dtype)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TRAIN_TOLERANCE[np.dtype(dtype)], (worst, errors[worst])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_the_plain_tier_runs_on_the_gpu_too(cupy, dtype):
    """The plain functions take their array module from the input: the same training step on both devices."""
    import minicnn
    from minicnn.selfcheck import TRAIN_TOLERANCE, compare_train_step

    with minicnn.tier("plain"):
        errors = compare_train_step(dtype)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TRAIN_TOLERANCE[np.dtype(dtype)], (worst, errors[worst])


def test_leaves_dispatch_to_the_kernels_on_gpu(cupy, monkeypatch):
    """A CuPy array reaches the kernel launcher - nothing silently runs the NumPy branch."""
    from minicnn import kernels
    from minicnn.layers import ReLU

    calls = []
    original = kernels.relu_forward_apply
    monkeypatch.setattr(kernels, "relu_forward_apply", lambda x: calls.append(x.shape) or original(x))
    y = ReLU().forward(cupy.asarray(np.array([-1.0, 2.0], np.float32)))
    assert calls == [(2,)] and type(y).__module__.startswith("cupy")
    np.testing.assert_array_equal(backend.to_cpu(y), [0.0, 2.0])


def test_sgd_state_loads_onto_the_parameters_device(cupy):
    """Momentum buffers saved on the host come back on the GPU, next to their parameters, and training goes on."""
    from minicnn.layers import Linear, Sequential
    from minicnn.optim import SGD

    rng = np.random.default_rng(0)
    model = backend.to_gpu(Sequential(Linear(3, 2, rng=rng)))
    optimizer = SGD(model, lr=0.1, momentum=0.9)
    state = {"lr": 0.1, "velocity.0": np.ones((2, 3), np.float64), "velocity.1": np.ones(2, np.float32)}
    optimizer.load_state_dict(state)
    assert all(type(v).__module__.startswith("cupy") and v.dtype == np.float32 for v in optimizer.velocity)
    model.forward(cupy.ones((4, 3), np.float32))
    model.backward(cupy.ones((4, 2), np.float32))
    optimizer.step()
    np.testing.assert_allclose(backend.to_cpu(optimizer.velocity[1]), 0.9 + 4.0)


def test_selfcheck_passes_on_this_gpu(cupy, capsys):
    from minicnn.selfcheck import main

    assert main(["--batch", "2"]) == 0, capsys.readouterr().out
