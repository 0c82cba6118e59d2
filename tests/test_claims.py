"""Claims: a sentence about a run cites the claim that checks it, and the build refuses a page
whose sentences the run does not support.

The build tests use the tiny book (tests/tiny_book.py) in full mode: its chapter's claim holds
on even seeds and fails on odd ones, so one setting, the base seed, turns a true sentence into
a false one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bookbuild.__main__ import claim_table
from bookbuild.pages import ChapterPage, PageError, claim_problems, claim_report, cited_claims, substitute
from bookbuild.runner import Outcome
from conftest import mkdocs_env
from tiny_book import build

def test_a_holding_claim_is_marked_and_reported(tiny_book):
    result = build(tiny_book, PTNOTES_SEED="4")
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tiny_book / "site" / "index.html").read_text("utf-8")
    assert 'class="claim claim--holds"' in page
    assert "本次运行核对：种子 4 除以 2 的余数 0 = 0，成立" in page
    assert "随机种子 4" in page  # the provenance box names the base seed
    assert "个 CPU 线程" in page  # and the threads, which change results in the last digits
    assert "{{ claim not_a_citation }}" in page  # inside code it is text
    report = (tiny_book / "site" / "report" / "index.html").read_text("utf-8")
    assert "结论核对：成立 1 / 1" in report
    assert "<code>even_seed</code>" in report and 'href="../"' in report  # links the page that cites it


def test_a_false_claim_fails_a_full_build_naming_page_claim_and_values(tiny_book):
    result = build(tiny_book, PTNOTES_SEED="3")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "index.md" in output and "even_seed" in output and "种子 3 除以 2 的余数 1 = 0" in output


def test_a_false_claim_in_quick_mode_is_shown_not_fatal(tiny_book):
    result = build(tiny_book, PTNOTES_SEED="3", PTNOTES_MODE="quick")
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tiny_book / "site" / "index.html").read_text("utf-8")
    assert 'class="claim claim--fails"' in page and "本次运行（快速模式）核对" in page and "不成立" in page
    report = (tiny_book / "site" / "report" / "index.html").read_text("utf-8")
    assert "结论核对：成立 0 / 1" in report


def test_citing_an_unrecorded_claim_fails_the_build(tiny_book):
    page = tiny_book / "docs" / "index.md"
    page.write_text(page.read_text("utf-8") + "\n另一句话{{ claim odd_seed }}。\n", "utf-8")
    result = build(tiny_book)
    assert result.returncode != 0
    assert "odd_seed" in result.stdout + result.stderr and "index.md" in result.stdout + result.stderr


def test_a_claim_no_page_cites_fails_the_build(tiny_book):
    page = tiny_book / "docs" / "index.md"
    page.write_text(page.read_text("utf-8").replace("{{ claim even_seed }}", ""), "utf-8")
    result = build(tiny_book)
    assert result.returncode != 0
    assert "even_seed" in result.stdout + result.stderr and "没有被页面引用" in result.stdout + result.stderr


def test_seeds_command_prints_claim_by_seed_and_fails_on_a_fragile_claim(tiny_book):
    result = subprocess.run(
        [sys.executable, "-m", "bookbuild", "seeds", "0", "1", "2"],
        cwd=tiny_book,
        env=mkdocs_env(PTNOTES_MODE="full", PTNOTES_CACHE=str(tiny_book / "cache")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("tiny.even_seed"))
    assert row.split()[1:] == ["✓", "✗", "✓"]
    assert "种子 1：tiny.even_seed：种子 1 除以 2 的余数 1 = 0" in result.stdout
    # each base seed has its own cache entry
    entries = [p for p in (tiny_book / "cache" / "tiny").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 3
    seeds = {json.loads((p / "results.json").read_text())["meta"]["seed"] for p in entries}
    assert seeds == {0, 1, 2}


def test_the_cli_run_checks_claims_as_the_build_does(tiny_book):
    def run(seed):
        return subprocess.run(
            [sys.executable, "-m", "bookbuild", "run"],
            cwd=tiny_book,
            env=mkdocs_env(PTNOTES_MODE="full", PTNOTES_CACHE=str(tiny_book / "cache"), PTNOTES_SEED=seed),
            capture_output=True,
            text=True,
            timeout=300,
        )

    assert run("2").returncode == 0
    failed = run("5")
    assert failed.returncode == 1 and "even_seed" in failed.stderr and "index.md" in failed.stderr


# -- the pure functions behind it --------------------------------------------------------


def outcome(name: str, claims: dict) -> Outcome:
    results = {"results": {}, "claims": claims, "meta": {}}
    return Outcome(chapter=None, entry=Path("."), cache_hit=True, run_info={}, results=results)


HOLDS = {"holds": True, "check": "1 < 2"}
FAILS = {"holds": False, "check": "3 < 2"}


def test_citations_in_code_are_not_citations():
    text = "a{{ claim one }}。`{{ claim two }}`\n```\n{{ claim three }}\n```\n{{claim four}}"
    assert cited_claims(text) == ["one", "four"]


def test_substitute_renders_a_mark_and_rejects_an_unknown_claim():
    html = substitute("好{{ claim one }}。", {}, {"one": {"holds": True, "check": "a < b & c"}})
    assert html.startswith("好<span") and html.endswith("</span>。")
    assert "a &lt; b &amp; c" in html and "<" not in html.split('data-check="')[1].split('"')[0]
    with pytest.raises(PageError, match="two"):
        substitute("{{ claim two }}", {}, {"one": HOLDS})


def test_claim_problems_names_every_kind_of_mismatch():
    outcomes = {"ch": outcome("ch", {"ok": HOLDS, "bad": FAILS, "lonely": HOLDS})}
    pages = {"ch": ChapterPage(path="chapters/ch.md", title="章", cited=("ok", "bad", "ghost"))}
    problems = claim_problems(outcomes, pages, "full")
    assert len(problems) == 3
    assert any("ghost" in p and "chapters/ch.md" in p for p in problems)
    assert any("lonely" in p and "没有被页面引用" in p for p in problems)
    assert any("bad" in p and "3 < 2" in p for p in problems)
    assert len(claim_problems(outcomes, pages, "quick")) == 2  # a quick run is a preview: false is not fatal


def test_claim_report_counts_what_held():
    outcomes = {"ch": outcome("ch", {"ok": HOLDS, "bad": FAILS})}
    pages = {"ch": ChapterPage(path="chapters/ch.md", title="章", cited=("ok", "bad"))}
    report = claim_report(outcomes, pages)
    assert report.splitlines()[0] == "结论核对：成立 1 / 2"
    assert "[章](chapters/ch.md)" in report and "3 < 2" in report


def test_claim_table_marks_each_seed():
    table, failures = claim_table({0: {"ch.ok": HOLDS, "ch.bad": FAILS}, 1: {"ch.ok": HOLDS, "ch.bad": HOLDS}, 2: None})
    rows = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:3]}
    assert rows == {"ch.bad": ["✗", "✓", "运行失败"], "ch.ok": ["✓", "✓", "运行失败"]}
    assert failures == 2  # one false claim, one failed run
