"""Getting MNIST the way a user does (download when absent) on a tiny data set in MNIST's
own format; the errors for missing and corrupt files; a quick training run of each
MNIST chapter. No test here reaches the network or needs the real data."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from torchvision.datasets import MNIST

import chapter_kit
import tiny_mnist
from tiny_mnist import load_mnist
from conftest import CODE, ROOT
from test_chapters import assert_figure_text_is_readable

NO_NETWORK_MIRROR = "http://127.0.0.1:9/"  # the discard port: refused at once


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", [NO_NETWORK_MIRROR])


@pytest.fixture
def tiny(tmp_path, monkeypatch, no_network):
    """A data root with the four tiny .gz files, which torchvision accepts as the real ones."""
    resources, arrays = tiny_mnist.write(tmp_path / "data")
    monkeypatch.setattr(MNIST, "resources", resources)
    return tmp_path / "data", arrays


def files(root):
    return sorted(p.name for p in (root / "MNIST" / "raw").iterdir())


def test_present_files_are_verified_extracted_and_loaded(tiny):
    root, arrays = tiny
    train_x, train_y, test_x, test_y = load_mnist(root)
    assert train_x.shape == (3000, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (500, 28, 28)
    assert torch.equal(train_y, torch.from_numpy(arrays["train_labels"]).long())
    assert torch.equal(test_x, torch.from_numpy(arrays["test_images"]).to(torch.uint8))
    assert files(root) == sorted(list(tiny_mnist.NAMES.values()) + [n[:-3] for n in tiny_mnist.NAMES.values()])


def test_missing_data_and_no_network_gives_one_clear_message(tmp_path, no_network):
    with pytest.raises(chapter_kit.DataError) as error:
        load_mnist(tmp_path / "data")
    message = str(error.value)
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert str(raw) in message
    for name in tiny_mnist.NAMES.values():
        assert f"{name}（缺失）" in message
    assert "PTNOTES_DATA" in message
    assert not raw.exists() or files(tmp_path / "data") == []  # nothing half-written


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_corrupt_file_is_named_and_left_untouched(tiny, damage):
    root, _ = tiny
    labels = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    data = labels.read_bytes()
    broken = data[: len(data) // 2] if damage == "truncated" else data[:-1] + bytes([data[-1] ^ 0xFF])
    labels.write_bytes(broken)
    with pytest.raises(chapter_kit.DataError) as error:
        load_mnist(root)
    assert "t10k-labels-idx1-ubyte.gz（校验和不符" in str(error.value)
    assert "train-images-idx3-ubyte.gz（完好）" in str(error.value)
    assert labels.read_bytes() == broken
    assert "t10k-labels-idx1-ubyte" not in files(root)  # never extracted from a bad archive


def test_a_half_extracted_file_is_redone(tiny):
    root, arrays = tiny
    load_mnist(root)
    extracted = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    extracted.write_bytes(extracted.read_bytes()[:5000])  # as if a run was killed while extracting
    train_x, *_ = load_mnist(root)
    assert torch.equal(train_x, torch.from_numpy(arrays["train_images"]).to(torch.uint8))


def test_the_data_root_comes_from_flag_then_environment_then_project(monkeypatch, tmp_path):
    parser = chapter_kit.chapter_parser("x.py", None)
    chapter_kit.add_data_argument(parser)
    monkeypatch.delenv("PTNOTES_DATA", raising=False)
    assert chapter_kit.data_root(parser.parse_args([])) == ROOT / "data"
    monkeypatch.setenv("PTNOTES_DATA", str(tmp_path / "env"))
    assert chapter_kit.data_root(parser.parse_args([])) == tmp_path / "env"
    assert chapter_kit.data_root(parser.parse_args(["--data", str(tmp_path / "flag")])) == tmp_path / "flag"


def test_a_chapter_without_data_exits_with_the_message_and_no_traceback(tmp_path):
    # Any download is sent to a proxy on a closed local port: refused at once, never the internet.
    env = dict(os.environ, https_proxy=NO_NETWORK_MIRROR, http_proxy=NO_NETWORK_MIRROR, no_proxy="")
    result = subprocess.run(
        [
            sys.executable,
            str(CODE / "mnist_cnn.py"),
            "--quick",
            "--device",
            "cpu",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte.gz（缺失）" in result.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def run_chapter(name, root, out):
    spec = importlib.util.spec_from_file_location(f"chapter_{name}", CODE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--device", "cpu", "--data", str(root), "--out", str(out)])
    return json.loads((out / "results.json").read_text("utf-8"))


def test_cnn_chapter_trains_on_the_tiny_set(tiny, tmp_path):
    root, _ = tiny
    document = run_chapter("mnist_cnn", root, tmp_path / "out")
    results = document["results"]
    assert results["train_images"] == 3000 and results["test_images"] == 500
    assert results["notes_accuracy"] > 0.9 and results["improved_accuracy"] > 0.9
    assert results["notes_parameters"] == 28938
    assert results["notes_steps"] == 3000 // 50
    assert results["train_float32_mb"] == pytest.approx(3000 * 28 * 28 * 4 / 1e6)
    assert results["shown_wrong"] + results["shown_right"] == 24
    assert set(document["claims"]) == {
        "improved_fewer_errors", "improved_lower_loss", "bn_modes_use_which_statistics", "running_stats_match_data",
        "forgot_eval_mixed_unnoticed", "forgot_eval_one_digit_worse", "forgot_eval_single_worse",
    }
    assert results["bn_eval_formula"] < 1e-4 and results["bn_train_formula"] < 1e-4  # BatchNorm's two modes
    for figure in ("training_curve", "predictions", "kernels", "feature_maps", "forgot_eval"):
        assert (tmp_path / "out" / f"{figure}.png").is_file()
    assert_figure_text_is_readable(document)


def test_rnn_chapter_trains_on_the_tiny_set(tiny, tmp_path):
    root, _ = tiny
    document = run_chapter("mnist_rnn", root, tmp_path / "out")
    results = document["results"]
    assert results["lstm_accuracy"] > 0.5  # ten classes: chance is 0.1
    assert results["cnn_parameters"] == 28938 and results["tutorial_parameters"] == 24714
    claims = {"lstm_beats_rnn", "rnn_learns", "tuned_beats_tutorial", "cnn_not_fewer_parameters"}
    assert set(document["claims"]) == claims
    assert results["lstm_parameters"] == 4 * (28 * 128 + 128 * 128 + 2 * 128) + 128 * 10 + 10
    assert results["rnn_parameters"] == 28 * 128 + 128 * 128 + 2 * 128 + 128 * 10 + 10
    assert_figure_text_is_readable(document)


def test_real_mnist_through_the_users_path():
    """With the four original files in the project's data root (CI seeds them from ../shared),
    torchvision verifies their checksums and extracts them, with no network."""
    raw = ROOT / "data" / "MNIST" / "raw"
    if not all((raw / name).is_file() for name in tiny_mnist.NAMES.values()):
        if os.environ.get("PTNOTES_REQUIRE_DATA"):
            pytest.fail(f"the four MNIST files are not in {raw}", pytrace=False)
        pytest.skip(f"the four original MNIST files are not in {raw}")
    train_x, train_y, test_x, test_y = load_mnist(ROOT / "data")
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert torch.bincount(train_y).tolist()[:3] == [5923, 6742, 5958]
