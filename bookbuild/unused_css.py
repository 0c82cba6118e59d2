"""The site's stylesheets without the rules no page can use.

Material ships one stylesheet for every feature it has (blog, tags, cards, tabs, Mermaid…),
134 KB that each page loads before it can paint; the notebook pages' shared JupyterLab
stylesheet is larger still; MathJax's has rules for elements no formula here uses. PurgeCSS
(npm) keeps a rule only when the words of its selector occur in the built pages or in the
site's scripts, which is where the classes that the theme's JavaScript adds (search results,
the copy button) are named. The theme's script names the classes of every feature it has,
though, used or not: its words for the features this site has switched off (``unused_features``:
content tabs, code annotations, tooltips, versions, the repository link, tags, right-to-left
text) do not count, so their rules go too (about 15 KB a page); a page's own words always count.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

STYLESHEETS = ("assets/stylesheets/*.css", "assets/mathjax/*.css")  # the theme's, the notebooks', MathJax's
CONTENT = ("**/*.html", "assets/javascripts/**/*.js", "javascripts/**/*.js")


class CssError(Exception):
    pass


# PurgeCSS's own word extractor, applied to the scripts without the words of unused features
EXTRACTOR = """const unused = new RegExp(%s);
export const extractors = [{
  extensions: ["js"],
  extractor: (content) => (content.match(/[A-Za-z0-9_-]+/g) || []).filter((word) => !unused.test(word)),
}];
"""


def unused_features(config, annotated: bool = False) -> list[str]:
    """The theme's features that this MkDocs configuration leaves off, as the class-name
    families (and the ``rtl`` of ``[dir=rtl]``) that the theme's script names for them.
    ``annotated``: a page has an ``annotate`` block, which gets annotations whatever the features."""
    features = set(config.theme.get("features") or [])
    extensions = set(config.markdown_extensions)
    annotations = annotated or "content.code.annotate" in features
    unused = {
        "tabbed": "pymdownx.tabbed" not in extensions,
        "md-annotation": not annotations,
        "md-tooltip": not annotations,  # the annotations' tooltip
        "md-tooltip2": not features & {"content.tooltips", "content.footnote.tooltips", "navigation.instant.preview"},
        "md-version": not (config.extra or {}).get("version"),
        "md-source": not config.repo_url,
        "md-tag": not any(name.split("/")[-1] == "tags" for name in config.plugins),
        "rtl": config.theme.get("direction") != "rtl",
    }
    return [family for family, off in unused.items() if off]


def drop_unused_css(site: Path, node_modules: Path, unused: list[str] = ()) -> dict[str, tuple[int, int]]:
    """Rewrites each of the site's STYLESHEETS; returns, for each, its size before and after.
    The scripts' words of the ``unused`` class families (``md-tag``: md-tag, md-tags, md-tag-icon…)
    do not keep rules."""
    purgecss = node_modules / ".bin" / "purgecss"
    sheets = sorted(sheet for pattern in STYLESHEETS for sheet in site.glob(pattern))
    if not sheets:
        return {}
    if not purgecss.exists():
        raise CssError("找不到 node_modules 里的 PurgeCSS：请先在项目根目录运行 bash scripts/dev.sh setup")
    with tempfile.TemporaryDirectory() as out:
        families = "|".join(sorted(unused)) or "(?!)"
        config = Path(out) / "purgecss.config.mjs"
        config.write_text(EXTRACTOR % json.dumps(f"^({families})s?($|[-_])"), "utf-8")
        command = [str(purgecss), "--config", str(config), "--output", out, "--css", *map(str, sheets),
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
