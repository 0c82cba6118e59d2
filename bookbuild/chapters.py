"""Chapter discovery and cache keys.

A chapter is a script ``code/<name>.py`` that has an ``if __name__ == "__main__":``
block; every other ``.py`` file in ``code/`` is a helper module that chapters import.

The cache key of a chapter covers what can be known before it runs: its own source,
every local module it imports (transitively, by its source), the data files it declares
in a module-level ``DATA_FILES`` tuple (paths relative to the data root), the versions of
the libraries that compute and draw the results, Python's version, the device kind and
GPU model, the CPU threads, the run mode, the book's base seed and the chapter's command
line. What the run really read (a module found by ``importlib``, a JSON file, the extracted
data) is recorded during the run and checked before an entry is reused: see
``bookbuild.inputs``. Computing the key reads files and package metadata only; it never
imports torch.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import importlib.metadata
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from .inputs import sha256

# Bump when the layout of a cache entry or the meaning of the key changes.
KEY_VERSION = "3"

# Libraries whose version changes what a chapter computes or draws.
KEYED_PACKAGES = ("torch", "torchvision", "matplotlib", "numpy")

MAIN_GUARD = "__name__"


class ChapterError(Exception):
    """A chapter script that cannot be analysed (syntax error, bad DATA_FILES)."""


@dataclass(frozen=True)
class Chapter:
    name: str
    script: Path
    local_modules: tuple[Path, ...] = field(default=())
    data_files: tuple[str, ...] = field(default=())


def _parse(path: Path) -> ast.Module:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise ChapterError(f"{path.name}: 语法错误，第 {exc.lineno} 行：{exc.msg}") from None


def _has_main_guard(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.If):
            test = node.test
            if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == MAIN_GUARD:
                return True
    return False


def _imported_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _declared_data_files(tree: ast.Module, path: Path) -> tuple[str, ...]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DATA_FILES" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise ChapterError(f"{path.name}: DATA_FILES 必须是字符串字面量组成的元组") from None
            if not all(isinstance(v, str) for v in value):
                raise ChapterError(f"{path.name}: DATA_FILES 必须是字符串字面量组成的元组")
            return tuple(value)
    return ()


def local_modules(script: Path, code_dir: Path) -> tuple[Path, ...]:
    """Every module of ``code_dir`` that ``script`` imports, directly or not."""
    seen: dict[str, Path] = {}
    pending = [script]
    while pending:
        tree = _parse(pending.pop())
        for name in sorted(_imported_names(tree)):
            candidate = code_dir / f"{name}.py"
            if name not in seen and candidate.is_file() and candidate != script:
                seen[name] = candidate
                pending.append(candidate)
    return tuple(sorted(seen.values()))


def discover(code_dir: Path) -> list[Chapter]:
    chapters = []
    for script in sorted(code_dir.glob("*.py")):
        tree = _parse(script)
        if not _has_main_guard(tree):
            continue
        chapters.append(
            Chapter(
                name=script.stem,
                script=script,
                local_modules=local_modules(script, code_dir),
                data_files=_declared_data_files(tree, script),
            )
        )
    return chapters


def detect_device_kind() -> str:
    """The device kind a chapter run with ``--device auto`` will use, without importing torch.

    ``auto`` means CUDA when it is available. An NVIDIA driver that lists a GPU and
    a ``CUDA_VISIBLE_DEVICES`` that does not hide it is what torch needs for that.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return "cpu"
    if glob.glob("/proc/driver/nvidia/gpus/*"):
        return "cuda"
    return "cpu"


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "absent"




def detect_gpu_model() -> str:
    """The NVIDIA GPUs' models as the driver lists them (empty without a driver), without torch."""
    models = []
    for info in sorted(glob.glob("/proc/driver/nvidia/gpus/*/information")):
        try:
            for line in Path(info).read_text().splitlines():
                if line.startswith("Model:"):
                    models.append(line.split(":", 1)[1].strip())
        except OSError:
            continue
    return ", ".join(models)


def cache_key(
    chapter: Chapter,
    *,
    code_dir: Path,
    data_root: Path,
    device_kind: str,
    mode: str,
    seed: int = 0,
    threads: int = 1,
    gpu_model: str = "",
    arguments: list[str] | tuple[str, ...] = (),
) -> str:
    parts = [
        f"key-version {KEY_VERSION}",
        f"chapter {chapter.name}",
        f"mode {mode}",
        f"seed {seed}",
        f"threads {threads}",
        f"gpu {gpu_model}",
        f"arguments {' '.join(arguments)}",
        f"device {device_kind}",
        f"python {platform.python_version()}",
    ]
    parts += [f"package {name} {_package_version(name)}" for name in KEYED_PACKAGES]
    for source in (chapter.script, *chapter.local_modules):
        parts.append(f"source {source.relative_to(code_dir).as_posix()} {sha256(source)}")
    for relative in chapter.data_files:
        path = data_root / relative
        parts.append(f"data {relative} {sha256(path) if path.is_file() else 'missing'}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
