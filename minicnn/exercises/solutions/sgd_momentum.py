"""Exercise sgd_momentum: one SGD step with L2, momentum and Nesterov momentum (docs/convolution.md 3.9-3.10).

PyTorch's update (dampening 0), which minicnn follows, for one parameter:

    g = grad + l2 * param                                  L2 as a gradient term
    v = g on the first step (velocity None), else momentum * v + g
    step = g + momentum * v   with Nesterov,   else v      (with momentum 0: step = g and no velocity)
    param = param - lr * step
"""


def sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0):
    """-> (new param, new velocity); velocity is None before the first step, and stays None when momentum is 0."""
    g = grad + l2 * param
    if not momentum:
        return param - lr * g, None
    velocity = g.copy() if velocity is None else momentum * velocity + g
    step = g + momentum * velocity if nesterov else velocity
    return param - lr * step, velocity
