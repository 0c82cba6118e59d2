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

ALL_CHAPTERS = [chapter.name for chapter in discover(CODE)]
# Chapters that read a data set are run on a tiny one in test_mnist.py, never on the real data.
DATA_CHAPTERS = sorted(chapter.name for chapter in discover(CODE) if chapter.data_files)
CHAPTERS = [name for name in ALL_CHAPTERS if name not in DATA_CHAPTERS]


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
    assert 0 < results["sigmoid_min"] < results["sigmoid_max"] < 1
    assert -1 < results["tanh_min"] < 0 < results["tanh_max"] < 1
    assert results["softplus_gap_max"] == pytest.approx(math.log(2), abs=0.02) and results["softplus_gap_edge"] < 0.01


def check_regression(results, out):
    # A constant predictor scores the variance of y; a trained net must do far better,
    # and nothing that sees only x can beat the variance of the noise by much.
    assert results["final_loss"] < 0.25 * results["constant_loss"]
    assert results["final_loss"] < 0.02
    assert results["final_loss"] > 0.8 * results["noise_floor"]
    assert results["noise_floor"] == pytest.approx(0.2**2 / 12, rel=0.35)  # U[0, 0.2) noise
    assert results["final_loss"] < results["initial_loss"] / 10
    assert results["fit_error"] < 0.1
    # the same setting on other seeds: near the noise floor, far below the constant predictor
    assert len(results["repeat_to_floor"]) == results["repeats"] >= 3
    assert results["repeat_to_floor_median"] <= results["near_floor"]
    assert results["repeat_to_constant_median"] <= results["far_below"]
    assert results["test_loss"] > results["noise_variance"]  # fresh noise cannot be predicted
    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames == results["frames"] > 1


def check_classification(results, out):
    # Two Gaussians 2√2 standard deviations from the boundary x1 + x2 = 0: the Bayes rule errs on Φ(-2√2) ≈ 0.23 %
    assert results["bayes_accuracy"] == pytest.approx(0.99766, abs=1e-4)
    assert abs(results["bayes_test_accuracy"] - results["bayes_accuracy"]) < 0.003  # 20 000 fresh points
    assert results["n_train"] == 200 and results["n_test"] == 20000
    # a trained net is near the optimum on fresh points (chance is 50 %), and never far above it
    assert 0.97 < results["test_accuracy"] <= results["bayes_test_accuracy"] + 0.003
    assert results["train_accuracy"] > 0.95
    assert results["data_agreement"] > 0.97 and 0.6 < results["grid_agreement"] <= 1
    assert len(results["repeat_gap"]) == results["repeats"] >= 3
    assert results["repeat_gap_median"] <= results["near_bayes"]
    assert results["repeat_data_agreement_median"] >= results["agree_on_data"]
    assert results["repeat_grid_agreement_median"] >= results["agree_on_grid"]
    with Image.open(out / "training.gif") as gif:
        assert gif.n_frames == results["frames"] > 1


def check_autograd(results, out):
    assert results["notes_grad"] == pytest.approx([2.0, 0.2, 40.0])  # y = 2x, v = (1, 0.1, 20)
    assert results["notes_error"] < 1e-6
    assert results["vjp_backward"] == pytest.approx(results["vjp_by_hand"], abs=1e-5)
    assert results["vjp_jacobian"] == pytest.approx(results["vjp_by_hand"], abs=1e-5)
    assert results["variable_type"] == "torch.Tensor"
    assert (results["accumulate_first"], results["accumulate_second"]) == (6.0, 12.0)
    assert results["derivative_max_error"] < 1e-4
    assert results["jacobian_max_error"] < 1e-5
    assert results["elementwise_gap"] > 0.5  # multiplying component-wise is not vᵀJ


def check_nn_module(results, out):
    assert results["parameter_count"] == 20 * 1 * 25 + 20 + 20 * 20 * 25 + 20
    assert results["output_shape"] == [1, 20, 20, 20]
    assert [row["输出形状"] for row in results["shapes"]] == ["(1, 1, 28, 28)", "(1, 20, 24, 24)", "(1, 20, 20, 20)"]
    assert "Conv2d(1, 20, kernel_size=(5, 5)" in results["structure"]
    assert results["parameter_count_by_hand"] == results["parameter_count"]


def check_data_loading(results, out):
    assert results["class_to_idx"] == {"circle": 0, "square": 1, "triangle": 2}
    assert results["created_order"] != results["classes"]  # sorted by name, not by creation
    assert results["dataset_size"] == 3 * results["images_per_class"]
    assert results["batch_shape"] == [4, 1, 32, 32]
    assert results["batches_per_epoch"] == 6
    assert sorted(results["first_epoch"]) == sorted(results["second_epoch"])  # same samples,
    assert results["first_epoch"] != results["second_epoch"]  # another order
    assert results["parallel_same_batches"] is True
    assert "stack expects each tensor to be equal size" in results["default_collate_error"]
    height, width = results["padded_shape"][2:]
    assert [height, width] == [max(s[0] for s in results["padded_sizes"]), max(s[1] for s in results["padded_sizes"])]


def check_linear_regression(results, out):
    # Standardised training reaches the closed-form least-squares solution;
    # the notes' run cannot beat it, and has not converged in b.
    assert results["w_std"] == pytest.approx(results["w_star"], abs=1e-3)
    assert results["b_std"] == pytest.approx(results["b_star"], abs=1e-3)
    assert results["loss_std"] == pytest.approx(results["loss_star"], rel=1e-4)
    assert results["loss_notes"] >= results["loss_star"] * (1 - 1e-6)
    assert results["loss_notes"] < 2 * results["loss_star"]
    assert results["std_max_diff"] < 1e-5  # float32 rounding only
    assert results["gap_cos"] > 0.99  # the remaining error lies along the flat valley
    assert results["excess_ratio"] > 0.3  # still creeping towards the optimum
    assert results["condition"] > 100 and results["lr_lam_max"] < 0.5  # ill-conditioned, lr far below 2/λmax


def check_logistic_regression(results, out):
    assert results["logit_accuracy"] >= 0.85
    assert results["notes_accuracy"] == results["logit_accuracy"]
    assert results["parameter_difference"] < 1e-4
    assert results["bce"] == [100.0, 100.0]  # log(0) clamped: the loss saturates
    assert results["bce_logits"] == pytest.approx([40.0, 120.0])  # exact


def check_sigmoid_drawbacks(results, out):
    assert results["derivative_max"] == pytest.approx(0.25, abs=1e-4)
    assert results["gradient_depth_max"] < 0.25 ** results["max_depth"]
    assert results["sigmoid_same_sign"] == 1.0
    assert results["tanh_same_sign"] < 0.05
    assert results["tanh_same_sign"] < results["batch_same_sign"] < results["sigmoid_same_sign"]
    assert results["distance_tanh"] < results["distance_sigmoid"]
    assert results["sigmoid_quadrant_steps"] == results["path_steps"] > results["tanh_quadrant_steps"]


def check_convolution(results, out):
    assert results["combinations"] > 300 and results["mismatches"] == 0
    for row in results["formula_samples"]:
        assert row["公式"] == row["nn.Conv2d"]
    for row in results["same_padding"]:
        assert (row["输出边长"] == 28) == (row["kernel_size"] % 2 == 1)  # odd kernels keep the size
    shapes = [row["输出形状"] for row in results["conv_shapes"]]
    assert shapes == ["(8, 16, 98)", "(8, 16, 30, 30)", "(8, 16, 8, 30, 30)"]
    assert results["edges"] == [0.0, 1.0, 0.0, 0.0, 0.0, -1.0, 0.0]
    assert results["true_edges"] == [-value for value in results["edges"]]  # a true convolution flips the kernel
    assert results["pytorch_vs_correlation"] < 1e-5 and results["flipped_vs_convolution"] < 1e-5
    assert results["pytorch_vs_convolution"] > 1e-2  # conv1d is not the textbook convolution
    assert [row["参数个数"] for row in results["group_table"]] == [584, 296, 80, 576]  # groups 1, 2, 8; no bias
    assert (results["seen_groups1"], results["seen_groups2"], results["seen_depthwise"]) == (8, 4, 1)
    assert results["sobel_left"] > 0 > results["sobel_right"] and results["sobel_top"] > 0 > results["sobel_bottom"]
    assert results["cnn_parameters"] == 28938  # MorvanZhou's CNN
    assert results["cnn_shapes"][-1]["输出形状"] == "(1, 10)"
    assert results["vertical_side_ratio"] > 3 and results["horizontal_pole_ratio"] > 3
    assert 0.8 < results["laplacian_side_ratio"] < 1.25


def check_rnn(results, out):
    assert results["parameters"] == 32 * 1 + 32 * 32 + 2 * 32 + 32 + 1
    assert results["last_loss"] < results["first_loss"] / 5
    assert results["test_loss"] < 0.05  # parameters fixed, it keeps predicting as it runs on past the training chunks
    # starting each chunk from a zero state, the first step (sin = 0) cannot know the sign of cos
    assert results["reset_first"] > 0.5 and results["carry_first"] < results["reset_first"] / 10


def check_vanishing_gradients(results, out):
    assert results["sigmoid_ratio"] > 1e3  # the deep sigmoid net's first layers get almost nothing
    assert 0.2 < results["relu_ratio"] < 10
    assert 0.2 < results["bn_ratio"] < 5
    assert results["explode_vs_he"] > 10
    assert results["plain_slope_min"] > 0.2 and results["saturated_slope_max"] < 0.05  # σ′: not saturated vs saturated
    assert results["saturated_ratio"] > results["sigmoid_ratio"]
    assert results["bn_slope_max"] < results["plain_slope_min"] and results["bn_inner_gain_min"] > 2  # BN: 1/σ_B
    assert results["plain_nonfinite_step_max"] <= 10  # every unclipped run blows up
    assert results["clipped_final_max"] < results["initial_loss_min"]  # clipped runs stay finite and learn
    assert results["bn_grad_ratio"] == pytest.approx(results["bn_scale"], rel=1e-3)
    assert results["bn_output_change"] < 1e-3


def check_lstm(results, out):
    assert results["lstm_longest"]["min"] > 0.9  # the LSTM remembers the first symbol
    assert results["irnn_longest"]["min"] > 0.9  # so does an RNN whose W starts as the identity
    assert results["rnn_longest"]["median"] < 0.5  # the RNN is near chance (0.25)
    assert results["lstm_accuracy"][0] > 0.9 and results["rnn_accuracy"][0] > 0.9  # short: both learn
    # the gradient reaching the first step has vanished for the RNN, not for the LSTM
    assert results["rnn_grad_longest"]["max"] < 1e-4 * results["lstm_grad_longest"]["min"]


def check_degradation(results, out):
    assert results["plain_loss"] > 1.5 * results["shallow_loss"]  # deeper plain net trains worse
    assert results["residual_loss"] < 0.75 * results["plain_loss"]  # same depth with shortcuts trains better
    assert results["explosion_min"] > 2  # at init the plain net's gradient grows toward the input ...
    assert results["train_gradient_min"] > 1e-2  # ... and during training it does not vanish
    assert abs(results["mean_baseline"] - 5 * (0.5 - 1 / (2 * 3.141592653589793))) < 1e-12
    # the same small student from several inits: some reach the global minimum 0, some stop at a local minimum
    assert results["narrow_trapped"] >= 1 and results["narrow_reached"] >= 1
    assert results["hessian_confirmed"] >= 1 and results["confirmed_eigenvalue_min"] > 1e-3
    assert 1e-3 < results["trapped_loss_min"] < results["initial_loss"] / 10
    assert results["wide_trapped"] < results["narrow_trapped"]


CHECKS = {
    "convolution": check_convolution,
    "degradation": check_degradation,
    "lstm": check_lstm,
    "rnn": check_rnn,
    "vanishing_gradients": check_vanishing_gradients,
    "activation": check_activation,
    "autograd": check_autograd,
    "data_loading": check_data_loading,
    "linear_regression": check_linear_regression,
    "logistic_regression": check_logistic_regression,
    "nn_module": check_nn_module,
    "regression": check_regression,
    "classification": check_classification,
    "sigmoid_drawbacks": check_sigmoid_drawbacks,
}


def test_every_chapter_has_result_checks():
    assert sorted(CHECKS) == sorted(CHAPTERS), "a new chapter needs assertions on its results here"
    assert DATA_CHAPTERS == ["mnist_cnn", "mnist_rnn"], "a chapter with data needs a tiny-data test"


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
    assert_figure_text_is_readable(document)
    for figure in document["figures"]:
        if figure.endswith(".gif"):
            assert_avif_matches_gif(out / figure)
    CHECKS[name](document["results"], out)


def assert_avif_matches_gif(gif_path):
    """The AVIF the page shows in place of an animation: the same frames for the same time, no
    visible difference (PSNR >= 45 dB against every GIF frame), and fewer bytes. (How many fewer
    depends on the frames: the full-mode figures are in the README.)"""
    import numpy as np
    from PIL import ImageSequence

    avif_path = gif_path.with_suffix(".avif")
    with Image.open(gif_path) as gif, Image.open(avif_path) as avif:
        assert gif.n_frames == avif.n_frames
        for shown, encoded in zip(ImageSequence.Iterator(gif), ImageSequence.Iterator(avif)):
            encoded.load()  # AVIF reads a frame's duration when it decodes it
            assert shown.info["duration"] == encoded.info["duration"]
            error = np.mean((np.asarray(shown.convert("RGB"), float) - np.asarray(encoded.convert("RGB"), float)) ** 2)
            assert error == 0 or 10 * math.log10(255**2 / error) >= 45, f"{avif_path.name}: PSNR {10 * math.log10(255**2 / error):.1f} dB"
    assert avif_path.stat().st_size < gif_path.stat().st_size, (avif_path.stat().st_size, gif_path.stat().st_size)


MIN_TEXT_PT = 9  # the smallest text in a figure, as the page shows it in its column


def assert_figure_text_is_readable(document):
    shown = document["meta"]["figure_text_pt"]
    assert set(shown) == set(document["figures"])
    small = {figure: size for figure, size in shown.items() if size < MIN_TEXT_PT}
    assert not small, f"text smaller than {MIN_TEXT_PT} pt on the page: {small}"


@pytest.mark.parametrize("name", ALL_CHAPTERS)
def test_importing_a_chapter_does_nothing(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    module = load_chapter(name)
    assert callable(module.main)
    assert os.listdir(tmp_path) == []
    assert capsys.readouterr() == ("", "")


def test_chapter_has_the_common_shape():
    for name in ALL_CHAPTERS:
        source = (CODE / f"{name}.py").read_text("utf-8")
        assert source.startswith(('"""', 'r"""')), f"{name}: starts with a docstring saying what it does"
        assert "chapter_kit.chapter_parser(__file__, __doc__)" in source, name
        assert "chapter_kit.start(parser, argv)" in source, name
        assert "run.finish()" in source, name
        assert ".cuda()" not in source, f"{name}: use run.device, never .cuda()"


def test_an_animation_is_a_gif_alone_where_pillow_cannot_write_avif(tmp_path, monkeypatch):
    """Elsewhere (an older Pillow in a notebook's environment) the chapter still runs; the page shows the GIF."""
    import argparse

    import matplotlib.pyplot as plt
    from PIL import features

    import chapter_kit

    chapter_kit._configure_matplotlib()
    run = chapter_kit.Run("tiny", None, True, 0, tmp_path, argparse.Namespace())
    fig, ax = plt.subplots(figsize=(3, 2))
    animation = chapter_kit.Animation(run, fig, "training", frame_ms=100)
    animation.record_pauses()
    for step in range(3):
        ax.plot([0, 1], [0, step])
        fig.canvas.draw()
    real_check = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "avif" else real_check(name))
    animation.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training.gif"]
    assert run.figures == ["training.gif"]
