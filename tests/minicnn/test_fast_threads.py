"""The fast tier's threads (``minicnn/fast/threads.py``): blocks shared among threads give the plain tier's results,
the thread count follows the BLAS limit (threadpoolctl) unless ``set_threads`` says otherwise, and the blocks
split the batch evenly."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from minicnn import fast, plain
from minicnn.fast import threads

from tests.minicnn.test_tiers import same


@pytest.fixture
def thread_count():
    def use(n):
        threads.set_threads(n)

    yield use
    threads.set_threads(None)


CASES = [  # (N, C, H, W), (F, KH, KW), stride, padding, bias
    ((7, 3, 11, 9), (5, 3, 3), 1, 1, True),  # 7 samples over 2 or 3 threads: uneven blocks
    ((5, 2, 32, 32), (3, 3, 3), 1, 1, False),  # several samples per block
    ((3, 1, 24, 28), (4, 11, 11), 4, ((2, 1), (2, 1)), False),  # conv1's geometry
    ((1, 4, 6, 6), (2, 5, 5), 1, 2, True),  # one sample: one block, whatever the thread count
]


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("x_shape, w_shape, stride, padding, bias", CASES)
def test_conv_on_threads_equals_plain(thread_count, n_threads, dtype, x_shape, w_shape, stride, padding, bias):
    thread_count(n_threads)
    rng = np.random.default_rng(5)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((w_shape[0], x_shape[1]) + w_shape[1:]).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype) if bias else None
    y_p, cache_p = plain.conv2d_forward(x, w, b, stride, padding)
    y_f, cache_f = fast.conv2d_forward(x, w, b, stride, padding)
    same(y_p, y_f, dtype)
    dy = rng.standard_normal(y_p.shape).astype(dtype)
    for grad_p, grad_f in zip(plain.conv2d_backward(dy, cache_p), fast.conv2d_backward(dy, cache_f)):
        same(grad_p, grad_f, dtype)
    buffer = np.full_like(w, np.nan)  # every entry must be overwritten
    dx, dw, _ = fast.conv2d_backward_into(buffer, dy, cache_f, need_dx=False)
    assert dx is None and dw is buffer
    same(plain.conv2d_backward(dy, cache_p)[1], dw, dtype)


def test_thread_count_follows_blas_limit_unless_set(thread_count):
    with threadpool_limits(1):
        assert threads.get_threads() == 1
    with threadpool_limits(3):
        assert threads.get_threads() == 3
        thread_count(2)
        assert threads.get_threads() == 2
        thread_count(None)
        assert threads.get_threads() == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_threads_rejects_bad_counts(bad):
    with pytest.raises(ValueError, match="set_threads"):
        threads.set_threads(bad)


def test_blas_is_single_threaded_inside_blocks_and_restored_after():
    seen = []
    with threadpool_limits(2):
        threads.run_blocks(lambda block: seen.append(threads._blas_controller().info()[0]["num_threads"]),
                           range(4), threads=2)
        assert threads.get_threads() == 2
    assert seen == [1, 1, 1, 1]


def test_run_blocks_keeps_order_and_raises():
    assert threads.run_blocks(lambda i: i * i, range(9), threads=3) == [i * i for i in range(9)]

    def fail(i):
        if i == 4:
            raise RuntimeError("block 4")
        return i

    with pytest.raises(RuntimeError, match="block 4"):
        threads.run_blocks(fail, range(9), threads=2)


@pytest.mark.parametrize("N, step, n_threads", [(32, 4, 2), (32, 14, 2), (7, 4, 3), (1, 4, 2), (5, 100, 2), (32, 1, 3)])
def test_even_blocks_cover_the_batch_in_near_equal_parts(N, step, n_threads):
    blocks = threads.even_blocks(N, step, n_threads)
    covered = np.concatenate([np.arange(N)[block] for block in blocks])
    np.testing.assert_array_equal(covered, np.arange(N))
    sizes = [block.stop - block.start for block in blocks]
    assert max(sizes) <= max(step, 1) and max(sizes) - min(sizes) <= max(sizes) // 2 + 1
    if N >= n_threads:
        assert len(blocks) >= n_threads


@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_on_threads_equals_plain(thread_count, n_threads, bias):
    thread_count(n_threads)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 1031)).astype(np.float32)
    w = rng.standard_normal((1021, 1031)).astype(np.float32)  # above MIN_SHARED: the output features are shared
    assert w.size >= fast.linear.MIN_SHARED
    b = rng.standard_normal(1021).astype(np.float32) if bias else None
    (y_p, cache_p), (y_f, cache_f) = plain.linear_forward(x, w, b), fast.linear_forward(x, w, b)
    same(y_p, y_f, np.float32)
    dy = rng.standard_normal(y_p.shape).astype(np.float32)
    for grad_p, grad_f in zip(plain.linear_backward(dy, cache_p), fast.linear_backward(dy, cache_f)):
        same(grad_p, grad_f, np.float32)
    buffer = np.full_like(w, np.nan)
    dx, dw, _ = fast.linear_backward_into(buffer, dy, cache_f, need_dx=False)
    assert dx is None and dw is buffer
    same(plain.linear_backward(dy, cache_p)[1], dw, np.float32)

