"""Worked answers: Lab 3, training AlexNet with and without batch normalisation.

The cells of the lab (docs/labs/training_bn_lab.md) marked `# your turn`, filled in. The test suite runs the lab once as
shipped and once with these cells in place of the blanks.

A jupytext notebook in percent format: each cell below replaces the blank cell of the lab that defines
the same names.
"""

# %%
# your turn
def epoch_batches(n_cases, batch_size, rng):
    """The batches of one epoch: a list of index arrays that together hold 0 .. n_cases - 1, each exactly once,
    in an order drawn from rng; every batch has batch_size indices except perhaps the last."""
    order = rng.permutation(n_cases)
    return [order[first:first + batch_size] for first in range(0, n_cases, batch_size)]


# %% [markdown]
# Only the network with BN after every hidden layer keeps a finite loss: its forward pass does not see the
# weights' scale at all, while the other two pass a factor of 10⁷ or 10⁵ to the logits, and the first SGD step
# overflows.


# %%
# your turn
still_train = {"AlexNet-BN-all"}   # a set of names among "AlexNet", "AlexNet-BN", "AlexNet-BN-all"
