"""Bad input to a chapter script gets one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import CODE, ROOT


def run_chapter(*args, env=None):
    return subprocess.run(
        [sys.executable, str(CODE / "regression.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unknown_flag():
    assert_one_line_error(run_chapter("--epochs", "3"), "--epochs")


@pytest.mark.parametrize("value", ["-5", "0", "many"])
def test_count_must_be_positive(value):
    assert_one_line_error(run_chapter("--steps", value), "--steps", value)


@pytest.mark.parametrize("value", ["-1", str(2**70), "zero"])
def test_seed_must_fit_every_generator(value):
    assert_one_line_error(run_chapter("--seed", value), "--seed", value)


def test_unknown_device():
    assert_one_line_error(run_chapter("--device", "tpu"), "--device")


def test_cuda_requested_without_cuda():
    import os

    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # hides any GPU: the no-CUDA machine
    assert_one_line_error(run_chapter("--device", "cuda", env=env), "CUDA")


def test_unwritable_output(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_one_line_error(run_chapter("--out", str(blocker / "figures")), str(blocker / "figures"))
    assert blocker.read_text() == "not a folder"


def test_help_lists_the_common_flags():
    result = run_chapter("--help")
    assert result.returncode == 0
    for flag in ("--device", "--quick", "--seed", "--out", "--steps"):
        assert flag in result.stdout


ARGPARSE_ENGLISH = ("usage", "options", "show this help", "positional arguments", "error", "invalid", "argument",
                    "unrecognized", "expected", "required")


@pytest.mark.parametrize("script", sorted(p.stem for p in CODE.glob("*.py") if p.stem != "chapter_kit"))
def test_help_is_all_chinese(script, capsys):
    import importlib

    module = importlib.import_module(script)
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("用法：") and "选项：" in text and "显示这段帮助并退出" in text
    for english in ARGPARSE_ENGLISH:
        assert english not in text.lower(), f"{script} --help: {english!r}"


@pytest.mark.parametrize("args", [["--device", "tpu"], ["--bogus"], ["--seed"], ["--quick=1"]])
def test_argparse_errors_are_chinese(args):
    result = run_chapter(*args)
    assert_one_line_error(result, "错误：")
    for english in ARGPARSE_ENGLISH:
        assert english not in result.stderr.lower().replace("regression.py", ""), result.stderr
