"""minicnn: a small, readable, autodiff-free CNN engine on NumPy (CPU) and CuPy (GPU).

Every op has a hand-written forward and backward pass, in two tiers with the same signatures: ``minicnn.plain``
(the algorithms as a learner reads them) and ``minicnn.fast`` (the same made fast, with CUDA kernels on the GPU).
The layers (``minicnn.layers``) hold parameters and call the tier chosen with ``set_tier("plain" | "fast")`` or
``with tier("plain"): ...`` (default ``"fast"``). ``minicnn.losses`` gives the softmax cross-entropy and its
gradient, ``minicnn.optim`` SGD and schedules, ``minicnn.train_step`` one whole training step, ``minicnn.init`` initialisers, ``minicnn.serialize`` pickle-free
checkpoints and ``minicnn.gradcheck`` the finite-difference oracle.
"""
from minicnn.losses import l2_penalty, softmax, softmax_cross_entropy
from minicnn.step import Step, train_step
from minicnn.tiers import get_tier, set_tier, tier

__version__ = "0.1.0"
__all__ = ["Step", "get_tier", "l2_penalty", "set_tier", "softmax", "softmax_cross_entropy", "tier", "train_step"]
