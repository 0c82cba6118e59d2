"""Lighthouse (npm, run with Debian's Chromium) on the built site: performance and
accessibility under the mobile and desktop presets, and what a page's first load weighs.

    .venv/bin/python scripts/lighthouse.py                 # site/, every page measured, 3 runs
    .venv/bin/python scripts/lighthouse.py --runs 1 --preset mobile --pages chapters/rnn/

Serves the site on localhost with gzip, as GitHub Pages does, runs Lighthouse `--runs` times
per page and preset, and prints the medians as a Markdown table with the targets:
performance >= 90 and accessibility 100 on every page measured, and a chapter page's first
load (HTML, CSS, JS, fonts: everything but its own figures under generated/) <= 400 KiB
uncompressed. Exits 1 when a target is missed. Never part of the tests: the figures depend
on the machine.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import shutil
import socket
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
TARGETS = {"performance": 90, "accessibility": 100, "first_load_kib": 400}
TEXT_TYPES = (".html", ".css", ".js", ".json", ".xml", ".svg")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Text compressed with gzip, as GitHub Pages serves it."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        folder_without_slash = Path(self.translate_path(self.path)).is_dir() and not self.path.split("?")[0].endswith("/")
        gzip_ok = "gzip" in self.headers.get("Accept-Encoding", "")
        if folder_without_slash or not gzip_ok or path.suffix not in TEXT_TYPES or not path.is_file():
            return super().send_head()  # redirects, binaries, and clients without gzip
        body = gzip.compress(path.read_bytes())
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return _Body(body)


class _Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self, *args):
        data, self.data = self.data, b""
        return data

    def close(self):
        pass


def default_pages(site: Path) -> list[str]:
    chapters = sorted(p.parent.relative_to(site).as_posix() + "/" for p in (site / "chapters").glob("*/index.html"))
    return ["", *chapters, "report/", "notebooks/regression/"]


def measure(url: str, preset: str, chromium: str) -> dict:
    command = [
        str(LIGHTHOUSE), url, "--quiet", "--output=json", "--output-path=stdout",
        "--only-categories=performance,accessibility", f"--chrome-path={chromium}",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
    ]
    if preset == "desktop":
        command.append("--preset=desktop")
    report = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=300).stdout)
    requests = report["audits"]["network-requests"]["details"]["items"]
    first_load = sum(r.get("resourceSize", 0) for r in requests if "/generated/" not in r["url"])
    return {
        "performance": round(report["categories"]["performance"]["score"] * 100),
        "accessibility": round(report["categories"]["accessibility"]["score"] * 100),
        "lcp_s": report["audits"]["largest-contentful-paint"]["numericValue"] / 1000,
        "first_load_kib": first_load / 1024,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=ROOT / "site", help="the built site (default site/)")
    parser.add_argument("--runs", type=int, default=3, help="runs per page and preset; the median is reported")
    parser.add_argument("--preset", choices=("mobile", "desktop", "both"), default="both")
    parser.add_argument("--pages", nargs="*", help="paths under the site root (default: home, chapters, report, a notebook)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or not LIGHTHOUSE.exists():
        parser.error("needs Debian's chromium and Lighthouse from npm (bash scripts/dev.sh setup)")
    if not (args.site / "index.html").is_file():
        parser.error(f"no built site in {args.site} (bash scripts/dev.sh build)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(GzipHandler, directory=str(args.site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    presets = ("mobile", "desktop") if args.preset == "both" else (args.preset,)
    print("| 页面 | 预设 | 性能 | 无障碍 | LCP (s) | 首次加载 (KiB) | 目标 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    missed = 0
    for path in args.pages if args.pages is not None else default_pages(args.site):
        for preset in presets:
            runs = [measure(f"http://127.0.0.1:{port}/{path}", preset, chromium) for _ in range(args.runs)]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            ok = (median["performance"] >= TARGETS["performance"] and median["accessibility"] >= TARGETS["accessibility"]
                  and (not path.startswith("chapters/") or median["first_load_kib"] <= TARGETS["first_load_kib"]))
            missed += not ok
            print(f"| /{path} | {preset} | {median['performance']:.0f} | {median['accessibility']:.0f} "
                  f"| {median['lcp_s']:.2f} | {median['first_load_kib']:.0f} | {'✓' if ok else '✗'} |", flush=True)
    server.shutdown()
    print(f"\n{args.runs} run(s) per page and preset, medians; targets: performance >= {TARGETS['performance']}, "
          f"accessibility {TARGETS['accessibility']}, a chapter's first load <= {TARGETS['first_load_kib']} KiB")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
