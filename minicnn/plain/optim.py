"""One SGD step, plain: PyTorch's ``torch.optim.SGD`` with dampening 0, for one parameter.

With gradient g = grad + l2 * param (the L2 penalty 0.5 * l2 * ||param||^2)::

    v     = g                    on the first step (velocity None), else  momentum * v + g
    step  = g + momentum * v     with Nesterov, else  v                  (step = g when momentum is 0)
    param = param - lr * step
"""
from __future__ import annotations


def sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0):
    """The updated ``(param, velocity)``; velocity stays None when momentum is 0."""
    g = grad + l2 * param if l2 else grad
    if not momentum:
        return param - lr * g, None
    velocity = g.copy() if velocity is None else momentum * velocity + g  # the optimiser's own array, not grad
    step = g + momentum * velocity if nesterov else velocity
    return param - lr * step, velocity
