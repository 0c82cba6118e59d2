"""Command line for the chapter executor (the same one `mkdocs build` uses).

    python -m bookbuild status              which chapters are up to date (never imports torch)
    python -m bookbuild run                 run every chapter that is not up to date, then check
                                            its claims against the pages as `mkdocs build` does
    python -m bookbuild run --shard 2/3     only the second of three shares of the chapters
    python -m bookbuild seeds 0 1 2 3 4     run the book on each base seed, print claim × seed

`seeds` shows a writer which sentences of the book depend on the seed before publishing:
each base seed is a separate cache entry (the seed is part of the key), so a rerun only
runs what changed. It exits with 1 when any claim fails on any seed.

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
from .pages import chapter_pages, claim_problems
from .runner import ChapterFailed
from .settings import SettingsError, executor_from_environment

ROOT = Path(__file__).resolve().parents[1]


def shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise argparse.ArgumentTypeError(f"分片写作 i/n，1 ≤ i ≤ n，而不是 {text!r}")
    return int(match.group(1)), int(match.group(2))


def seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"随机种子是非负整数，而不是 {text!r}")
    return int(text)


def claim_table(by_seed: dict[int, dict[str, dict]]) -> tuple[str, int]:
    """claim × seed as a text table (✓ holds, ✗ fails, — not recorded), and the number of failures.

    ``by_seed`` maps a seed to ``{"chapter.claim": claim}``, or to ``None`` when the run failed.
    """
    names = sorted({name for claims in by_seed.values() if claims for name in claims})
    width = max([len(name) for name in names] + [len("结论")])
    seeds = list(by_seed)
    lines = ["结论".ljust(width) + "".join(f"  种子 {s:<3}" for s in seeds)]
    failed = []
    for name in names:
        cells = []
        for s in seeds:
            claim = (by_seed[s] or {}).get(name)
            if by_seed[s] is None:
                cells.append("运行失败")
            elif claim is None:
                cells.append("—")
            else:
                cells.append("✓" if claim["holds"] else "✗")
                if not claim["holds"]:
                    failed.append(f"种子 {s}：{name}：{claim['check']}")
        lines.append(name.ljust(width) + "".join(f"  {cell:<7}" for cell in cells))
    held = {s: sum(c["holds"] for c in (by_seed[s] or {}).values()) for s in seeds}
    lines.append("成立".ljust(width - 2) + "".join(f"  {held[s]:>3}/{len(names):<3}" for s in seeds))
    broken = [s for s in seeds if by_seed[s] is None]
    failures = len(failed) + len(broken)
    if failed:
        lines += ["", "不成立的结论：", *failed]
    for s in broken:
        lines.append(f"种子 {s}：有章节运行失败")
    return "\n".join(lines), failures


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
    seeds = commands.add_parser("seeds", help="在几个基准随机种子上运行全书，列出每条结论在每个种子上是否成立")
    seeds.add_argument("seed_list", metavar="SEED", type=seed, nargs="*", default=[0, 1, 2, 3, 4],
                       help="基准随机种子（默认 0 1 2 3 4）")
    seeds.add_argument("--shard", type=shard, default=None, help="只处理第 i 份（共 n 份），写作 i/n")
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

    if args.command == "seeds":
        by_seed: dict[int, dict | None] = {}
        for base in args.seed_list:
            executor.seed = base
            try:
                outcomes = executor.run_all(chapters)
            except ChapterFailed as failure:
                print(f"种子 {base}：{failure}", file=sys.stderr)
                by_seed[base] = None
                continue
            by_seed[base] = {
                f"{o.chapter.name}.{name}": claim
                for o in outcomes
                for name, claim in o.results.get("claims", {}).items()
            }
            print(f"种子 {base}：{sum(not o.cache_hit for o in outcomes)} 章运行，其余命中缓存", file=sys.stderr)
        table, failures = claim_table(by_seed)
        print(f"模式：{executor.mode}")
        print(table)
        return 1 if failures else 0

    try:
        outcomes = executor.run_all(chapters)
    except ChapterFailed as failure:
        print(failure, file=sys.stderr)
        return 1
    for outcome in outcomes:
        print(f"{outcome.chapter.name:<24}{outcome.summary}")
    # the same check as `mkdocs build`: every claim cited by its page and, in full mode, holding
    problems = claim_problems({o.chapter.name: o for o in outcomes}, chapter_pages(ROOT / "docs"), executor.mode)
    for problem in problems:
        print(f"结论：{problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
