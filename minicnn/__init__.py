"""minicnn: a small, readable, autodiff-free CNN engine on NumPy (CPU) and CuPy (GPU).

Every layer has a hand-written forward and backward pass (``minicnn.layers``); ``minicnn.losses`` gives the
softmax cross-entropy and its gradient, ``minicnn.optim`` SGD and schedules, ``minicnn.init`` initialisers,
``minicnn.serialize`` pickle-free checkpoints and ``minicnn.gradcheck`` the finite-difference oracle.
"""
from minicnn.losses import l2_penalty, softmax, softmax_cross_entropy

__version__ = "0.1.0"
__all__ = ["l2_penalty", "softmax", "softmax_cross_entropy"]
