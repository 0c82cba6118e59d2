"""code/ is a folder of scripts, never a package, and shadows no other module."""

from __future__ import annotations

import importlib.metadata
import sys

from conftest import CODE


def test_code_is_not_a_package():
    # A package named `code` shadows the standard library's `code` module, which pdb needs.
    assert not (CODE / "__init__.py").exists()


def test_no_script_shadows_another_module():
    installed = set(importlib.metadata.packages_distributions())
    for script in CODE.glob("*.py"):
        name = script.stem
        assert name not in sys.stdlib_module_names, f"code/{script.name} shadows the standard library"
        assert name not in installed, f"code/{script.name} shadows an installed package"
