"""The book's vocabulary, read from the table of ``docs/glossary.md``: one term per
concept, its English, and the variants the site does not use.

``link_first_uses`` turns the first use of each term on a page into a link to its row;
``avoided_uses`` finds the variants in a page's prose (code, formulas and the 笔记原文
quotes, which keep the notes' own words, are left out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

# | <span id="…"></span>术语 | English | 本站不用的写法 | 含义 | [页面](chapters/….md) |
ROW = re.compile(r'^\|\s*<span id="(?P<id>[\w-]+)"></span>(?P<term>[^|]+?)\s*\|(?P<english>[^|]*)\|(?P<avoid>[^|]*)\|'
                 r"[^|]*\|\s*(?:\[[^]]*\]\((?P<page>[^)]+)\))?\s*\|\s*$", re.MULTILINE)
# Markdown that is not prose: front matter, fenced code, inline code, formulas, the notes'
# quotes (the 笔记原文 box, and <q>…</q> for a word of the notes inside a sentence),
# English glosses in brackets, the references, placeholders, link targets and HTML tags.
NOT_PROSE = re.compile(
    r"\A---\n.*?\n---\n"
    r"|^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$"
    r"|`[^`\n]+`"
    r"|\$\$.*?\$\$|\$[^$\n]+\$"
    r"|^>[ \t]*笔记原文[^\n]*(\n>[^\n]*)*"
    r"|<q>.*?</q>"
    r"|（[A-Za-z][^（）\u3400-\u9fff\n]*）"  # an English gloss: 批量规范化（batch normalization）
    r"|^#+[ \t]*参考文献[^\n]*\n(?:(?!#+[ \t])[^\n]*\n?)*"  # titles of papers keep their words
    r"|\{\{.*?\}\}"
    r"|\]\([^)]*\)"
    r"|<[^>\n]+>",
    re.MULTILINE | re.DOTALL,
)
CJK = re.compile(r"[\u3400-\u9fff]")
# HTML elements whose text is never linked: links, code, headings, formulas, the notes' quotes
SKIP_TAGS = {"a", "code", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "script", "style", "button", "summary",
             "blockquote", "figcaption", "label", "title"}
VOID_TAGS = {"img", "br", "hr", "input", "meta", "link", "source", "wbr", "col", "area", "base", "embed", "track"}
TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)([^>]*)>|<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Term:
    id: str
    term: str
    english: str
    avoid: tuple[str, ...]
    page: str | None  # the page that explains it, relative to docs/


def read_terms(glossary: Path) -> list[Term]:
    terms = []
    for row in ROW.finditer(glossary.read_text("utf-8")):
        avoid = tuple(v.strip() for v in re.split(r"[、,，]", row["avoid"]) if v.strip())
        terms.append(Term(row["id"], row["term"].strip(), row["english"].strip(), avoid, row["page"]))
    return terms


def search_words(terms: list[Term]) -> list[str]:
    """The Chinese words of the terms, as the search should keep them whole: "向量–雅可比积"
    gives 向量 and 雅可比积 (the search splits at the dash anyway)."""
    words = []
    for term in terms:
        words += [run for run in re.findall(r"[\u3400-\u9fff]+", term.term) if len(run) >= 2]
    return sorted(set(words))


def _variant_pattern(variant: str) -> re.Pattern:
    if CJK.search(variant):
        return re.compile(re.escape(variant))
    # an English variant is a whole word ("batch", "batches"), never part of one ("BatchNorm", "batch_size")
    return re.compile(rf"(?<![\w-]){re.escape(variant)}(?:e?s)?(?![\w-])", re.IGNORECASE)


def avoided_uses(text: str, terms: list[Term], *, english: bool = True) -> list[tuple[str, Term, str]]:
    """(variant, term, context) for every avoided variant in the prose of ``text``."""
    prose = NOT_PROSE.sub(lambda m: "\n" * m.group(0).count("\n") or " ", text)
    found = []
    for term in terms:
        for variant in term.avoid:
            if not english and not CJK.search(variant):
                continue
            # "雅可比积" inside "向量–雅可比积" is the term itself
            inside_terms = [range(m.start(), m.end()) for t in terms if variant in t.term
                            for m in re.finditer(re.escape(t.term), prose)]
            for match in _variant_pattern(variant).finditer(prose):
                if any(match.start() in span for span in inside_terms):
                    continue
                context = prose[max(0, match.start() - 15) : match.end() + 15].replace("\n", " ")
                found.append((variant, term, context))
    return found


def link_first_uses(html: str, terms: list[Term], glossary_url: str) -> str:
    """Links the first use of each term (two characters or more) in the page's running text."""
    linkable = sorted((t for t in terms if len(t.term) >= 2), key=lambda t: -len(t.term))
    if not linkable:
        return html
    by_text = {t.term: t for t in linkable}
    pattern = re.compile("|".join(re.escape(t.term) for t in linkable))
    linked: set[str] = set()
    out, stack, position = [], [], 0

    def link(text: str) -> str:
        def replace(match):
            term = by_text[match.group(0)]
            if term.id in linked:
                return match.group(0)
            linked.add(term.id)
            return (f'<a class="glossary-term" href="{glossary_url}#{term.id}" '
                    f'title="{escape(term.english)}">{match.group(0)}</a>')

        return pattern.sub(replace, text)

    for tag in TAG.finditer(html):
        text = html[position : tag.start()]
        out.append(text if any(stack) else link(text))
        out.append(tag.group(0))
        position = tag.end()
        closing, name, attributes = tag.group(1), (tag.group(2) or "").lower(), tag.group(3) or ""
        if not name or name in VOID_TAGS or attributes.rstrip().endswith("/"):
            continue
        if closing:
            if stack:
                stack.pop()
        else:
            stack.append(name in SKIP_TAGS or "arithmatex" in attributes or "admonition-title" in attributes
                         or "glossary-skip" in attributes)
    rest = html[position:]
    out.append(rest if any(stack) else link(rest))
    return "".join(out)
