"""MNIST's extracted files are what its .gz files hold, whatever happened to them, and two
chapters loading the data at once both get it whole."""

from __future__ import annotations

import multiprocessing

import pytest
import torch
from torchvision.datasets import MNIST

import chapter_kit
import tiny_mnist
from tiny_mnist import load_mnist


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    resources, arrays = tiny_mnist.write(tmp_path / "data", n_train=20000)
    monkeypatch.setattr(MNIST, "resources", resources)
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # never the network
    return tmp_path / "data", arrays


def expected(arrays, key):
    return torch.from_numpy(arrays[key]).to(torch.uint8)


def test_an_edited_extracted_file_is_extracted_again(tiny):
    root, arrays = tiny
    load_mnist(root)
    extracted = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    data = bytearray(extracted.read_bytes())
    data[-1] ^= 0xFF  # same size, one pixel changed
    extracted.write_bytes(bytes(data))
    *_, test_x, _ = load_mnist(root)
    assert torch.equal(test_x, expected(arrays, "test_images"))


def test_a_corrupt_archive_beside_extracted_files_is_an_error(tiny):
    root, _ = tiny
    load_mnist(root)
    archive = root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    archive.write_bytes(archive.read_bytes()[:-9] + b"corrupted")
    with pytest.raises(chapter_kit.DataError) as error:
        load_mnist(root)
    assert "train-labels-idx1-ubyte.gz（校验和不符" in str(error.value)


def test_extracted_files_without_archives_are_used_as_they_are(tiny):
    root, arrays = tiny
    load_mnist(root)
    for archive in (root / "MNIST" / "raw").glob("*.gz"):
        archive.unlink()
    train_x, *_ = load_mnist(root)
    assert torch.equal(train_x, expected(arrays, "train_images"))


def load_and_check(root):
    try:
        train_x, train_y, test_x, test_y = load_mnist(root)
    except BaseException as error:  # DataError is a SystemExit: it would kill the pool's worker
        return f"{type(error).__name__}: {error}"
    return tuple(t.shape[0] for t in (train_x, train_y, test_x, test_y))


def test_chapters_loading_at_once_all_get_whole_data(tiny):
    root, _ = tiny
    context = multiprocessing.get_context("fork")  # the children keep the tiny data's checksums
    for _ in range(5):
        for extracted in (root / "MNIST" / "raw").glob("*-ubyte"):
            extracted.unlink()
        with context.Pool(4) as pool:
            shapes = pool.map(load_and_check, [root] * 4)
        assert shapes == [(20000, 20000, 500, 500)] * 4
