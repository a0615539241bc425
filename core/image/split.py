"""Train/validation splits drawn exactly as scikit-learn's ``train_test_split`` draws them (stratified by
label, or not), without importing scikit-learn, whose import costs every command about a second of start-up:
the same seed gives the same indices, so runs and their checkpoints keep their splits."""
from __future__ import annotations

import numpy as np


def train_test_split_indices(n: int, n_test: int, seed: int,
                             stratify: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of ``range(n)``, as ``train_test_split(np.arange(n), test_size=n_test,
    random_state=seed, stratify=stratify)`` returns them."""
    rng = np.random.RandomState(seed)
    n_train = n - n_test
    if stratify is None:  # ShuffleSplit
        permutation = rng.permutation(n)
        return permutation[n_test:n_test + n_train], permutation[:n_test]
    # StratifiedShuffleSplit
    _, y_indices, class_counts = np.unique(stratify, return_inverse=True, return_counts=True)
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i, indices in enumerate(class_indices):
        ordered = indices.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(ordered[:n_i[i]])
        test.extend(ordered[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of ``n_draws`` each class gets: proportional shares floored, the rest to the largest
    remainders, ties broken at random (scikit-learn's ``_approximate_mode``)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)
