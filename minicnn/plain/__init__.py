"""minicnn's plain tier: every algorithm as a learner reads it, a forward directly above its backward.

Pure functions on NumPy or CuPy arrays (the array module is taken from the input), float32 or float64; no
blocking, no in-place tricks, no caching beyond what the backward needs. The fast tier (``minicnn.fast``) has
the same functions with the same signatures, made fast; layers call whichever ``minicnn.set_tier`` selects.

    conv2d_forward(x, w, b, stride, padding) -> (y, ConvCache)       conv2d_backward(dy, cache) -> (dx, dw, db)
    maxpool2d_forward(x, kernel_size, stride, padding) -> (y, PoolCache)   maxpool2d_backward(dy, cache) -> dx
    avgpool2d_forward(x, kernel_size, stride, padding) -> (y, PoolCache)   avgpool2d_backward(dy, cache) -> dx
    relu_forward(x) -> (y, ReLUCache)                                 relu_backward(dy, cache) -> dx
    batchnorm_forward(x, gamma, beta, eps=1e-5) -> (y, BatchNormCache)    batchnorm_backward(dy, cache) -> (dx, dgamma, dbeta)
    batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5) -> (y, BatchNormCache)
    batchnorm_eval_backward(dy, cache) -> (dx, dgamma, dbeta)
    batchnorm_update_running(running_mean, running_var, cache, momentum) -> (running_mean, running_var)
    dropout_forward(x, p_drop, rng) -> (y, DropoutCache)              dropout_backward(dy, cache) -> dx
    linear_forward(x, w, b) -> (y, LinearCache)                       linear_backward(dy, cache) -> (dx, dw, db)
    softmax_cross_entropy(logits, labels, class_weights=None) -> (loss, dlogits)
    sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0) -> (param, velocity)

The caches are small dataclasses:

    ConvCache(cols, x_pad_shape, w, has_bias, stride, padding)
    PoolCache(x_pad_shape, kernel_size, stride, padding, argmax)      argmax None for average pooling
    ReLUCache(y)
    BatchNormCache(x_hat, inv_std, gamma, mean, var)                  mean/var: the batch's, or the running ones
    DropoutCache(mask)
    LinearCache(x, w, has_bias)

``b`` may be None (then db is None). ``conv2d_backward`` and ``linear_backward`` also take keyword-only
``need_dx=True`` (False: dx is None, for a network's first layer). Every result is a new array.
The tests hold each function against float64 finite differences, PyTorch and the fast tier.
"""
from minicnn.plain.activations import ReLUCache, relu_backward, relu_forward
from minicnn.plain.batchnorm import (BatchNormCache, batchnorm_backward, batchnorm_eval_backward,
                                     batchnorm_eval_forward, batchnorm_forward, batchnorm_update_running)
from minicnn.plain.conv import ConvCache, conv2d_backward, conv2d_forward
from minicnn.plain.dropout import DropoutCache, dropout_backward, dropout_forward
from minicnn.plain.linear import LinearCache, linear_backward, linear_forward
from minicnn.plain.losses import softmax_cross_entropy
from minicnn.plain.optim import sgd_step
from minicnn.plain.pool import PoolCache, avgpool2d_backward, avgpool2d_forward, maxpool2d_backward, maxpool2d_forward

OPS = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward",
       "avgpool2d_backward", "relu_forward", "relu_backward", "batchnorm_forward", "batchnorm_backward",
       "batchnorm_eval_forward", "batchnorm_eval_backward", "batchnorm_update_running", "dropout_forward",
       "dropout_backward", "linear_forward", "linear_backward", "softmax_cross_entropy", "sgd_step")

__all__ = list(OPS) + ["BatchNormCache", "ConvCache", "DropoutCache", "LinearCache", "PoolCache", "ReLUCache"]
