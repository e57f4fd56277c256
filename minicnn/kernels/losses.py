"""The gradient of softmax cross-entropy with respect to the logits, one thread per element.

NumPy reference: ``minicnn.fast.losses.cross_entropy_grad(probs, labels, sample_weights, total_weight)`` (same
signature and return value). The softmax and the loss value are computed by the array module; this kernel
fuses what follows them::

    dlogits[n, k] = (probs[n, k] - [k == labels[n]]) * (sample_weights[n] / total_weight)

``sample_weights[n]`` is 1, or the class weight of sample n's label; ``total_weight`` is their sum, so the
loss is the mean, or PyTorch's weighted mean. ``total_weight`` (in the dtype of ``probs``, as the loss computes
it) stays on the device as a one-element array: no copy to the host in the middle of a training step. Labels are copied to int32 for the kernel.
"""
from __future__ import annotations

import numpy as np

from minicnn.backend import get_array_module
from minicnn.kernels.core import CudaKernel, contiguous, real_dtype

SOFTMAX_XENT_BWD = CudaKernel("softmax_xent_bwd", r"""
// softmax_xent_bwd: one thread per element of the logits' gradient.
//   probs (N, K), labels (N,) int, sample_weights (N,), total_weight (1,)  ->  dlogits (N, K)
//   dlogits[n, k] = (probs[n, k] - (k == labels[n] ? 1 : 0)) * (sample_weights[n] / total_weight)
extern "C" __global__ void softmax_xent_bwd(const real_t* __restrict__ probs, const int* __restrict__ labels,
                                            const real_t* __restrict__ sample_weights,
                                            const real_t* __restrict__ total_weight,
                                            real_t* __restrict__ dlogits, int N, int K)
{
    const int index = blockIdx.x * blockDim.x + threadIdx.x;
    if (index >= N * K) return;
    const int n = index / K, k = index % K;      // index = n*K + k
    real_t g = probs[index];
    if (k == labels[n]) g -= (real_t)1;
    dlogits[index] = g * (sample_weights[n] / total_weight[0]);
}
""")


def cross_entropy_grad(probs, labels, sample_weights, total_weight):
    """dloss/dlogits = w_n * (p - onehot(t)) / total_weight, on the GPU."""
    xp = get_array_module(probs)
    dtype = real_dtype(probs, "cross_entropy_grad")
    probs = contiguous(xp, probs, dtype, "probs", "cross_entropy_grad")
    N, K = probs.shape
    labels = xp.ascontiguousarray(labels, dtype=np.int32)
    sample_weights = contiguous(xp, sample_weights, dtype, "sample_weights", "cross_entropy_grad")
    total_weight = xp.asarray(total_weight, dtype=dtype).reshape(1)
    if labels.shape != (N,) or sample_weights.shape != (N,):
        raise ValueError(f"minicnn.kernels.cross_entropy_grad: labels {tuple(labels.shape)} and sample_weights "
                         f"{tuple(sample_weights.shape)} must both have shape ({N},)")
    dlogits = xp.empty_like(probs)
    SOFTMAX_XENT_BWD(dtype, probs.size, probs, labels, sample_weights, total_weight, dlogits, *np.int32([N, K]))
    return dlogits
