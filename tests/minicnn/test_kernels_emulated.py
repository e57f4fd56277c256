"""Every CUDA kernel's source, run on the CPU under the sequential emulation of the thread grid, against its
NumPy reference (the engine's leaf), on odd sizes and on AlexNet-BN's own shapes: bit for bit where a kernel
only moves or selects numbers, to ``check.TOLERANCE`` where it adds and multiplies.

The kernels are compiled once per session (cached by content under the temporary directory), so this file
runs in seconds. ``KERNEL_CASES`` and ``case_args`` are shared with tests/minicnn/test_gpu.py, which runs the same
cases on a GPU.
"""
import numpy as np
import pytest

from minicnn import kernels
from minicnn.kernel_checks import check
from minicnn.kernel_checks.registry import REGISTRY
from minicnn.kernels.core import BLOCK, DTYPES, CudaKernel

# Window geometries (conv and pool): odd sizes, asymmetric padding, strides above, equal to and below the
# kernel size, output sizes that leave rows over, and AlexNet-BN's conv1 and pools on a 1-image batch.
WINDOWS = {
    "3x3 s1 pad1": dict(N=3, C=2, H=7, W=9, KH=3, KW=3, SH=1, SW=1, pad=((1, 1), (1, 1))),
    "3x3 s2 overlapping": dict(N=5, C=3, H=13, W=11, KH=3, KW=3, SH=2, SW=2, pad=((0, 0), (0, 0))),
    "5x3 s3x2 asymmetric, rows left over": dict(N=2, C=4, H=10, W=9, KH=5, KW=3, SH=3, SW=2, pad=((2, 2), (1, 0))),
    "2x2 s3 gaps": dict(N=3, C=1, H=11, W=8, KH=2, KW=2, SH=3, SW=3, pad=((0, 0), (0, 0))),
    "1x1": dict(N=2, C=7, H=5, W=3, KH=1, KW=1, SH=1, SW=1, pad=((0, 0), (0, 0))),
}
CONV_ONLY = {
    "AlexNet conv1 11x11 s4": dict(N=1, C=3, H=224, W=224, KH=11, KW=11, SH=4, SW=4, pad=((2, 1), (2, 1))),
    "AlexNet conv2 5x5 pad2": dict(N=1, C=96, H=27, W=27, KH=5, KW=5, SH=1, SW=1, pad=((2, 2), (2, 2))),
}
POOL_ONLY = {
    "AlexNet pool1 3x3 s2": dict(N=1, C=96, H=55, W=55, KH=3, KW=3, SH=2, SW=2, pad=((0, 0), (0, 0))),
    "AlexNet pool5 3x3 s2": dict(N=2, C=256, H=13, W=13, KH=3, KW=3, SH=2, SW=2, pad=((0, 0), (0, 0))),
    "3x3 s2 pad1, no ties": dict(N=3, C=2, H=8, W=7, KH=3, KW=3, SH=2, SW=2, pad=((1, 1), (1, 1)), ties=False),
}
# Elementwise sizes: one element, sizes that do not divide the block size, (N, C) inputs, AlexNet's.
ELEMENTWISE = {
    "1 element": dict(N=1, C=1, H=1, W=1),
    "3x5x7x9": dict(N=3, C=5, H=7, W=9),
    "(N, C) = (37, 11)": dict(N=37, C=11, H=None, W=None),
    f"{BLOCK} + 1 rows": dict(N=BLOCK + 1, C=2, H=None, W=None),
    "AlexNet bn1 1x96x55x55": dict(N=1, C=96, H=55, W=55),
}
LOSS = {
    "1 sample, 2 classes": dict(N=1, K=2, weighted=False),
    "37 x 5, class weights": dict(N=37, K=5, weighted=True),
    "300 x 2, above one block": dict(N=300, K=2, weighted=True),
    "32 x 2 unweighted (the paper's batch)": dict(N=32, K=2, weighted=False),
}
SIZES = {
    "im2col": {**WINDOWS, **CONV_ONLY},
    "col2im": {**WINDOWS, **CONV_ONLY},
    "maxpool_forward": {**WINDOWS, **POOL_ONLY},
    "maxpool_backward": {**WINDOWS, **POOL_ONLY},
    "bn_forward_apply": ELEMENTWISE,
    "bn_backward_apply": ELEMENTWISE,
    "relu_forward_apply": ELEMENTWISE,
    "relu_backward_apply": ELEMENTWISE,
    "dropout_forward_apply": {**ELEMENTWISE, "p_drop 0.6 (the paper)": dict(N=32, C=4096, H=None, W=None, p_drop=0.6),
                        "p_drop 0": dict(N=3, C=5, H=7, W=9, p_drop=0.0)},
    "cross_entropy_grad": LOSS,
}
KERNEL_CASES = [pytest.param(name, sizes, dtype, id=f"{name}-{label}-{np.dtype(dtype).name}")
                for name, by_label in SIZES.items() for label, sizes in by_label.items() for dtype in DTYPES]


def case_args(name, sizes, dtype):
    """The arguments of one case: random, but the same on every run and on every device."""
    seed = len(name) + sum(map(ord, str(sizes)))
    return REGISTRY[name].case(np.random.default_rng(seed), dtype, **sizes)


def test_every_kernel_has_cases():
    assert set(SIZES) == set(REGISTRY)


@pytest.mark.parametrize("name, sizes, dtype", KERNEL_CASES)
def test_kernel_equals_reference_under_emulation(name, sizes, dtype):
    entry = REGISTRY[name]
    reference, got = check.run(entry, case_args(name, sizes, dtype), "emulator")
    assert len(got) == len(reference)
    for ref, out in zip(reference, got):
        assert out.dtype == ref.dtype and out.shape == ref.shape
        if entry.exact:
            np.testing.assert_array_equal(out, ref)  # bit for bit; NaN where NaN
        else:
            tol = check.TOLERANCE[ref.dtype] * np.abs(ref).max()
            np.testing.assert_allclose(out, ref, rtol=0, atol=tol)
    assert check.compare(reference, got, entry.exact)[0]


def test_maxpool_ties_go_to_the_first_maximum():
    """A window of equal values: argmax 0; and a later equal maximum does not replace an earlier one."""
    x_pad = np.array([[[[1, 5, 5], [5, 0, 5], [2, 2, 2]]]], dtype=np.float32)
    y, argmax = kernels.maxpool_forward(x_pad, 3, 3, 1, 1, 1, 1)
    assert y[0, 0, 0, 0] == 5 and argmax[0, 0, 0, 0] == 1
    y, argmax = kernels.maxpool_forward(np.full((1, 1, 2, 2), 7, np.float32), 2, 2, 1, 1, 1, 1)
    assert argmax[0, 0, 0, 0] == 0


def test_dropout_keeps_u_equal_to_p_drop_as_numpy_does():
    """0.7 rounds down in float32: u = float32(0.7) is >= p_drop in float32 (kept) though < 0.7 in float64."""
    u = np.array([np.float32(0.7), np.nextafter(np.float32(0.7), 0)], dtype=np.float32)
    y, mask = kernels.dropout_forward_apply(np.ones(2, np.float32), u, 0.7)
    np.testing.assert_array_equal(mask, [np.float32(1 / 0.3), 0])
    np.testing.assert_array_equal(y, mask)


def test_empty_batch_launches_nothing():
    cols = kernels.im2col(np.zeros((0, 3, 5, 5), np.float32), 3, 3, 1, 1, 3, 3)
    assert cols.shape == (0, 27)
    assert kernels.relu_forward_apply(np.zeros((0, 4), np.float64)).shape == (0, 4)


def test_launchers_refuse_other_dtypes_and_mixed_dtypes():
    with pytest.raises(TypeError, match="float32 and float64"):
        kernels.relu_forward_apply(np.ones(3, np.float16))
    x, mean, inv_std, gamma, beta = REGISTRY["bn_forward_apply"].case(np.random.default_rng(0), np.float32)
    with pytest.raises(TypeError, match="gamma has dtype float64"):
        kernels.bn_forward_apply(x, mean, inv_std, gamma.astype(np.float64), beta)


def test_non_contiguous_inputs_are_made_contiguous():
    x = np.random.default_rng(1).standard_normal((4, 6, 5)).astype(np.float32)[:, ::2]
    np.testing.assert_array_equal(kernels.relu_forward_apply(x), np.maximum(x, 0))


# --- the harness can fail: a wrong kernel, a missing bounds check, a wrong argument type ----------------------

def test_a_kernel_with_a_wrong_tie_rule_is_caught(monkeypatch):
    from minicnn.kernels import pool

    wrong = CudaKernel("maxpool_fwd", pool.MAXPOOL_FWD.source.replace("if (v > best)", "if (v >= best)"))
    monkeypatch.setattr(pool, "MAXPOOL_FWD", wrong)
    entry = REGISTRY["maxpool_forward"]
    ok, _ = check.check(entry, entry.case(np.random.default_rng(2), np.float32), "emulator")
    assert not ok


def test_a_kernel_without_bounds_check_is_caught():
    unchecked = CudaKernel("relu_fwd", kernels.activations.RELU_FWD.source.replace("if (index >= total) return;", ""))
    x = np.ones(BLOCK + 44, np.float32)  # the second block has BLOCK - 44 spare threads
    with pytest.raises(AssertionError, match="wrote outside array 'y'"):
        unchecked(np.dtype(np.float32), x.size, x, np.empty_like(x), np.int32(x.size))


def test_emulator_refuses_what_a_raw_kernel_would_misread():
    kernel = kernels.activations.RELU_FWD
    x = np.ones(10, np.float32)
    with pytest.raises(TypeError, match="numpy.int32 scalar"):
        kernel(np.dtype(np.float32), 10, x, np.empty_like(x), 10)  # a Python int: 64 bits on the GPU
    with pytest.raises(TypeError, match="C-contiguous"):
        kernel(np.dtype(np.float32), 5, x[::2], np.empty(5, np.float32), np.int32(5))
    with pytest.raises(TypeError, match="float32 array"):
        kernel(np.dtype(np.float32), 10, x.astype(np.float64), np.empty_like(x), np.int32(10))


def test_emulator_reports_a_changed_const_input():
    sneaky = CudaKernel("relu_fwd", kernels.activations.RELU_FWD.source.replace(
        "y[index] = v < 0 ? (real_t)0 : v;", "y[index] = v; ((real_t*)x)[index] = 0;"))
    x = np.ones(3, np.float32)
    with pytest.raises(AssertionError, match="changed its const input 'x'"):
        sneaky(np.dtype(np.float32), 3, x, np.empty_like(x), np.int32(3))


# --- the whole engine with every leaf replaced by its emulated kernel -------------------------------------------

@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-5), (np.float64, 1e-12)], ids=["float32", "float64"])
def test_training_step_with_every_leaf_emulated_matches_numpy(dtype, tol, monkeypatch):
    """What the GPU path does, minus cuBLAS: the layers call each kernel with their real arguments (views,
    column-major dcols, non-contiguous gradients, int64 labels, 0-d total weights), and one SGD step agrees
    with the NumPy one in the loss, every gradient, parameter and running statistic."""
    import copy

    from minicnn.fast import activations, batchnorm, conv, dropout, losses, pool
    from minicnn.selfcheck import one_step, relative_errors, small_network

    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 29, 29)).astype(dtype)
    labels, class_weights = rng.integers(0, 2, 5), np.array([1.0, 3.0])
    numpy_model = small_network(4, dtype)
    kernel_model = copy.deepcopy(numpy_model)
    numpy_loss = one_step(numpy_model, x, labels, class_weights)

    calls = []
    for module in (conv, pool, batchnorm, activations, dropout, losses):
        for name in REGISTRY:
            if hasattr(module, name):
                def launcher(*args, _name=name):
                    calls.append(_name)
                    return REGISTRY[_name].launcher(*args)
                monkeypatch.setattr(module, name, launcher)
    kernel_loss = one_step(kernel_model, x, labels, class_weights)

    assert set(calls) == set(REGISTRY)  # every kernel took part
    errors = relative_errors(numpy_model, kernel_model, numpy_loss, kernel_loss)
    assert len(errors) > 20
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, (worst, errors[worst])


def test_selfcheck_emulate_passes_at_alexnet_sizes(capsys):
    from minicnn.selfcheck import main

    assert main(["--emulate"]) == 0
    out = capsys.readouterr().out
    assert out.count(" emulator ") == len(REGISTRY) * len(DTYPES) and out.endswith("all ok\n")
