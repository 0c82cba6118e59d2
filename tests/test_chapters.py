"""Each chapter, run in quick mode on the CPU the way a reader runs it, produces its figures
and results, and the results are what a working model gives (bounds a broken one misses)."""

from __future__ import annotations

import importlib.util
import json
import math
import os

import pytest
from PIL import Image

from bookbuild.chapters import discover
from conftest import CODE

CHAPTERS = [chapter.name for chapter in discover(CODE)]


def load_chapter(name):
    spec = importlib.util.spec_from_file_location(f"chapter_{name}", CODE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """Runs a chapter's main() once in quick mode on the CPU; returns its results.json and folder."""
    done = {}

    def run(name):
        if name not in done:
            out = tmp_path_factory.mktemp(name)
            load_chapter(name).main(["--quick", "--device", "cpu", "--out", str(out)])
            done[name] = (json.loads((out / "results.json").read_text("utf-8")), out)
        return done[name]

    return run


def check_activation(results, out):
    grad_max = results["grad_max"]
    assert grad_max["sigmoid"] == pytest.approx(0.25, abs=1e-3)  # σ' ≤ 1/4, reached at 0
    assert grad_max["tanh"] == pytest.approx(1.0, abs=1e-2)
    assert grad_max["relu"] == 1.0
    assert results["value_at_zero"]["softplus"] == pytest.approx(math.log(2), abs=1e-6)
    assert results["sigmoid_grad_at_5"] < 0.01  # saturated
    assert results["relu_dead_fraction"] == pytest.approx(0.5, abs=0.01)


def check_regression(results, out):
    # A constant predictor scores the variance of y; a trained net must do far better,
    # and nothing that sees only x can beat the variance of the noise by much.
    assert results["final_loss"] < 0.25 * results["constant_loss"]
    assert results["final_loss"] < 0.02
    assert results["final_loss"] > 0.8 * results["noise_floor"]
    assert results["noise_floor"] == pytest.approx(0.2**2 / 12, rel=0.35)  # U[0, 0.2) noise
    assert results["final_loss"] < results["initial_loss"] / 10
    assert results["fit_error"] < 0.1
    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames == results["frames"] > 1


CHECKS = {"activation": check_activation, "regression": check_regression}


def test_every_chapter_has_result_checks():
    assert sorted(CHECKS) == sorted(CHAPTERS), "a new chapter needs assertions on its results here"


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_quick_run(name, quick_run):
    document, out = quick_run(name)
    assert document["chapter"] == name
    assert document["meta"]["mode"] == "quick"
    assert document["meta"]["device"] == "cpu"
    assert document["figures"], "a chapter shows at least one figure"
    for figure in document["figures"]:
        with Image.open(out / figure) as image:
            assert image.width > 200 and image.height > 150
    CHECKS[name](document["results"], out)


@pytest.mark.parametrize("name", CHAPTERS)
def test_importing_a_chapter_does_nothing(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    module = load_chapter(name)
    assert callable(module.main)
    assert os.listdir(tmp_path) == []
    assert capsys.readouterr() == ("", "")


def test_chapter_has_the_common_shape():
    for name in CHAPTERS:
        source = (CODE / f"{name}.py").read_text("utf-8")
        assert source.startswith('"""'), f"{name}: starts with a docstring saying what it does"
        assert "chapter_kit.chapter_parser(__file__, __doc__)" in source, name
        assert "chapter_kit.start(parser, argv)" in source, name
        assert "run.finish()" in source, name
        assert ".cuda()" not in source, f"{name}: use run.device, never .cuda()"
