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
The worked answer below writes each gradient from the one before it, in the order of ORDER.
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
    """-> {"d" + name: dloss/dname for every name in ORDER}."""
    x, labels = t["x"], t["labels"]
    N, F = x.shape[0], params["conv_w"].shape[0]
    M = N * t["conv"].shape[2] * t["conv"].shape[3]          # values per channel in batch norm
    per_channel = (1, F, 1, 1)
    axes = (0, 2, 3)
    g = {}
    # softmax cross-entropy: loss = -mean_n log_probs[n, labels[n]]
    g["dlog_probs"] = np.zeros_like(t["log_probs"])
    g["dlog_probs"][np.arange(N), labels] = -1.0 / N
    # log_probs = logits - logsumexp(logits): the Jacobian is I - softmax in every row
    probs = np.exp(t["log_probs"])
    g["dlogits"] = g["dlog_probs"] - probs * g["dlog_probs"].sum(axis=1, keepdims=True)
    # linear: logits = flat fc_w^T + fc_b
    g["dfc_w"] = g["dlogits"].T @ t["flat"]
    g["dfc_b"] = g["dlogits"].sum(axis=0)
    g["dflat"] = g["dlogits"] @ params["fc_w"]
    g["dpooled"] = g["dflat"].reshape(t["pooled"].shape)
    # max pool 2x2 stride 2: each window's gradient goes whole to its first maximum (no overlap, so no sums)
    drelu = np.zeros_like(t["relu"])
    p, q = np.divmod(t["pool_argmax"], 2)
    n, c, i, j = np.indices(t["pool_argmax"].shape)
    drelu[n, c, 2 * i + p, 2 * j + q] = g["dpooled"]
    g["drelu"] = drelu
    # ReLU: the gradient passes where bn > 0
    g["dbn"] = np.where(t["bn"] > 0, g["drelu"], 0.0)
    # bn = gamma * x_hat + beta
    g["dgamma"] = (g["dbn"] * t["x_hat"]).sum(axis=axes)
    g["dbeta"] = g["dbn"].sum(axis=axes)
    g["dx_hat"] = g["dbn"] * params["gamma"].reshape(per_channel)
    # x_hat = centred * inv_std: two inputs
    g["dinv_std"] = (g["dx_hat"] * t["centred"]).sum(axis=axes)
    # inv_std = (var + eps)^(-1/2)
    g["dvar"] = g["dinv_std"] * -0.5 * (t["var"] + EPS) ** -1.5
    # centred reaches the loss through x_hat and through var = mean(centred^2)
    g["dcentred"] = (g["dx_hat"] * t["inv_std"].reshape(per_channel)
                     + g["dvar"].reshape(per_channel) * 2.0 * t["centred"] / M)
    # centred = conv - mu
    g["dmu"] = -g["dcentred"].sum(axis=axes)
    g["dconv"] = g["dcentred"] + g["dmu"].reshape(per_channel) / M
    # conv = im2col(x) conv_w^T, reshaped
    dY = g["dconv"].transpose(0, 2, 3, 1).reshape(-1, F)
    g["dconv_w"] = (dY.T @ t["cols"]).reshape(params["conv_w"].shape)
    return g
