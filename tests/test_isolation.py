"""What a chapter draws depends on the chapter alone: a matplotlibrc in the working directory or
in matplotlib's config folder (a reader's, or one planted on a build machine) changes nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import CODE

PROBE = f"""
import sys
sys.path.insert(0, {str(CODE)!r})
import matplotlib
import chapter_kit
chapter_kit._configure_matplotlib()
print(matplotlib.rcParams["lines.linewidth"], matplotlib.rcParams["axes.facecolor"])
"""


def test_matplotlibrc_files_do_not_change_the_figures(tmp_path):
    planted = "lines.linewidth: 20\naxes.facecolor: black\n"
    (tmp_path / "matplotlibrc").write_text(planted)  # in the working directory
    config = tmp_path / "config"
    config.mkdir()
    (config / "matplotlibrc").write_text(planted)  # in the config folder
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={"MPLCONFIGDIR": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1.5", "white"]
