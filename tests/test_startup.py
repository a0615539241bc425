"""Start-up: the train and sample commands import no library they do not use (scikit-learn, SciPy,
torchaudio and torchvision cost seconds), and what replaced them gives exactly the same results."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits
from sklearn.model_selection import train_test_split
from torchvision.utils import make_grid

from core.image.data import load_digits
from core.image.imaging import tile
from core.image.split import train_test_split_indices

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "torchaudio", "torchvision")

IMPORTED_BY_COMMANDS = """
import sys
import main
train = main.build_parser(["train"]).parse_args(["train", "--epochs", "1", "--out", sys.argv[1]])
from core.commands.train import build_run
build_run(train)
from core.commands import sample
from core.image.imaging import save_grid
print(" ".join(m for m in sys.argv[2:] if m in sys.modules))
"""


def test_training_and_sampling_import_no_heavy_library_they_do_not_use(tmp_path):
    done = subprocess.run([sys.executable, "-c", IMPORTED_BY_COMMANDS, str(tmp_path), *HEAVY], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_splits_are_scikit_learns(seed):
    digits = sklearn_digits().target
    rng = np.random.default_rng(seed)
    skewed = np.r_[np.zeros(90, int), np.ones(7, int), 2 * np.ones(3, int)]
    for labels, n_test in ((digits, 180), (digits, 11), (rng.integers(0, 3, 101), 17), (skewed, 10)):
        for stratify in (labels, None):
            expected = train_test_split(np.arange(len(labels)), test_size=n_test, random_state=seed, stratify=stratify)
            got = train_test_split_indices(len(labels), n_test, seed, stratify)
            assert all(np.array_equal(a, b) for a, b in zip(expected, got))


def test_digits_are_scikit_learns():
    ours, theirs = load_digits(), sklearn_digits()
    assert np.array_equal(ours.labels, theirs.target)
    assert np.array_equal(ours.images.numpy()[:, 0], (theirs.images / 16.0 * 255 + 0.5).astype(np.uint8))


def test_tiles_are_torchvisions_grids():
    rng = np.random.default_rng(0)
    for n, c, cols, pad in ((16, 1, 4, 1), (7, 3, 3, 2), (1, 1, None, 1), (5, 3, None, 0), (10, 1, 16, 1)):
        x = rng.integers(0, 255, (n, c, 6, 5), dtype=np.uint8)
        grid = make_grid(torch.from_numpy(x), nrow=cols or n, padding=pad, pad_value=40).permute(1, 2, 0).numpy()
        assert np.array_equal(tile(x, cols, pad), grid)
