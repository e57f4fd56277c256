"""minicnn's fast tier: the functions of ``minicnn.plain``, same names, same signatures, same results to rounding,
made fast - blocked, in-place NumPy on the CPU, and on the GPU the hand-written CUDA kernels of
``minicnn.kernels``, called from one visible branch in each *leaf* (``im2col``, ``col2im``, ``maxpool_forward``,
``maxpool_backward``, ``bn_forward_apply``, ``bn_backward_apply``, ``relu_forward_apply``,
``relu_backward_apply``, ``dropout_forward_apply``, ``cross_entropy_grad``). Each module's docstring says how
it is made fast; the algorithm itself is read in ``minicnn.plain``. The caches are the plain tier's dataclasses,
except convolution's ``FastConvCache``, which keeps the padded input instead of the im2col matrix. On the CPU the
blocks of work are shared among the tier's own threads: ``set_threads(n)`` / ``get_threads()``, by default the BLAS
library's thread limit (``minicnn/fast/threads.py``). ``reuse_freed_memory()`` (opt-in, process-wide) makes glibc
keep freed blocks for the next step instead of mapping fresh, zeroed pages (``minicnn/fast/allocator.py``).
Beyond the plain tier's functions it has ``conv2d_backward_into`` and ``linear_backward_into``, which write the
weight gradient into an array the layer passes (last step's) instead of a new one.
"""
from minicnn.fast.activations import relu_backward, relu_forward
from minicnn.fast.allocator import reuse_freed_memory
from minicnn.fast.batchnorm import (batchnorm_backward, batchnorm_eval_backward, batchnorm_eval_forward,
                                    batchnorm_forward, batchnorm_update_running)
from minicnn.fast.conv import FastConvCache, conv2d_backward, conv2d_backward_into, conv2d_forward
from minicnn.fast.dropout import dropout_backward, dropout_forward
from minicnn.fast.linear import linear_backward, linear_backward_into, linear_forward
from minicnn.fast.losses import softmax_cross_entropy
from minicnn.fast.optim import sgd_step
from minicnn.fast.pool import avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward
from minicnn.fast.threads import get_threads, set_threads
from minicnn.plain import OPS

__all__ = list(OPS) + ["FastConvCache", "conv2d_backward_into", "get_threads", "linear_backward_into",
                       "reuse_freed_memory", "set_threads"]
