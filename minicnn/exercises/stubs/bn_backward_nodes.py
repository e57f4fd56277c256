"""Exercise bn_backward_nodes: batch normalisation's backward pass, one node of the graph at a time.

docs/batchnorm.md, section 2.3 ("The same result the long way"). Input x of shape (M, C): M values per
channel. The forward pass (training mode) is

    mu = mean(x, axis 0);  var = mean((x - mu)^2, axis 0);  s = 1 / sqrt(var + eps)
    x_hat = (x - mu) * s;  y = gamma * x_hat + beta

Given dy = dL/dy, return every intermediate gradient, node by node (the checker tests each one separately, in
this order, so that it can tell you which node is wrong):

    dbeta  (C,)    dL/dbeta
    dgamma (C,)    dL/dgamma
    dx_hat (M, C)  dL/dx_hat
    dvar   (C,)    dL/dvar   - through x_hat only (var reaches L through s)
    dmu    (C,)    dL/dmu    - through x_hat directly and through var
    dx     (M, C)  dL/dx     - through x_hat, var and mu: three paths

Check with:  python -m minicnn.exercises check bn_backward_nodes --file THIS_FILE
"""
import numpy as np


def batchnorm_backward_nodes(dy, x, gamma, eps=1e-5):
    """dy, x (M, C), gamma (C,) -> dict with keys dbeta, dgamma, dx_hat, dvar, dmu, dx."""
    raise NotImplementedError("recompute the forward intermediates, then walk the graph backwards")
