"""Exercise bn_running: running statistics and evaluation mode (docs/batchnorm.md, section 2.5).

In training, after normalising a batch with its own (biased) statistics, BN updates its running mean and
running variance per channel with an exponential moving average (PyTorch's convention: ``momentum`` is the
weight of the NEW batch, and the running variance uses the UNBIASED variance of the batch). In evaluation, the
running statistics take the place of the batch's in equation (5) - and then they are constants, which changes
the backward pass: write it too.
Check with:  python -m minicnn.exercises check bn_running --file THIS_FILE
"""
import numpy as np


def update_running_statistics(running_mean, running_var, x, momentum=0.1):
    """x (N, C) or (N, C, H, W) -> (new running_mean, new running_var), both (C,); the inputs are not changed."""
    raise NotImplementedError("an exponential moving average per channel; which variance, and which weight?")


def batchnorm_eval_forward(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """Evaluation mode: a fixed affine map per channel. x (N, C) or (N, C, H, W) -> y like x."""
    raise NotImplementedError("equations (5)-(6) with the running statistics in place of the batch's")


def batchnorm_eval_backward(dy, x, gamma, running_mean, running_var, eps=1e-5):
    """The backward pass of ``batchnorm_eval_forward``: dy like x -> (dx like x, dgamma (C,), dbeta (C,))."""
    raise NotImplementedError("which paths from x to y are left when mu and var are constants?")
