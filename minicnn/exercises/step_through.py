"""Print every intermediate of one batch-norm forward and backward, one convolution, and one CUDA thread.

    python -m minicnn.exercises.step_through          # all three
    python -m minicnn.exercises.step_through bn       # or only: bn, conv, cuda

Each part computes the steps with NumPy, line by line, prints them, and asserts that they equal minicnn's plain
tier (``minicnn.plain``). The ``cuda`` part runs the batch-norm kernels ``bn_fwd`` and ``bn_bwd``
(``minicnn/kernels/batchnorm.py``) in the CPU emulation of the CUDA grid (``minicnn/kernels/emulate.py``), and
follows one thread through the kernel's lines - its index, its channel, what it reads and writes - beside the
same element of ``batchnorm_forward`` / ``batchnorm_backward``. docs/step_through.md walks through the output.
"""
from __future__ import annotations

import sys

import numpy as np

from minicnn import plain


def show(name: str, value, note: str = "") -> None:
    if np.ndim(value) == 0:
        text = f"{float(value):g}"
    else:
        text = np.array2string(np.asarray(value), precision=4, suppress_small=True, max_line_width=100)
    text = text.replace("\n", "\n" + " " * 18)
    print(f"  {name:15s} = {text}" + (f"     {note}" if note else ""))


def batchnorm_steps(out=print):
    """One channel-per-column BN on x (N=3, C=2), eps = 1e-5: forward (3)-(6), backward node by node and compact."""
    out("batch normalisation, training mode: x of shape (N, C) = (3, 2), so M = 3 values per channel")
    x = np.array([[1.0, -2.0], [2.0, 0.0], [6.0, 5.0]])
    gamma, beta, eps = np.array([1.5, -0.5]), np.array([0.1, 0.2]), 1e-5
    dy = np.array([[0.3, -0.1], [-0.2, 0.4], [0.5, 0.2]])
    M = x.shape[0]
    show("x", x)
    show("gamma", gamma, "(6)  the learned scale, one per channel")
    show("beta", beta, "(6)  the learned shift, one per channel")
    show("eps", eps, "(5)  added to the variance, so that a constant channel is not divided by 0")
    mu = x.sum(axis=0) / M
    show("mu", mu, "(3)  sum over the batch / M")
    centred = x - mu
    show("x - mu", centred)
    var = (centred ** 2).sum(axis=0) / M
    show("var", var, "(4)  biased: / M")
    inv_std = 1 / np.sqrt(var + eps)
    show("inv_std", inv_std, "1 / sqrt(var + eps)")
    x_hat = centred * inv_std
    show("x_hat", x_hat, "(5)")
    y = gamma * x_hat + beta
    show("y", y, "(6)  gamma * x_hat + beta")
    y_plain, cache = plain.batchnorm_forward(x, gamma, beta, eps)
    np.testing.assert_allclose(y, y_plain, rtol=1e-12, atol=1e-12)
    out("  = minicnn.plain.batchnorm_forward")

    out("backward, given dy = dL/dy:")
    show("dy", dy)
    dbeta = dy.sum(axis=0)
    show("dbeta", dbeta, "sum of dy")
    dgamma = (dy * x_hat).sum(axis=0)
    show("dgamma", dgamma, "sum of dy * x_hat")
    dx_hat = gamma * dy
    show("dx_hat", dx_hat, "gamma * dy")
    dvar = (dx_hat * centred).sum(axis=0) * -0.5 * inv_std ** 3
    show("dvar", dvar, "sum dx_hat (x - mu) * (-1/2) inv_std^3")
    dmu = -inv_std * dx_hat.sum(axis=0) + dvar * (-2 / M) * centred.sum(axis=0)
    show("dmu", dmu, "-inv_std sum dx_hat + dvar (-2/M) sum(x - mu)   [the second term is 0]")
    path_direct = dx_hat * inv_std
    path_var = dvar * 2 * centred / M
    path_mean = dmu / M * np.ones_like(x)
    show("path 1: direct", path_direct, "dx_hat * inv_std")
    show("path 2: mean", path_mean, "dmu / M")
    show("path 3: var", path_var, "dvar * 2 (x - mu) / M")
    dx = path_direct + path_mean + path_var
    show("dx", dx, "the sum of the three paths")
    compact = gamma * inv_std / M * (M * dy - dbeta - x_hat * dgamma)
    show("dx (compact)", compact, "(gamma inv_std / M)(M dy - sum dy - x_hat sum dy x_hat)")
    dx_plain, dgamma_plain, dbeta_plain = plain.batchnorm_backward(dy, cache)
    np.testing.assert_allclose(dx, dx_plain, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(compact, dx_plain, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose((dgamma, dbeta), (dgamma_plain, dbeta_plain), rtol=1e-12)
    show("sum of dx", dx.sum(axis=0), "0 for every channel")
    out("  = minicnn.plain.batchnorm_backward")
    return {"x": x, "y": y, "dx": dx}


def conv_steps(out=print):
    """One convolution: x (1, 1, 4, 4), w (2, 1, 3, 3), stride 1, padding 0 -> y (1, 2, 2, 2); and its backward."""
    out("convolution as im2col + one matrix product: x (1, 1, 4, 4), w (2, 1, 3, 3), stride 1, no padding")
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    w = np.stack([np.eye(3), np.ones((3, 3)) / 9]).reshape(2, 1, 3, 3)
    b = np.array([0.0, 1.0])
    show("x[0, 0]", x[0, 0])
    show("w[0, 0]", w[0, 0], "filter 0: the diagonal")
    show("w[1, 0]", w[1, 0], "filter 1: the mean")
    cols = np.array([x[0, 0, i:i + 3, j:j + 3].ravel() for i in range(2) for j in range(2)])
    show("cols", cols, "one row per window (i, j), one column per offset (p, q)")
    W2 = w.reshape(2, -1)
    Y = cols @ W2.T + b
    show("Y = cols W2^T + b", Y, "(windows, filters)")
    y = Y.T.reshape(1, 2, 2, 2)
    show("y[0]", y[0], "Y reshaped to (N, F, H_out, W_out)")
    y_plain, cache = plain.conv2d_forward(x, w, b, 1, 0)
    np.testing.assert_allclose(y, y_plain)
    out("  = minicnn.plain.conv2d_forward")
    dy = np.array([[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 2.0]]]])
    show("dy[0]", dy[0])
    dY = dy.reshape(2, 4).T
    show("dY", dY, "(windows, filters)")
    show("db", dY.sum(axis=0), "sum over windows")
    dw = (dY.T @ cols).reshape(w.shape)
    show("dw[1, 0]", dw[1, 0], "dY^T cols, filter 1: 2 x the last window")
    dcols = dY @ W2
    show("dcols", dcols, "dY W2")
    dx = np.zeros_like(x)
    for row, (i, j) in enumerate((i, j) for i in range(2) for j in range(2)):
        dx[0, 0, i:i + 3, j:j + 3] += dcols[row].reshape(3, 3)   # col2im: add each row back to its window
    show("dx[0, 0]", dx[0, 0], "col2im(dcols): the windows added back")
    dx_plain, dw_plain, db_plain = plain.conv2d_backward(dy, cache)
    np.testing.assert_allclose(dx, dx_plain)
    np.testing.assert_allclose(dw, dw_plain)
    out("  = minicnn.plain.conv2d_backward")
    return {"y": y, "dx": dx}


def cuda_steps(out=print, thread: int = 7):
    """Follow one thread of bn_fwd and bn_bwd, run in the CPU emulation, beside the plain tier's element."""
    from minicnn.kernels.batchnorm import BN_BWD, BN_FWD, bn_backward_apply, bn_forward_apply
    from minicnn.kernels.core import BLOCK

    rng = np.random.default_rng(0)
    N, C, H, W = 2, 3, 2, 2
    x = rng.standard_normal((N, C, H, W))
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, -0.3])
    dy = rng.standard_normal(x.shape)
    S, total = H * W, x.size
    y_plain, cache = plain.batchnorm_forward(x, gamma, beta)
    dx_plain, _, _ = plain.batchnorm_backward(dy, cache)
    out(f"the CUDA kernels of batch norm, run on the CPU by minicnn/kernels/emulate.py; x (N, C, H, W) = {x.shape}")
    out(f"one thread per element: {total} threads in blocks of {BLOCK} -> grid of "
        f"{(total + BLOCK - 1) // BLOCK} block(s); the last block's threads {total}..{BLOCK - 1} return at once")
    out("the statistics (per-channel reductions) come from the array module - CuPy on a GPU - not from a kernel:")
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    inv_std = 1 / np.sqrt(var + 1e-5)
    show("mean", mean)
    show("inv_std", inv_std)

    out(f"\nbn_fwd, thread {thread}:")
    for line in BN_FWD.source.strip().splitlines():
        if line.strip().startswith(("const int", "const real_t xh", "x_hat[", "y[", "if")):
            out("    | " + line.strip())
    block_idx, thread_idx = divmod(thread, BLOCK)
    index = block_idx * BLOCK + thread_idx
    out(f"  blockIdx.x = {block_idx}, threadIdx.x = {thread_idx}  ->  index = {block_idx} * {BLOCK} + {thread_idx} "
        f"= {index}  (< total = {total}: the thread works)")
    c = (index // S) % C
    n, s = index // (C * S), index % S
    out(f"  c = (index / S) % C = ({index} / {S}) % {C} = {c}      (index = (n*C + c)*S + s with n = {n}, s = {s})")
    x_flat = x.reshape(-1)
    xh = (x_flat[index] - mean[c]) * inv_std[c]
    out(f"  reads x[{index}] = {x_flat[index]:.6f}, mean[{c}] = {mean[c]:.6f}, inv_std[{c}] = {inv_std[c]:.6f}")
    out(f"  xh = (x - mean) * inv_std = {xh:.6f};   y = xh * gamma[{c}] + beta[{c}] = {xh * gamma[c] + beta[c]:.6f}")
    x_hat_kernel, y_kernel = bn_forward_apply(x, mean, inv_std, gamma, beta)   # NumPy arrays: the emulator runs
    out(f"  emulated kernel wrote x_hat[{index}] = {x_hat_kernel.reshape(-1)[index]:.6f}, "
        f"y[{index}] = {y_kernel.reshape(-1)[index]:.6f}")
    out(f"  minicnn.plain.batchnorm_forward: x_hat{(n, c) + divmod(s, W)} = {cache.x_hat[n, c].reshape(-1)[s]:.6f}, "
        f"y = {y_plain[n, c].reshape(-1)[s]:.6f}")
    np.testing.assert_allclose(y_kernel, y_plain, rtol=1e-12, atol=1e-13)

    out(f"\nbn_bwd, thread {thread}:")
    for line in BN_BWD.source.strip().splitlines():
        if line.strip().startswith(("const real_t scale", "dx[")):
            out("    | " + line.strip())
    M = N * S
    sum_dy, sum_dy_xhat = dy.sum(axis=(0, 2, 3)), (dy * cache.x_hat).sum(axis=(0, 2, 3))
    show("sum_dy", sum_dy, "per-channel reductions, again by the array module")
    show("sum_dy_xhat", sum_dy_xhat)
    scale = gamma[c] * inv_std[c] / M
    dy_i, xh_i = dy.reshape(-1)[index], cache.x_hat.reshape(-1)[index]
    dx_i = scale * (M * dy_i - sum_dy[c] - xh_i * sum_dy_xhat[c])
    out(f"  scale = gamma[{c}] * inv_std[{c}] / M = {gamma[c]:g} * {inv_std[c]:.6f} / {M} = {scale:.6f}")
    out(f"  dx[{index}] = scale * (M * dy[{index}] - sum_dy[{c}] - x_hat[{index}] * sum_dy_xhat[{c}])")
    out(f"            = {scale:.6f} * ({M} * {dy_i:.6f} - {sum_dy[c]:.6f} - {xh_i:.6f} * {sum_dy_xhat[c]:.6f}) = {dx_i:.6f}")
    dx_kernel = bn_backward_apply(dy, cache.x_hat, gamma, inv_std, sum_dy, sum_dy_xhat, M)
    out(f"  emulated kernel wrote dx[{index}] = {dx_kernel.reshape(-1)[index]:.6f}; "
        f"minicnn.plain.batchnorm_backward: {dx_plain[n, c].reshape(-1)[s]:.6f}")
    np.testing.assert_allclose(dx_kernel, dx_plain, rtol=1e-10, atol=1e-13)
    return {"index": index, "channel": c, "dx": float(dx_i)}


PARTS = {"bn": batchnorm_steps, "conv": conv_steps, "cuda": cuda_steps}


def main(argv=None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or list(PARTS)
    unknown = [name for name in names if name not in PARTS]
    if unknown:
        print(f"error: unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    for name in names:
        PARTS[name]()
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
