"""Command line for the chapter executor (the same one `mkdocs build` uses).

    python -m bookbuild status              which chapters are up to date (never imports torch)
    python -m bookbuild run                 run every chapter that is not up to date
    python -m bookbuild run --shard 2/3     only the second of three shares of the chapters

Shards split the sorted chapter list round-robin, so each machine of a CI matrix runs its
share into its own cache; copying those caches into one folder merges them, and a final
`mkdocs build` over it runs no chapter. Settings come from the same PTNOTES_* environment
variables as the build.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .chapters import ChapterError, discover
from .runner import ChapterFailed
from .settings import SettingsError, executor_from_environment

ROOT = Path(__file__).resolve().parents[1]


def shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"分片写作 i/n，1 ≤ i ≤ n，而不是 {text!r}")
    return int(match.group(1)), int(match.group(2))


def select(chapters, part: tuple[int, int] | None):
    if part is None:
        return chapters
    index, count = part
    return [chapter for position, chapter in enumerate(chapters) if position % count == index - 1]


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: 错误：{message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m bookbuild", description="运行章节、查看缓存状态。")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("status", "列出各章是否需要重新运行"), ("run", "运行需要重新运行的章节")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--shard", type=shard, default=None, help="只处理第 i 份（共 n 份），写作 i/n")
    args = parser.parse_args(argv)

    try:
        executor = executor_from_environment(ROOT)
        chapters = select(discover(executor.code_dir), args.shard)
    except (SettingsError, ChapterError) as error:
        print(f"{parser.prog}: 错误：{error}", file=sys.stderr)
        return 2

    if args.command == "status":
        for chapter in chapters:
            state = "最新" if executor.is_fresh(chapter) else "需要运行"
            print(f"{chapter.name:<24}{state}")
        return 0

    try:
        outcomes = executor.run_all(chapters)
    except ChapterFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(f"{outcome.chapter.name:<24}{outcome.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
