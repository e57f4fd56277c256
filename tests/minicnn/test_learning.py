"""Learning on real data no one here made: scikit-learn's bundled 8x8 handwritten digits."""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from minicnn import train_step
from minicnn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicnn.optim import SGD, StepLR


def test_small_cnn_learns_digits():
    """10 epochs, about 4 s on 2 cores (a benchmark, not this test, is the place for timing)."""
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.25, random_state=0,
                                                        stratify=digits.target)
    rng = np.random.default_rng(0)
    model = Sequential(Conv2d(1, 16, 3, padding=1, rng=rng), BatchNorm2d(16), ReLU(), MaxPool2d(2),
                       Conv2d(16, 32, 3, padding=1, rng=rng, l2=1e-4), ReLU(), Flatten(), Dropout(0.3, rng=rng),
                       Linear(32 * 4 * 4, 10, rng=rng))
    opt = SGD(model, lr=0.05, momentum=0.9)
    schedule = StepLR(opt, step_size=6, gamma=0.2)
    losses = []
    for epoch in range(10):
        order = rng.permutation(len(X_train))
        for start_index in range(0, len(order), 32):
            batch = order[start_index:start_index + 32]
            losses.append(train_step(model, opt, X_train[batch], y_train[batch]).loss)
        schedule.step()
    accuracy = float((model.forward(X_test, train=False).argmax(axis=1) == y_test).mean())
    assert np.mean(losses[-20:]) < 0.25 * np.mean(losses[:20])
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f}"
