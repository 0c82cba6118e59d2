"""Faults and bad settings: a failed build leaves the previous site as it was, and every bad
setting gets one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from tiny_book import build


def one_clear_error(result, *fragments):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    for fragment in fragments:
        assert fragment in output, output


def test_a_failed_build_leaves_the_previous_site(tiny_book):
    site = tiny_book / "site"
    assert build(tiny_book, PTNOTES_SEED="2").returncode == 0
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert "种子 2 除以 2" in (site / "index.html").read_text("utf-8")
    one_clear_error(build(tiny_book, PTNOTES_SEED="3"), "even_seed")  # a false claim fails the build
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert after == before
    assert not list(tiny_book.glob(".site.*")), "the staging folder is removed"
    # and a good build replaces the site
    assert build(tiny_book, PTNOTES_SEED="4").returncode == 0
    assert "种子 4 除以 2" in (site / "index.html").read_text("utf-8")
    assert not list(tiny_book.glob(".site.*"))


def test_an_unwritable_site_folder_is_one_clear_error(tiny_book):
    one_clear_error(build(tiny_book, site="/proc/site"), "/proc/site")


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "soon"])
def test_a_bad_timeout_is_one_clear_error(tiny_book, value):
    one_clear_error(build(tiny_book, PTNOTES_TIMEOUT=value), "PTNOTES_TIMEOUT")


@pytest.mark.parametrize("value", ["-1", "4294967296", "x"])
def test_a_bad_base_seed_is_one_clear_error(tiny_book, value):
    one_clear_error(build(tiny_book, PTNOTES_SEED=value), "PTNOTES_SEED")


def test_a_cache_that_is_a_file_or_unwritable_is_one_clear_error(tiny_book):
    blocker = tiny_book / "a-file"
    blocker.write_text("not a folder")
    one_clear_error(build(tiny_book, PTNOTES_CACHE=str(blocker)), "PTNOTES_CACHE")
    one_clear_error(build(tiny_book, PTNOTES_CACHE="/proc/cache"), "PTNOTES_CACHE")
    assert blocker.read_text() == "not a folder"


def test_an_unclosed_placeholder_fails_the_build(tiny_book):
    page = tiny_book / "docs" / "index.md"
    page.write_text(page.read_text("utf-8") + "\n余数是 {{ remainder:.1f\n", "utf-8")
    one_clear_error(build(tiny_book, PTNOTES_SEED="2"), "index.md", "{{ remainder:.1f")


def test_two_builds_at_once_on_one_cache_both_succeed_and_run_the_chapter_once(tiny_book):
    import subprocess
    import sys

    from conftest import mkdocs_env

    env = mkdocs_env(PTNOTES_MODE="full", PTNOTES_CACHE=str(tiny_book / "cache"), PTNOTES_SEED="2")
    builds = [
        subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build", "-f", "mkdocs.yml", "-d", f"site-{i}"],
            cwd=tiny_book,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in (1, 2)
    ]
    logs = [build.communicate(timeout=300)[0] for build in builds]
    assert [build.returncode for build in builds] == [0, 0], logs
    assert sum(log.count("章节 tiny：已运行") for log in logs) == 1, logs
    assert sum(log.count("章节 tiny：命中缓存") for log in logs) == 1, logs
    assert not (tiny_book / ".cache").exists(), "mkdocs-jupyter's cache follows PTNOTES_CACHE, not the working directory"
