"""Worked answers: Lab 2, batch normalisation.

The cells of the lab (docs/labs/batchnorm_lab.md) marked `# your turn`, filled in. The test suite runs the lab once as
shipped and once with these cells in place of the blanks.

A jupytext notebook in percent format: each cell below replaces the blank cell of the lab that defines
the same names.
"""

# %%
# your turn
def batchnorm_loops(x, gamma, beta, eps=1e-5):
    """x (N, C, H, W) -> y, with Python loops over channels and values (no axis= arguments)."""
    N, C, H, W = x.shape
    y = np.empty_like(x)
    for c in range(C):
        values = [x[n, c, i, j] for n in range(N) for i in range(H) for j in range(W)]
        m = sum(values) / len(values)                              # (3)
        v = sum((value - m) ** 2 for value in values) / len(values)   # (4), biased
        for n in range(N):
            for i in range(H):
                for j in range(W):
                    y[n, c, i, j] = gamma[c] * (x[n, c, i, j] - m) / np.sqrt(v + eps) + beta[c]   # (5), (6)
    return y


# %%
# your turn
def three_paths(g, x_hat, gamma, s):
    """One channel: g, x_hat (M,), gamma and s numbers -> (direct, through_mean, through_var), each (M,)."""
    M = len(g)
    direct = gamma * s * g
    through_mean = -gamma * s * g.sum() / M * np.ones(M)
    through_var = -gamma * s * x_hat * (g * x_hat).sum() / M
    return direct, through_mean, through_var


# %%
# your turn
def update_running(running_mean, running_var, batch, momentum=0.1):
    """batch (N, C, H, W) -> (new running_mean, new running_var), both (C,)."""
    M = batch.size // batch.shape[1]
    mean = batch.mean(axis=(0, 2, 3))
    var_unbiased = batch.var(axis=(0, 2, 3)) * M / (M - 1)
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var_unbiased)
