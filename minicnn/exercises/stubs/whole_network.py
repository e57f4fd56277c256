"""Exercise whole_network: backprop ninja, minicnn style - a whole small network backpropagated by hand.

    x (N, C, 6, 6) -> conv 3x3 (F filters, stride 1, no padding, no bias) -> batch norm (training mode) -> ReLU
      -> max pool 2x2 stride 2 -> flatten -> linear (K classes) -> softmax cross-entropy, the mean over the batch

``forward`` (given: do not change it) computes the loss one intermediate at a time and returns all of them in a
dict ``t``; ``params`` holds ``conv_w``, ``gamma``, ``beta``, ``fc_w`` and ``fc_b``. Write ``backward``: starting
from the loss, walk back through ``forward`` line by line and return the gradient of the loss with respect to
every name in ``ORDER``, as ``"d" + name`` (``dlog_probs``, ``dlogits``, ...), each with the shape of what it is
the gradient of. Use only what ``t`` and ``params`` hold - no library's backward pass.

The checker compares your gradients in the order of ``ORDER`` - the order in which a backward pass meets them -
and names the first one that is wrong and by how much, like Karpathy's ``cmp()``: everything before it is right,
so the mistake is in the one line that computes it. Work down the list: write one gradient, check, go on.
Check with:  python -m minicnn.exercises check whole_network --file THIS_FILE
"""
import numpy as np

ORDER = ("log_probs", "logits", "fc_w", "fc_b", "flat", "pooled", "relu", "bn", "gamma", "beta", "x_hat",
         "inv_std", "var", "centred", "mu", "conv", "conv_w")
EPS = 1e-5


def im2col(x, K):
    """Given. x (N, C, H, W) -> (N*H1*W1, C*K*K): one row per K x K window (n, i, j), stride 1, no padding."""
    N, C, H, W = x.shape
    H1, W1 = H - K + 1, W - K + 1
    return np.array([x[n, :, i:i + K, j:j + K].reshape(-1) for n in range(N) for i in range(H1) for j in range(W1)])


def forward(x, labels, params):
    """Given: the loss and every intermediate on the way to it."""
    N, C, H, W = x.shape
    F, _, K, _ = params["conv_w"].shape
    H1, W1 = H - K + 1, W - K + 1
    t = {"x": x, "labels": labels, "cols": im2col(x, K)}
    t["conv"] = (t["cols"] @ params["conv_w"].reshape(F, -1).T).reshape(N, H1, W1, F).transpose(0, 3, 1, 2)
    per_channel = (1, F, 1, 1)
    t["mu"] = t["conv"].mean(axis=(0, 2, 3))                                         # (F,)
    t["centred"] = t["conv"] - t["mu"].reshape(per_channel)
    t["var"] = (t["centred"] ** 2).mean(axis=(0, 2, 3))                              # biased
    t["inv_std"] = 1.0 / np.sqrt(t["var"] + EPS)
    t["x_hat"] = t["centred"] * t["inv_std"].reshape(per_channel)
    t["bn"] = params["gamma"].reshape(per_channel) * t["x_hat"] + params["beta"].reshape(per_channel)
    t["relu"] = np.maximum(t["bn"], 0.0)
    windows = t["relu"].reshape(N, F, H1 // 2, 2, W1 // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, F, H1 // 2,
                                                                                                W1 // 2, 4)
    t["pool_argmax"] = windows.argmax(axis=-1)                 # offset 2*p + q of each window's (first) maximum
    t["pooled"] = windows.max(axis=-1)                         # (N, F, H1/2, W1/2)
    t["flat"] = t["pooled"].reshape(N, -1)
    t["logits"] = t["flat"] @ params["fc_w"].T + params["fc_b"]
    shifted = t["logits"] - t["logits"].max(axis=1, keepdims=True)  # the maximum only keeps exp() finite
    t["log_probs"] = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    t["loss"] = -t["log_probs"][np.arange(N), labels].mean()
    return t


def backward(t, params):
    """-> {"d" + name: dloss/dname for every name in ORDER}. Replace each None, one line (or a few) at a time,
    in this order; each may use the ones above it. ``t["pool_argmax"]`` is the offset 2*p + q of each pooling
    window's maximum."""
    g = {}
    g["dlog_probs"] = None      # (N, K)      loss = -mean over n of log_probs[n, labels[n]]
    g["dlogits"] = None         # (N, K)      log_probs = logits - log(sum(exp(logits)))  per row
    g["dfc_w"] = None           # (K, D)      logits = flat @ fc_w.T + fc_b
    g["dfc_b"] = None           # (K,)
    g["dflat"] = None           # (N, D)
    g["dpooled"] = None         # (N, F, 2, 2)
    g["drelu"] = None           # (N, F, 4, 4)   max pool 2x2 stride 2
    g["dbn"] = None             # (N, F, 4, 4)   relu = max(bn, 0)
    g["dgamma"] = None          # (F,)           bn = gamma * x_hat + beta
    g["dbeta"] = None           # (F,)
    g["dx_hat"] = None          # (N, F, 4, 4)
    g["dinv_std"] = None        # (F,)           x_hat = centred * inv_std
    g["dvar"] = None            # (F,)           inv_std = 1 / sqrt(var + EPS)
    g["dcentred"] = None        # (N, F, 4, 4)   centred reaches the loss through x_hat and through var
    g["dmu"] = None             # (F,)           centred = conv - mu
    g["dconv"] = None           # (N, F, 4, 4)
    g["dconv_w"] = None         # (F, C, 3, 3)   conv = im2col(x) @ conv_w.reshape(F, -1).T, reshaped
    return g
