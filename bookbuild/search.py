"""Chinese search that finds the page explaining a term.

Material's search segments Chinese with jieba at build time and, in the reader's browser,
cuts a Chinese query into the words its index knows. Three things stood between a reader
typing a glossary term and the page that explains it:

- jieba splits the book's terms badly (雅可比积 -> 雅 / 可比 / 积): ``teach_jieba`` adds
  each glossary term to jieba's words.
- The worker's query segmentation never looks the whole query up: its loop stops one
  character short, so 步幅 is searched as 步 (and 学习率 as 学习), and pages that merely
  use the character outrank the one that explains the term. ``patched_worker`` fixes that
  loop in the worker the site serves (Material 9.8.2, ``src/.../search/query/segment``);
  if a new Material changes the code, the build fails here instead of silently searching
  worse.
- A term used on many pages ranks by how often a page uses it, not by where it is
  explained: ``add_glossary_keywords`` gives the section that explains each term the term
  as a keyword (the index's ``tags`` field, which Material weights far above text), the way
  a printed book's index points to the page that explains a word.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bookbuild import glossary

WORKER = re.compile(r"assets/javascripts/workers/search\.[0-9a-f]+\.min\.js")
# function segment(query, index): for (i...) for (let j = i + 1; j < query.length; j++)
# `query.slice(i, j) in index` -- with `<`, the slice never reaches the query's last character
SEGMENT_LOOP = re.compile(r"for\(let (\w)=(\w)\+1;\1<(\w)\.length;\1\+\+\)\3\.slice\(\2,\1\)in ")
# a section's words as the reader reads them: no code (a comment in a listing names a term
# without explaining it), no markup, no jieba word breaks
CODE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>", re.DOTALL)
TAG_OR_SPACE = re.compile(r"<[^>]+>|\u200b")


class SearchError(Exception):
    pass


def teach_jieba(terms: list[glossary.Term]) -> None:
    try:
        import jieba
    except ImportError:  # the search plugin then indexes without segmenting
        return
    for word in glossary.search_words(terms):
        jieba.add_word(word)


def patched_worker(source: str) -> str:
    found = SEGMENT_LOOP.findall(source)
    if len(found) != 1:
        raise SearchError(
            "Material 的搜索 worker 里找不到要修正的分词循环（主题升级了？）："
            "检查 bookbuild/search.py 的 SEGMENT_LOOP 是否还需要"
        )
    return SEGMENT_LOOP.sub(lambda m: m.group(0).replace(f"{m[1]}<{m[3]}.length", f"{m[1]}<={m[3]}.length"), source)


def add_glossary_keywords(index: dict, explained_at: dict[str, list[str]]) -> None:
    """``explained_at``: a page's URL -> the terms it explains. Each term becomes a keyword of
    the page's first section whose prose uses it (of the page itself if none does)."""
    for url, terms in explained_at.items():
        sections = [doc for doc in index["docs"] if doc["location"].split("#")[0] == url]
        if not sections:
            raise SearchError(f"术语表说 {'、'.join(terms)} 在 {url} 讲解，但搜索索引里没有这一页")
        for term in terms:
            uses = (doc for doc in sections if term in prose(doc["title"] + " " + doc["text"]))
            section = next(uses, sections[0])
            section.setdefault("tags", []).append(term)


def prose(indexed_html: str) -> str:
    return TAG_OR_SPACE.sub("", CODE.sub(" ", indexed_html))


def rewrite_index(path: Path, explained_at: dict[str, list[str]]) -> None:
    """Adds the glossary's keywords, and writes the index as UTF-8: the search plugin writes
    Chinese as \\uXXXX escapes (six bytes a character, and six for each of jieba's zero-width
    separators), more than twice the size."""
    if not path.is_file():
        return
    index = json.loads(path.read_text("utf-8"))
    add_glossary_keywords(index, explained_at)
    path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")), "utf-8")
