"""The code a page shows, as a reader would paste it: every Python block of the page, in
order, with each ``--8<-- "script.py:section"`` include replaced by that section
(dedented, as pymdownx.snippets shows it).

A page may name smaller settings for a quick paste check in its front matter::

    paste_check:
      STEPS: 20

Each setting is assigned right after the first block that assigns that name, so the
code runs as shown, only on less data or for fewer steps.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<marks>`{3,}|~{3,})(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=marks)[ \t]*$",
                   re.MULTILINE | re.DOTALL)
INCLUDE = re.compile(r'^\s*--8<-- "(?P<script>[^":]+)(?::(?P<section>[\w-]+))?"\s*$')
FRONT_MATTER = re.compile(r"\A---\n(?P<yaml>.*?)\n---\n", re.DOTALL)


class PageCodeError(Exception):
    pass


@dataclass(frozen=True)
class Block:
    origin: str  # "regression.py:train", or "regression.md" for code written on the page
    code: str


def section(script: Path, name: str | None) -> str:
    if not script.is_file():
        raise PageCodeError(f"{script.name} 不存在")
    text = script.read_text("utf-8")
    if name is None:
        return text
    match = re.search(
        rf"^[ \t]*# --8<-- \[start:{re.escape(name)}\][ \t]*\n(?P<body>.*?)^[ \t]*# --8<-- \[end:{re.escape(name)}\]",
        text,
        re.MULTILINE | re.DOTALL,
    )
    if match is None:
        raise PageCodeError(f"{script.name} 没有名为 {name} 的代码段")
    # a section may hold markers of sections nested in it
    body = re.sub(r"^[ \t]*# --8<-- \[(start|end):[\w-]+\][ \t]*\n", "", match["body"], flags=re.MULTILINE)
    return textwrap.dedent(body)


def shown_blocks(page: Path, code_dir: Path) -> list[Block]:
    """The Python blocks of ``page``, in order, with includes resolved."""
    blocks = []
    for fence in FENCE.finditer(page.read_text("utf-8")):
        if fence["info"].strip().split(" ")[0] not in ("python", "py"):
            continue
        body = textwrap.dedent(fence["body"])
        lines = body.splitlines()
        includes = [INCLUDE.match(line) for line in lines if line.strip()]
        if includes and all(includes):
            for match in includes:
                origin = match["script"] + (f":{match['section']}" if match["section"] else "")
                blocks.append(Block(origin, section(code_dir / match["script"], match["section"])))
        else:
            blocks.append(Block(page.name, body))
    return blocks


def paste_settings(page: Path) -> dict:
    match = FRONT_MATTER.match(page.read_text("utf-8"))
    meta = yaml.safe_load(match["yaml"]) if match else None
    return dict((meta or {}).get("paste_check") or {})


def program(page: Path, code_dir: Path, settings: dict | None = None) -> str:
    """The page's code as one program, each block headed by where it comes from, with the
    paste-check settings assigned after the blocks that define them."""
    settings = paste_settings(page) if settings is None else settings
    pending = dict(settings)
    parts = []
    for block in shown_blocks(page, code_dir):
        parts.append(f"# ---- {block.origin} ----\n{block.code.rstrip()}\n")
        for name in [n for n in pending if re.search(rf"^{re.escape(n)}\s*=", block.code, re.MULTILINE)]:
            parts.append(f"{name} = {pending.pop(name)!r}  # paste check: a smaller setting\n")
    if pending:
        raise PageCodeError(f"{page.name}: paste_check 设置了页面代码里没有定义的 {', '.join(pending)}")
    return "\n".join(parts)
