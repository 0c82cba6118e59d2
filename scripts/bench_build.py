"""Measures how long `mkdocs build` takes: cold (every chapter runs), warm (every chapter
is a cache hit) and, as the floor, the same site built with the chapter hook removed
("a build with no chapters": no chapter runs or checks, figures and numbers missing).

All three are measured in one run, interleaved, on the same machine; prints the median
of each and the warm/no-chapters ratio. Usage:

    .venv/bin/python scripts/bench_build.py [--repeat 5] [--mode full|quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Inherits everything from mkdocs.yml but the hook; without it the pages' figures are
# missing, so this floor build cannot be strict. It lives beside mkdocs.yml while the
# benchmark runs, because paths in the configuration are relative to its folder.
NO_CHAPTERS = """INHERIT: mkdocs.yml
strict: false
hooks: []
watch: []
extra_javascript: [javascripts/mathjax-config.js]
validation:
  links:
    not_found: ignore
"""


def build(config: Path, site: Path, cache: Path, mode: str) -> float:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PTNOTES_CACHE=str(cache), PTNOTES_MODE=mode)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mode", choices=("full", "quick"), default="full")
    args = parser.parse_args()

    floor_config = ROOT / ".bench-no-chapters.yml"
    floor_config.write_text(NO_CHAPTERS)
    times: dict[str, list[float]] = {"cold": [], "warm": [], "no chapters": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for round_ in range(args.repeat):
                cache = tmp / f"cache-{round_}"
                times["cold"].append(build(ROOT / "mkdocs.yml", tmp / "site", cache, args.mode))
                times["warm"].append(build(ROOT / "mkdocs.yml", tmp / "site", cache, args.mode))
                times["no chapters"].append(build(floor_config, tmp / "site-floor", cache, args.mode))
    finally:
        floor_config.unlink()

    print(f"mkdocs build, {args.mode} mode, {args.repeat} rounds, {os.cpu_count()} CPUs")
    print(f"{'build':<12} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in times.items():
        print(f"{name:<12} {statistics.median(values):>7.2f}s {min(values):>7.2f}s {max(values):>7.2f}s")
    warm, floor = statistics.median(times["warm"]), statistics.median(times["no chapters"])
    print(f"warm / no chapters = {warm / floor:.2f}   cold / warm = {statistics.median(times['cold']) / warm:.1f}")


if __name__ == "__main__":
    main()
