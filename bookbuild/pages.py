"""What the build writes into pages: numbers from a chapter's run, the provenance box,
the run report. Pure functions of a page's text and the runs' outcomes.

A page names its chapter in its front matter (``chapter: regression``) and quotes a
result as ``{{ final_loss:.4f }}``: a key of the chapter's ``results.json`` (dots reach
into nested values), then an optional Python format spec, or one of two layouts:
``:code`` shows a text as a code block, ``:table`` a list of rows (dicts with the same
keys) as a Markdown table. A key the run did not record fails the build; nothing is
ever typed into a page by hand.

A sentence about an outcome cites the claim of the chapter's run that supports it, as
``{{ claim rnn_near_chance }}`` right where the sentence stands. The citation becomes a
small mark whose tooltip shows the check the run made ("本次运行核对：…"). A citation of
a claim the run did not record, a recorded claim that no page cites, and (in full mode)
a claim that does not hold all fail the build: see ``claim_problems``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

from .runner import Outcome

# Code is shown verbatim: fenced blocks and inline code are matched first and kept.
CODE = r"(?P<fence>^[ \t]*(?P<marks>`{3,}|~{3,})[^\n]*\n.*?^[ \t]*(?P=marks)[ \t]*$)|(?P<code>`[^`\n]+`)"
PLACEHOLDER = re.compile(
    CODE + r"|\{\{\s*claim\s+(?P<claim>[A-Za-z_]\w*)\s*\}\}"
    r"|\{\{\s*(?P<name>[A-Za-z_][\w.]*)\s*(?::\s*(?P<spec>[^}]*?))?\s*\}\}",
    re.MULTILINE | re.DOTALL,
)
# after substitution: a ``{{`` outside code is a placeholder the pattern above could not read
LEFTOVER = re.compile(CODE + r"|(?P<open>\{\{)", re.MULTILINE | re.DOTALL)
MODE_NAMES = {"full": "完整模式", "quick": "快速模式"}


class PageError(Exception):
    pass


def lookup(namespace: Mapping, dotted: str):
    """``a.b.0`` reaches into nested results: dict keys, and list positions by number."""
    value = namespace
    for part in dotted.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            known = ", ".join(sorted(namespace)) or "（无）"
            raise PageError(f"没有名为 {dotted!r} 的运行结果；可用的有：{known}")
    return value


def as_code(value) -> str:
    return f"```text\n{value}\n```"


def as_table(rows) -> str:
    if not rows or not all(isinstance(row, Mapping) for row in rows):
        raise TypeError("需要由字典组成的非空列表")
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


LAYOUTS = {"code": as_code, "table": as_table}


def cited_claims(markdown: str) -> list[str]:
    """The claims a page cites, in order (citations inside code are text, not citations)."""
    return [m.group("claim") for m in PLACEHOLDER.finditer(markdown) if m.group("claim")]


def claim_text(claim: Mapping, mode: str) -> str:
    verdict = "成立" if claim["holds"] else "不成立"
    where = "本次运行" if mode == "full" else "本次运行（快速模式）"
    return f"{where}核对：{claim['check']}，{verdict}"


def claim_mark(claim: Mapping, mode: str) -> str:
    """The inline mark after a checked sentence: a tick whose tooltip (hover, focus, tap) shows the check."""
    text = html.escape(claim_text(claim, mode), quote=True)
    state = "holds" if claim["holds"] else "fails"
    symbol = "✓" if claim["holds"] else "✗"
    return f'<span class="claim claim--{state}" tabindex="0" role="note" aria-label="{text}" data-check="{text}">{symbol}</span>'


UNAVAILABLE = "（未运行）"


def substitute(
    markdown: str, namespace: Mapping, claims: Mapping | None = None, mode: str = "full", *, unavailable: bool = False
) -> str:
    """Fills the placeholders and citations; with ``unavailable`` (a failed chapter with no results
    yet, in a preview) every result reads 未运行 and citations are left out."""

    def replace(match: re.Match) -> str:
        if unavailable and (match.group("claim") or match.group("name")):
            return "" if match.group("claim") else UNAVAILABLE
        if match.group("claim"):
            name = match.group("claim")
            if claims is None or name not in claims:
                known = ", ".join(sorted(claims or {})) or "（无）"
                raise PageError(f"引用了运行没有记录的结论 {name!r}；记录了的有：{known}")
            return claim_mark(claims[name], mode)
        if match.group("name") is None:
            return match.group(0)
        value = lookup(namespace, match.group("name"))
        spec = match.group("spec") or ""
        try:
            if spec in LAYOUTS:
                return LAYOUTS[spec](value)
            return format(value, spec)
        except (TypeError, ValueError) as exc:
            raise PageError(f"无法按 {spec!r} 格式化 {match.group('name')} = {value!r}：{exc}") from None

    filled = PLACEHOLDER.sub(replace, markdown)
    # what is left outside code is a placeholder the pattern could not read (e.g. ``{{ loss:.4f``)
    for match in LEFTOVER.finditer(filled):
        if match.group("open"):
            line = filled[match.start() :].split("\n", 1)[0][:60]
            raise PageError(f"无法识别的占位符（没有闭合，或名字不对）：{line}")
    return filled


def _size(num_bytes) -> str:
    if num_bytes is None:
        return "—"
    return f"{num_bytes / 2**20:.0f} MiB"


def device_label(meta: Mapping) -> str:
    return meta["device_name"] if meta["device"] == "cpu" else f"GPU：{meta['device_name']}"


def provenance(
    outcome: Outcome, script_path: str, page_uri: str, colab_repo: str | None = None, directory_urls: bool = True
) -> str:
    """The box at the top of a chapter page: where its figures and numbers came from, and its notebook.
    The .ipynb download comes first; Colab (blocked in mainland China) is an extra."""
    meta = outcome.results["meta"]
    name = outcome.chapter.name
    up = "../" * page_uri.count("/")  # from the page's folder to docs/
    if directory_urls:  # the page is one folder deeper in the site than in docs/, its notebook too
        download = f"{up}../notebooks/{name}/{name}.ipynb"
    else:  # the offline edition: chapters/x.html, and notebooks/x.html beside notebooks/x.ipynb
        download = f"{up}notebooks/{name}.ipynb"
    links = f'[笔记本版本]({up}notebooks/{name}.ipynb) · <a href="{download}" download>下载 .ipynb</a>'
    if colab_repo:
        links += (
            f" · [在 Colab 中打开](https://colab.research.google.com/github/{colab_repo}/blob/notebooks/{name}.ipynb)"
        )
    return (
        '!!! info "本页结果的来源"\n\n'
        f"    本页的图和数字由构建运行 `{script_path}` 得到："
        f"{device_label(meta)}，{meta.get('threads', '?')} 个 CPU 线程，PyTorch {meta['torch']}，"
        f"{MODE_NAMES[meta['mode']]}，随机种子 {meta['seed']}，"
        f"运行用时 {outcome.run_info['wall_time_s']:.1f} s（{outcome.run_info['finished'][:10]}）。"
        f"完整的运行记录见[运行报告]({up}report.md)。\n\n"
        f"    {links}\n"
    )


def failure_box(failure, script_path: str, previous: Outcome | None) -> str:
    """The box a preview shows on the page of a chapter that failed: what failed and what to do."""
    tail = "\n".join(f"        {line}" for line in (failure.tail or "（没有输出）").splitlines())
    shown = (
        f"下面的图和数字来自这一章**上一次成功的运行**（{previous.run_info['finished'][:16].replace('T', ' ')}），"
        "不是当前代码的结果。"
        if previous
        else "这一章还没有成功运行过，页面上没有图和数字。"
    )
    return (
        f'!!! failure "这一章运行失败：{failure.reason}"\n\n'
        f"    构建运行 `{script_path}` 时失败了。{shown}修好后保存文件，预览会自动重新运行这一章；"
        f"也可以在项目根目录运行 `.venv/bin/python {script_path} --quick` 看完整的输出。"
        "`mkdocs build` 在这一章修好之前会失败。\n\n"
        "    输出的最后几行：\n\n"
        f"    ```text\n{tail}\n    ```\n"
    )


def without_figures(markdown: str, chapter: str) -> str:
    """Drops the images a chapter's run would have produced (a preview of a chapter with no results)."""
    return re.sub(rf"!\[[^\]]*\]\([^)]*generated/{re.escape(chapter)}/[^)]*\)", "", markdown)


def insert_after_title(markdown: str, block: str) -> str:
    lines = markdown.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: index + 1]) + "\n" + block + "\n" + "".join(lines[index + 1 :])
    return block + "\n" + markdown


def report_table(outcomes: list[Outcome], pages_of: Mapping[str, ChapterPage]) -> str:
    """The run report's table: one row per chapter, named by its page (linked). What every row
    shares (device, mode) is said once above the table, so that the table fits a phone."""
    devices = sorted({device_label(o.results["meta"]) for o in outcomes})
    modes = sorted({MODE_NAMES[o.results["meta"]["mode"]] for o in outcomes})
    shared = len(devices) == 1 and len(modes) == 1
    on_gpu = any(o.results["meta"].get("cuda_peak_memory_bytes") for o in outcomes)
    columns = [("页面", "---"), ("本次构建", "---")]
    if not shared:
        columns += [("设备", "---"), ("模式", "---")]
    columns += [("用时<br>峰值内存", "---:")] + ([("峰值显存", "---:")] if on_gpu else [])
    rows = ["| " + " | ".join(c for c, _ in columns) + " |", "| " + " | ".join(a for _, a in columns) + " |"]
    for outcome in outcomes:
        meta, info = outcome.results["meta"], outcome.run_info
        page = pages_of.get(outcome.chapter.name)
        name = f"[{page.title}]({page.path})" if page else f"`{outcome.chapter.name}`"
        finished = info["finished"].replace("T", " ")[5:16]  # "11-28 20:41": the year is the build's
        cells = [name, f"{'缓存' if outcome.cache_hit else '重新运行'}<br>{finished}"]
        if not shared:
            cells += [device_label(meta), MODE_NAMES[meta["mode"]]]
        cells.append(f"{info['wall_time_s']:.1f} s<br>{_size(info.get('peak_rss_bytes'))}")
        if on_gpu:
            cells.append(_size(meta.get("cuda_peak_memory_bytes")))
        rows.append(f"| {' | '.join(cells)} |")
    above = f"设备：{devices[0]}；模式：{modes[0]}。\n\n" if shared and outcomes else ""
    return above + '<div class="run-report" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


@dataclass(frozen=True)
class ChapterPage:
    """A chapter's page as the claim check sees it: its source path, title and citations."""

    path: str
    title: str
    cited: tuple[str, ...]


FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)


def page_title(markdown: str, default: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return default


def chapter_pages(docs_dir: Path) -> dict[str, ChapterPage]:
    """chapter name -> the page whose front matter names it (``chapter: <name>``).

    Reads the Markdown sources only, so the CLI checks claims without MkDocs.
    """
    found = {}
    for path in sorted(docs_dir.rglob("*.md")):
        text = path.read_text("utf-8")
        match = FRONT_MATTER.match(text)
        meta = (yaml.safe_load(match.group(1)) if match else None) or {}
        if "chapter" in meta:
            body = text[match.end() :]
            found[meta["chapter"]] = ChapterPage(
                path=path.relative_to(docs_dir).as_posix(),
                title=page_title(body, meta["chapter"]),
                cited=tuple(cited_claims(body)),
            )
    return found


def claim_problems(outcomes: Mapping[str, Outcome], pages_of: Mapping[str, ChapterPage], mode: str) -> list[str]:
    """Everything wrong between the chapters' claims and the pages that cite them.

    A cited claim that the run did not record, a recorded claim no page cites, and a claim
    that does not hold (in full mode; a quick run is a preview on less data) are problems.
    """
    problems = []
    for name, outcome in outcomes.items():
        claims = outcome.results.get("claims", {})
        page = pages_of.get(name)
        cited = set(page.cited) if page else set()
        where = page.path if page else f"（章节 {name} 没有页面）"
        for missing in sorted(cited - set(claims)):
            problems.append(f"{where}：引用的结论 {missing} 不在章节 {name} 的运行记录里")
        for claim_name, claim in claims.items():
            if claim_name not in cited:
                problems.append(f"{where}：章节 {name} 记录的结论 {claim_name} 没有被页面引用（{claim['check']}）")
            elif not claim["holds"] and mode == "full":
                problems.append(f"{where}：结论 {claim_name} 在本次运行中不成立：{claim['check']}")
    return problems


def claim_report(outcomes: Mapping[str, Outcome], pages_of: Mapping[str, ChapterPage]) -> str:
    """The run report's list of every claim of the book, under ``结论核对：成立 K / N``."""
    rows = []
    for name, outcome in outcomes.items():
        page = pages_of.get(name)
        link = f"[{page.title}]({page.path})" if page else f"`{name}`"
        for claim_name, claim in outcome.results.get("claims", {}).items():
            verdict = "✓ 成立" if claim["holds"] else "✗ 不成立"
            rows.append(f"| {link} | `{claim_name}` | {claim['check']} | {verdict} |")
    held = sum("✓ 成立" in row for row in rows)
    lines = [f"结论核对：成立 {held} / {len(rows)}", ""]
    if rows:
        lines += ["| 页面 | 结论 | 本次运行核对 | 结果 |", "| --- | --- | --- | --- |", *rows]
    return "\n".join(lines)


IMG = re.compile(r"<img\b(?P<attrs>[^>]*?)\s*/?>")


def sized_images(page_html: str, resolve) -> str:
    """Every <img> whose file ``resolve(src)`` finds gets its width and height, so the browser
    reserves its room before it loads (no layout shift); CSS still scales it to the column."""
    from PIL import Image

    def sized(match: re.Match) -> str:
        attrs = match["attrs"]
        src = re.search(r'\ssrc="([^"]+)"', attrs)
        path = resolve(html.unescape(src.group(1))) if src and not re.search(r"\swidth=", attrs) else None
        if path is None:
            return match.group(0)
        with Image.open(path) as image:
            width, height = image.size
        return f'<img{attrs} width="{width}" height="{height}">'

    return IMG.sub(sized, page_html)


def deferred_images(page_html: str) -> str:
    """Every <img> but a page's first loads when the reader scrolls near it, decoded off the main
    thread: a phone on a slow network shows the text first. The first may be in the first screen
    (the RNN chapter's diagram is), so it loads at once. The room sized_images reserves keeps the
    page from shifting when one arrives."""
    seen = 0

    def deferred(match: re.Match) -> str:
        nonlocal seen
        seen += 1
        if seen == 1 or re.search(r"\sloading=", match["attrs"]):
            return match.group(0)
        return f'<img{match["attrs"]} loading="lazy" decoding="async">'

    return IMG.sub(deferred, page_html)


CODE_BLOCK = re.compile(r'<div class="highlight">(?P<body><pre>.*?</pre>)</div>', re.DOTALL)
PLAIN_TOKEN = re.compile(r'<span class="[nw]">([^<]*)</span>')


def lean_code_blocks(page_html: str) -> str:
    """Code blocks as the theme shows them, with fewer elements: Pygments wraps every name (``n``)
    and every run of spaces (``w``) in a span, which Material colours as plain code text and not
    at all; those spans go (on a long chapter, 600 of its 2,700 elements, each one the browser
    styles and lays out)."""
    return CODE_BLOCK.sub(lambda m: '<div class="highlight">' + PLAIN_TOKEN.sub(r"\1", m["body"]) + "</div>", page_html)


# The height a block off screen is given until the browser draws it (extra.css: content-visibility),
# in the text's em (16 px). Text is laid out in a column narrower than a 375-pixel phone's
# ((375 - 32) / 16 = 21 em) so that the guesses err tall: a block drawn later then shortens the
# page rather than running past its end.
COLUMN_EM, LINE_EM = 17, 1.6
CODE_LINE_EM, CODE_PADDING_EM = 0.85 * 1.4, 0.85 * 2 * 0.7720588235  # Material's pre > code
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Blocks(HTMLParser):
    """The article's top-level blocks: where each start tag ends, and what it holds."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = None  # inside the article: how deep
        self.blocks: list[dict] = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.depth is None:
            if tag == "article" and "md-typeset" in classes:
                self.depth = 0
            return
        if self.depth == 0:
            self.blocks.append({"tag": tag, "classes": classes, "at": self.getpos(), "start": self.get_starttag_text(),
                                "text": 0.0, "lines": [], "code_lines": 0, "rows": 0, "figure": False})
        elif tag in ("li", "tr", "p"):
            self.blocks[-1]["lines"].append(0.0)
        if tag == "mjx-mtr":
            self.blocks[-1]["rows"] += 1
        if tag == "img":
            self.blocks[-1]["figure"] = True
        if tag not in VOID:
            self.depth += 1

    def handle_endtag(self, tag):
        if self.depth is None or tag in VOID:
            return
        self.depth -= 1
        if self.depth < 0:
            self.depth = None  # the article ends

    def handle_data(self, data):
        if not self.depth:
            return
        block = self.blocks[-1]
        width = sum(1.0 if ord(ch) >= 0x2E80 else 0.55 for ch in data if not ch.isspace())
        block["code_lines"] += data.count("\n")
        if block["lines"]:
            block["lines"][-1] += width
        else:
            block["text"] += width


def _lines(width: float) -> int:
    return math.ceil(width / COLUMN_EM)


def _skipped(block: dict) -> bool:
    """Whether extra.css lets the browser skip the block off screen (no figure in it)."""
    kinds = {"highlight", "arithmatex", "admonition"}
    return not block["figure"] and (block["tag"] in ("p", "ul", "ol", "details") or bool(kinds & set(block["classes"])))


def _guessed_height(block: dict) -> float:
    if "highlight" in block["classes"]:
        return max(block["code_lines"], 1) * CODE_LINE_EM + CODE_PADDING_EM
    if "arithmatex" in block["classes"]:
        return max(block["rows"], 1) * 3 + 3.5  # a row with a fraction, and the formula's margins
    text_lines = max(_lines(block["text"]) + sum(max(_lines(width), 1) for width in block["lines"]), 1)
    return text_lines * LINE_EM + 0.5 * len(block["lines"]) + (3 if block["tag"] != "p" else 0)


def guessed_block_heights(page_html: str) -> str:
    """Each top-level block of the article states the height the browser should reserve for it
    while it skips it off screen: a code block its lines, a formula its rows, text its length."""
    parser = _Blocks()
    parser.feed(page_html)
    line_starts = [0] + [m.end() for m in re.finditer("\n", page_html)]
    out, done = [], 0
    for block in parser.blocks:
        line, column = block["at"]
        start = line_starts[line - 1] + column
        tag_end = start + len(block["start"])
        if not _skipped(block) or "style=" in block["start"]:
            continue
        out += [page_html[done : tag_end - 1], f' style="contain-intrinsic-block-size: auto {_guessed_height(block):.1f}em">']
        done = tag_end
    return "".join(out) + page_html[done:]


# a run of whitespace with a line break, between two tags (a part of the page between two
# verbatim elements starts right after one's end tag and ends right before the other's start tag)
BETWEEN_TAGS = re.compile(r"(?:(?<=>)|^)\s*\n\s*(?=<|$)")
VERBATIM = re.compile(r"(<pre\b.*?</pre>|<textarea\b.*?</textarea>|<script\b.*?</script>|<style\b.*?</style>)", re.DOTALL)


def collapsed_whitespace(page_html: str) -> str:
    """The theme's template indentation between tags becomes one line break (about 7 KB of a long
    page); whitespace inside text, code, scripts and styles is left as it is, so nothing renders
    differently."""
    parts = VERBATIM.split(page_html)
    return "".join(part if i % 2 else BETWEEN_TAGS.sub("\n", part) for i, part in enumerate(parts))


def avif_animations(page_html: str, resolve) -> str:
    """A GIF animation with an AVIF of the same frames beside it (chapter_kit's Animation) is shown
    as a <picture>: a browser that reads AVIF loads that, less than half the bytes; any other, the GIF."""

    def picture(match: re.Match) -> str:
        src = re.search(r'\ssrc="([^"]+\.gif)"', match["attrs"])
        avif = src.group(1).removesuffix(".gif") + ".avif" if src else None
        if avif is None or resolve(html.unescape(avif)) is None:
            return match.group(0)
        return f'<picture><source srcset="{avif}" type="image/avif">{match.group(0)}</picture>'

    return IMG.sub(picture, page_html)

