"""Exercise sgd_momentum: one SGD step with L2, momentum and Nesterov momentum (docs/convolution.md 3.9-3.10).

Follow PyTorch's SGD (dampening 0), which minicnn follows: L2 enters as a gradient term ``l2 * param``; the
velocity is None before the first step, becomes the gradient itself on the first step and
``momentum * v + g`` afterwards; plain momentum steps along v, Nesterov along ``g + momentum * v``. With
momentum 0 there is no velocity (return None for it).
Check with:  python -m minicnn.exercises check sgd_momentum --file THIS_FILE
"""


def sgd_step(param, grad, velocity, lr, momentum=0.0, nesterov=False, l2=0.0):
    """-> (new param, new velocity); velocity is None before the first step, and stays None when momentum is 0."""
    raise NotImplementedError
