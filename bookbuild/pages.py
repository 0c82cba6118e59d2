"""What the build writes into pages: numbers from a chapter's run, the provenance box,
the run report. Pure functions of a page's text and the runs' outcomes.

A page names its chapter in its front matter (``chapter: regression``) and quotes a
result as ``{{ final_loss:.4f }}``: a key of the chapter's ``results.json`` (dots reach
into nested values), then an optional Python format spec, or one of two layouts:
``:code`` shows a text as a code block, ``:table`` a list of rows (dicts with the same
keys) as a Markdown table. A key the run did not record fails the build; nothing is
ever typed into a page by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .runner import Outcome

# Code is shown verbatim: fenced blocks and inline code are matched first and kept.
PLACEHOLDER = re.compile(
    r"(?P<fence>^[ \t]*(?P<marks>`{3,}|~{3,})[^\n]*\n.*?^[ \t]*(?P=marks)[ \t]*$)"
    r"|(?P<code>`[^`\n]+`)"
    r"|\{\{\s*(?P<name>[A-Za-z_][\w.]*)\s*(?::\s*(?P<spec>[^}]*?))?\s*\}\}",
    re.MULTILINE | re.DOTALL,
)
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


def substitute(markdown: str, namespace: Mapping) -> str:
    def replace(match: re.Match) -> str:
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

    return PLACEHOLDER.sub(replace, markdown)


def _size(num_bytes) -> str:
    if num_bytes is None:
        return "—"
    return f"{num_bytes / 2**20:.0f} MiB"


def device_label(meta: Mapping) -> str:
    return meta["device_name"] if meta["device"] == "cpu" else f"GPU：{meta['device_name']}"


def provenance(outcome: Outcome, script_path: str, page_uri: str, colab_repo: str | None = None) -> str:
    """The box at the top of a chapter page: where its figures and numbers came from, and its notebook."""
    meta = outcome.results["meta"]
    name = outcome.chapter.name
    up = "../" * page_uri.count("/")  # from the page's folder to docs/
    # with directory URLs the page is one folder deeper in the site than in docs/
    download = f"{up}../notebooks/{name}/{name}.ipynb"
    links = f'[笔记本版本]({up}notebooks/{name}.ipynb) · <a href="{download}" download>下载 .ipynb</a>'
    if colab_repo:
        links += (
            f" · [在 Colab 中打开](https://colab.research.google.com/github/{colab_repo}/blob/notebooks/{name}.ipynb)"
        )
    return (
        '!!! info "本页结果的来源"\n\n'
        f"    本页的图和数字由构建运行 `{script_path}` 得到："
        f"{device_label(meta)}，PyTorch {meta['torch']}，"
        f"{MODE_NAMES[meta['mode']]}，随机种子 {meta['seed']}，"
        f"运行用时 {outcome.run_info['wall_time_s']:.1f} s（{outcome.run_info['finished'][:10]}）。"
        f"完整的运行记录见[运行报告]({up}report.md)。\n\n"
        f"    {links}\n"
    )


def insert_after_title(markdown: str, block: str) -> str:
    lines = markdown.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("# "):
            return "".join(lines[: index + 1]) + "\n" + block + "\n" + "".join(lines[index + 1 :])
    return block + "\n" + markdown


def report_table(outcomes: list[Outcome]) -> str:
    rows = [
        "| 章节 | 本次构建 | 设备 | 模式 | 运行用时 | 峰值内存（进程） | 峰值显存 | 运行于 |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for outcome in outcomes:
        meta = outcome.results["meta"]
        info = outcome.run_info
        rows.append(
            f"| `{outcome.chapter.name}` "
            f"| {'命中缓存' if outcome.cache_hit else '重新运行'} "
            f"| {device_label(meta)} "
            f"| {MODE_NAMES[meta['mode']]} "
            f"| {info['wall_time_s']:.1f} s "
            f"| {_size(info.get('peak_rss_bytes'))} "
            f"| {_size(meta.get('cuda_peak_memory_bytes'))} "
            f"| {info['finished'].replace('T', ' ')[:16]} |"
        )
    return "\n".join(rows)
