"""Shared fixtures. The tests run on a CPU-only machine with no network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ROOT / "code"

# Chapter scripts import their helper as `import chapter_kit`, as `python code/x.py` allows.
if str(CODE) not in sys.path:
    sys.path.insert(0, str(CODE))


def mkdocs_env(**overrides) -> dict[str, str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PTNOTES_MODE="quick", CUDA_VISIBLE_DEVICES="")
    env.update(overrides)
    return env


def mkdocs_build(config: Path, site_dir: Path, *, verbose: bool = False, **env) -> subprocess.CompletedProcess:
    flags = ["-v"] if verbose else []
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", *flags, "-f", str(config), "-d", str(site_dir)],
        cwd=config.parent,
        env=mkdocs_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="session")
def build_env(tmp_path_factory) -> dict[str, str]:
    """What every test build shares: its own chapter cache, and a tiny MNIST in MNIST's format
    (with extracted copies, which torchvision takes as they are) instead of the real data."""
    import tiny_mnist

    base = tmp_path_factory.mktemp("build")
    tiny_mnist.write(base / "data", extracted=True)
    return {"PTNOTES_CACHE": str(base / "cache"), "PTNOTES_DATA": str(base / "data")}


@pytest.fixture(scope="session")
def built_site(build_env, tmp_path_factory):
    """The real site, built once in quick mode on the CPU."""
    site = tmp_path_factory.mktemp("site") / "site"
    first = mkdocs_build(ROOT / "mkdocs.yml", site, **build_env)
    assert first.returncode == 0, first.stdout + first.stderr
    return {"cache": Path(build_env["PTNOTES_CACHE"]), "site": site, "log": first.stdout + first.stderr}


@pytest.fixture
def tiny_book(tmp_path):
    """The tiny book of tests/tiny_book.py, in a folder of its own."""
    import tiny_book

    return tiny_book.make(tmp_path / "book")
