"""Formulas typeset at build time: pages ship MathJax's CommonHTML output and one stylesheet,
never MathJax itself, so a formula reads with JavaScript off, from disk and on first paint.

``typeset_page`` replaces each formula of a built page (pymdownx.arithmatex's
``<span class="arithmatex">\\(…\\)</span>`` and ``<div class="arithmatex">\\[…\\]</div>``, and
``$…$`` in a notebook's Markdown cells) with what MathJax made of it. MathJax runs in Node
(``typeset_math.js``), started once per build and only when a formula is not in the cache
(one entry per formula, kept beside the chapters' cache). ``Typesetter.stylesheet`` gives the
CSS for every glyph the site's formulas use, with the fonts served by the site itself.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARITHMATEX = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">(?P<open>\\\(|\\\[)(?P<tex>.*?)(?:\\\)|\\\])</(?P=tag)>', re.DOTALL
)
NOTEBOOK_MARKDOWN = re.compile(r'(?P<open>data-mime-type="text/markdown">)(?P<body>.*?)(?P<close></div>)', re.DOTALL)
DOLLARS = re.compile(r"\$\$(?P<display>.+?)\$\$|\$(?P<inline>[^$\n]+?)\$", re.DOTALL)
NODE_PROGRAM = Path(__file__).with_name("typeset_math.js")


# a 320-pixel phone's column ((320 - 32) / 16 = 18 em of the text's 16 px), less a little for
# MathJax's own scaling of its fonts
PHONE_COLUMN_EM = 17
SCROLLING_FORMULA = "公式（可左右滚动）"  # what a screen reader says of a formula that may scroll (as accessibility.js)


class MathError(Exception):
    pass


class Typesetter:
    def __init__(self, node_modules: Path, cache_file: Path):
        self.node_modules = node_modules
        self.cache_file = cache_file
        try:
            self._cache: dict[str, str] = json.loads(cache_file.read_text("utf-8"))
        except (OSError, ValueError):
            self._cache = {}
        self._used: set[str] = set()  # the formulas of this build
        self._typeset_here: set[str] = set()  # those the running MathJax has seen
        self._node: subprocess.Popen | None = None
        self.typeset_count = 0

    def _ask(self, request: dict) -> dict:
        if self._node is None:
            # Node from the system, or the one scripts/dev.sh installs into .venv from PyPI
            node = shutil.which("node") or shutil.which("node", path=str(Path(sys.executable).parent))
            if node is None or not (self.node_modules / "mathjax").is_dir():
                raise MathError("排版公式需要 Node.js 和 node_modules/mathjax（运行 bash scripts/dev.sh setup）")
            self._errors = tempfile.TemporaryFile("w+", encoding="utf-8")
            self._node = subprocess.Popen(
                [node, str(NODE_PROGRAM), str(self.node_modules)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True, encoding="utf-8",
            )
        try:
            self._node.stdin.write(json.dumps(request) + "\n")
            self._node.stdin.flush()
            answer = self._node.stdout.readline()
        except BrokenPipeError:
            answer = ""
        if not answer:
            self._errors.seek(0)
            said = self._errors.read().strip().splitlines()[-3:]
            raise MathError("MathJax（Node）意外退出" + (f"：{' '.join(said)}" if said else ""))
        return json.loads(answer)

    def _typeset(self, key: str) -> dict:
        answer = self._ask({"tex": key[1:], "display": key[0] == "D"})
        self._typeset_here.add(key)
        self.typeset_count += 1
        if "error" in answer:
            raise MathError(answer["error"])
        return {"html": answer["html"], "width": round(answer["width"], 3)}

    def formula(self, tex: str, display: bool) -> tuple[str, float]:
        """The formula's HTML, and its width in em."""
        key = ("D" if display else "I") + tex
        self._used.add(key)
        if not isinstance(self._cache.get(key), dict):  # absent, or cached before widths were
            self._cache[key] = self._typeset(key)
        return lean(self._cache[key]["html"]), self._cache[key]["width"]

    def stylesheet(self) -> str:
        """The CSS for the glyphs of every formula this build used (cached for that set)."""
        digest = hashlib.sha256("\n".join(sorted(self._used)).encode()).hexdigest()
        key = f"css:{digest}"
        if key not in self._cache:
            for formula in sorted(self._used - self._typeset_here):
                self._typeset(formula)  # the stylesheet covers what this MathJax has typeset
            self._cache[key] = self._ask({"stylesheet": True})["css"]
        self._used.add(key)
        return CONTAINER_RULE + self._cache[key]  # the position ``lean`` took off each container

    def close(self) -> None:
        """Keeps what this build used (so the cache never grows stale), and stops Node."""
        if self._used:
            kept = {key: self._cache[key] for key in self._used if key in self._cache}
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            self.cache_file.write_text(json.dumps(kept, ensure_ascii=False), "utf-8")
        if self._node is not None:
            try:
                self._node.stdin.close()
                self._node.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._node.kill()
            self._errors.close()
            self._node = None


def typeset_page(page_html: str, typesetter: Typesetter) -> str:
    """Every formula of a built page, typeset. A formula MathJax cannot read is a MathError
    naming it."""

    def formula(tex: str, display: bool) -> tuple[str, float]:
        try:
            return typesetter.formula(tex, display)
        except MathError as error:
            raise MathError(f"公式 {tex!r} 无法排版：{error}") from None

    def arithmatex(match: re.Match) -> str:
        typeset, width = formula(html.unescape(match["tex"]), match["open"] == chr(92) + "[")
        # wider than a small phone's column, it may scroll sideways there: then it must take the
        # keyboard's focus (WCAG 2.1.1), with JavaScript off too. accessibility.js measures it once
        # its block is drawn: it lets go of the focus where it fits, and adds it to anything else that scrolls.
        scrolls = (f' data-may-scroll tabindex="0" role="region" aria-label="{SCROLLING_FORMULA}"'
                   if width > PHONE_COLUMN_EM else "")
        return f'<{match["tag"]} class="arithmatex"{scrolls}>{typeset}</{match["tag"]}>'

    def notebook_cell(match: re.Match) -> str:
        def dollars(inner: re.Match) -> str:
            display = inner["display"] is not None
            return formula(html.unescape(inner["display"] if display else inner["inline"]).strip(), display)[0]

        return match["open"] + DOLLARS.sub(dollars, match["body"]) + match["close"]

    page_html = ARITHMATEX.sub(arithmatex, page_html)
    return NOTEBOOK_MARKDOWN.sub(notebook_cell, page_html)


# What MathJax writes on every formula that an HTML page does not need: the HTML parser puts
# <math> in MathML's namespace by itself, `unselectable` is for old Internet Explorer (the
# stylesheet already says user-select: none), and the container's position is in the stylesheet.
UNNEEDED = (' xmlns="http://www.w3.org/1998/Math/MathML"', ' unselectable="on"')
CONTAINER_POSITION = re.compile(r'\A(<mjx-container\b[^>]*?) style="position: relative;"')
CONTAINER_RULE = 'mjx-container[jax="CHTML"]{position:relative}\n'


def lean(formula_html: str) -> str:
    for attribute in UNNEEDED:
        formula_html = formula_html.replace(attribute, "")
    return CONTAINER_POSITION.sub(r"\1", formula_html)


CSS_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
CSS_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{1,6}) ?|\\(.)")
GLYPH_CONTENT = re.compile(r'content:\s*("(?:\\.|[^"\\])*")')


def minified(css: str) -> str:
    """MathJax's stylesheet without its comments and layout whitespace (strings kept as they are)."""
    parts = CSS_STRING.split(css)
    strings = CSS_STRING.findall(css)
    squeezed = []
    for part in parts:
        part = re.sub(r"/\*.*?\*/", "", part, flags=re.DOTALL)
        part = re.sub(r"\s+", " ", part)
        squeezed.append(re.sub(r" ?([{}:;,>]) ?", r"\1", part).replace(";}", "}"))
    return "".join(p + s for p, s in zip(squeezed, strings + [""])).strip()


def glyph_characters(css: str) -> set[str]:
    """Every character the stylesheet draws from MathJax's fonts (its ``content: "…"`` strings)."""
    def decoded(literal: str) -> str:
        return CSS_ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else m[2], literal[1:-1])

    return {ch for literal in GLYPH_CONTENT.findall(css) for ch in decoded(literal)}


def subset_fonts(css: str, fonts: Path, target: Path) -> None:
    """Each of MathJax's fonts, cut down to the characters the site's formulas draw (fontTools):
    a page loads a few KB of each font it uses instead of the whole font."""
    from fontTools import subset

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset": a timestamp table, dropped
    characters = sorted(ord(ch) for ch in glyph_characters(css))
    options = subset.Options(flavor="woff", notdef_outline=True, hinting=False)
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(fonts.glob("*.woff")):
        font = subset.load_font(str(source), options)
        if not set(characters) & set(font.getBestCmap()):
            # none of its characters is drawn (MathJax_Zero, a 1 KB placeholder, is still named
            # by every formula's font list): kept whole, since browsers refuse a font left empty
            shutil.copyfile(source, target / source.name)
            continue
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=characters)
        subsetter.subset(font)
        subset.save_font(font, str(target / source.name), options)
