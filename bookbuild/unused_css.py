"""The site's stylesheets without the rules no page can use.

Material ships one stylesheet for every feature it has (blog, tags, cards, tabs, Mermaid…),
134 KB that each page loads before it can paint; the notebook pages' shared JupyterLab
stylesheet is larger still; MathJax's has rules for elements no formula here uses. PurgeCSS
(npm) keeps a rule only when the words of its selector occur in the built pages or in the
site's scripts, which is where the classes that the theme's JavaScript adds (search results,
tooltips, the copy button) are named.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

STYLESHEETS = ("assets/stylesheets/*.css", "assets/mathjax/*.css")  # the theme's, the notebooks', MathJax's
CONTENT = ("**/*.html", "assets/javascripts/**/*.js", "javascripts/**/*.js")


class CssError(Exception):
    pass


def drop_unused_css(site: Path, node_modules: Path) -> dict[str, tuple[int, int]]:
    """Rewrites each of the site's STYLESHEETS; returns, for each, its size before and after."""
    purgecss = node_modules / ".bin" / "purgecss"
    sheets = sorted(sheet for pattern in STYLESHEETS for sheet in site.glob(pattern))
    if not sheets:
        return {}
    if not purgecss.exists():
        raise CssError("找不到 node_modules 里的 PurgeCSS：请先在项目根目录运行 bash scripts/dev.sh setup")
    with tempfile.TemporaryDirectory() as out:
        command = [str(purgecss), "--output", out, "--css", *map(str, sheets),
                   "--content", *(str(site / pattern) for pattern in CONTENT)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise CssError(f"PurgeCSS 失败：{done.stderr.strip()[-500:]}")
        sizes = {}
        for sheet in sheets:
            kept = Path(out) / sheet.name
            if not kept.is_file():
                raise CssError(f"PurgeCSS 没有写出 {sheet.name}")
            sizes[sheet.name] = (sheet.stat().st_size, kept.stat().st_size)
            shutil.copyfile(kept, sheet)
    return sizes
