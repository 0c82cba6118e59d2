"""Chinese search: the index keeps the glossary's terms whole and points each one to the
section that explains it, and the worker the site serves looks a query up whole. The
browser tests search every term (tests/test_browser.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import material
import pytest

from bookbuild import search
from bookbuild.glossary import read_terms
from conftest import ROOT

THEME_WORKER = next((Path(material.__file__).parent / "templates").glob("assets/javascripts/workers/search.*.min.js"))


def test_the_index_segments_chinese_and_keeps_terms_whole(built_site):
    index = json.loads((built_site["site"] / "search" / "search_index.json").read_text("utf-8"))
    separator = re.compile(index["config"]["separator"])
    # jieba splits Chinese into words joined by zero-width spaces, which the separator splits on
    words = {w for doc in index["docs"] for w in separator.split(doc["text"])}
    assert {"函数", "梯度"} <= words
    # the glossary's terms stay whole (jieba alone gives 雅 / 可比 / 积, 局部 / 极小值, 梯度 / 裁剪)
    assert {"雅可比积", "局部极小值", "梯度裁剪", "激活函数"} <= words
    # a query's dashes and Chinese punctuation split it as jieba split the text
    assert separator.split("向量–雅可比积（VJP）") == ["向量", "雅可比积", "VJP", ""]


def test_every_explained_term_is_a_keyword_of_its_page(built_site):
    index = json.loads((built_site["site"] / "search" / "search_index.json").read_text("utf-8"))
    keywords = {(doc["location"].split("#")[0], tag) for doc in index["docs"] for tag in doc.get("tags", [])}
    terms = [t for t in read_terms(ROOT / "docs" / "glossary.md") if t.page]
    assert len(terms) >= 30
    for term in terms:
        assert (term.page.removesuffix(".md") + "/", term.term) in keywords, term


def test_a_keyword_goes_to_the_first_section_that_uses_it():
    index = {"docs": [
        {"location": "a/", "title": "A", "text": "<p>\u200b引言</p>"},
        {"location": "a/#one", "title": "一", "text": "<p>\u200b不是\u200b步长</p><pre><code>STRIDE = 2  # 步幅</code></pre>"},
        {"location": "a/#two", "title": "二", "text": "<p>\u200b<code>stride</code>\u200b叫\u200b步\u200b幅</p>"},  # jieba's cut
        {"location": "a/#three", "title": "三", "text": "<p>\u200b步幅</p>"},
        {"location": "b/#步幅", "title": "步幅", "text": ""},
    ]}
    search.add_glossary_keywords(index, {"a/": ["步幅", "池化"]})
    assert [doc.get("tags") for doc in index["docs"]] == [["池化"], None, ["步幅"], None, None]


def test_a_term_explained_on_a_page_the_index_lacks_is_an_error():
    with pytest.raises(search.SearchError, match="没有这一页"):
        search.add_glossary_keywords({"docs": []}, {"a/": ["步幅"]})


def test_the_worker_looks_the_whole_query_up():
    source = THEME_WORKER.read_text("utf-8")
    patched = search.patched_worker(source)
    # one loop changed, by one character: slices now reach the query's last character
    assert len(patched) == len(source) + 1
    assert re.search(r"for\(let (\w)=\w\+1;\1<=(\w)\.length;\1\+\+\)\2\.slice", patched)


def test_a_worker_without_that_loop_fails_the_build_clearly():
    with pytest.raises(search.SearchError, match="SEGMENT_LOOP"):
        search.patched_worker("function segment(q, index) { return [q] }")
    with pytest.raises(search.SearchError):  # already patched, or changed upstream: never patched twice
        search.patched_worker(search.patched_worker(THEME_WORKER.read_text("utf-8")))
