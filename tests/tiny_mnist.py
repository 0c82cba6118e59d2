"""A tiny, learnable data set in MNIST's own file format (gzip-compressed IDX), for tests
that must never need the real data.

Class k is a bright bar at a place that depends on k, plus noise: a model that works
learns it in a few dozen steps, one that is broken does not.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: two zero bytes, type code 0x08 (uint8), number of dimensions, sizes (big-endian)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def make_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, label in enumerate(labels):
        row = 3 + 2 * int(label)
        images[i, row : row + 2, 4 + int(label) : 24] = 255  # a bar whose row and length give the class
    return images


def write(root: Path, n_train: int = 3000, n_test: int = 500, extracted: bool = False, seed: int = 0):
    """Writes the four .gz files into <root>/MNIST/raw/ (and, if asked, their extracted copies).

    Returns torchvision's resource list for these files: [(file name, md5), ...].
    """
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_labels = rng.integers(0, 10, n_train)
    test_labels = rng.integers(0, 10, n_test)
    arrays = {
        "train_images": make_images(train_labels, rng),
        "train_labels": train_labels,
        "test_images": make_images(test_labels, rng),
        "test_labels": test_labels,
    }
    resources = []
    for key, name in NAMES.items():
        data = idx_bytes(arrays[key])
        compressed = gzip.compress(data, mtime=0)
        (raw / name).write_bytes(compressed)
        if extracted:
            (raw / name.removesuffix(".gz")).write_bytes(data)
        resources.append((name, hashlib.md5(compressed).hexdigest()))
    # torchvision's order: train images, train labels, test images, test labels
    return resources, arrays


def load_mnist(root: Path):
    """What the MNIST chapters do: their torchvision loader, inside chapter_kit's guard."""
    import chapter_kit
    import mnist_cnn

    with chapter_kit.mnist_files(root):
        return mnist_cnn.load_mnist(root)
