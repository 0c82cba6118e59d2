"""What a chapter's run actually read, and whether all of it is still the same.

``bookbuild/trace.py`` records, while the chapter runs, every file it opened for reading
under the project and the data root (with the size and modification time each had when
first opened) and the installed distributions it imported. After the run, ``settle``
checks that none of those files changed while the chapter ran and hashes them; the result
is stored in the cache entry as ``inputs.json``. Before the entry is reused, ``changes``
compares it with the files and distributions as they are now: size and modification time
first, a SHA-256 only when those differ. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
from pathlib import Path

INPUTS = "inputs.json"


class InputsChanged(Exception):
    """A file the chapter read changed (or vanished) while it ran."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict[str, str]:
    """Every installed distribution's version, by normalized name (metadata only)."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalized(name), dist.version)
    return found


class Roots:
    """Labels a file by the root it lies in (``project:code/x.py``, ``data:MNIST/...``), so that an
    entry stays valid when the project is checked out elsewhere (CI shards, another machine)."""

    def __init__(self, **roots: Path):
        # the deepest root first: the data root usually lies inside the project
        self.roots = sorted(((name, Path(os.path.realpath(p))) for name, p in roots.items()), key=lambda r: -len(str(r[1])))

    def label(self, path: str) -> str | None:
        for name, root in self.roots:
            if path == str(root) or path.startswith(str(root) + os.sep):
                return f"{name}:{Path(path).relative_to(root).as_posix()}"
        return None

    def path(self, label: str) -> Path | None:
        name, _, relative = label.partition(":")
        for root_name, root in self.roots:
            if root_name == name:
                return root / relative
        return None


def settle(trace_file: Path, roots: Roots) -> dict:
    """The entry's record of a finished run: each file read, labelled, with its size, time and hash.

    Raises InputsChanged when a file is no longer as it was when the chapter first opened it.
    """
    trace = json.loads(trace_file.read_text("utf-8"))
    files = {}
    for real, (size, mtime_ns) in sorted(trace["files"].items()):
        path = Path(real)
        label = roots.label(real)
        if label is None:
            continue
        try:
            before = path.stat()
            digest = sha256(path)
            after = path.stat()
        except OSError:
            raise InputsChanged(f"{label}（运行期间被删除）") from None
        if {(before.st_size, before.st_mtime_ns), (after.st_size, after.st_mtime_ns)} != {(size, mtime_ns)}:
            raise InputsChanged(label)
        files[label] = {"size": size, "mtime_ns": mtime_ns, "sha256": digest}
    return {"files": files, "distributions": trace["distributions"]}


def changes(entry: Path, roots: Roots, installed: dict[str, str]) -> list[str]:
    """What differs between the inputs an entry's run used and the machine now ([] when nothing)."""
    record_file = entry / INPUTS
    try:
        record = json.loads(record_file.read_text("utf-8"))
    except (OSError, ValueError):
        return [f"{INPUTS} 缺失或损坏"]
    changed, restamped = [], False
    for label, seen in record["files"].items():
        path = roots.path(label)
        try:
            info = path.stat() if path else None
        except OSError:
            info = None
        if info is None:
            changed.append(f"{label}（不存在）")
        elif (info.st_size, info.st_mtime_ns) != (seen["size"], seen["mtime_ns"]):
            if info.st_size != seen["size"] or sha256(path) != seen["sha256"]:
                changed.append(label)
            else:  # touched, same content: remember the new time so the next check is cheap
                seen.update(size=info.st_size, mtime_ns=info.st_mtime_ns)
                restamped = True
    for name, version in record["distributions"].items():
        now = installed.get(normalized(name))
        if now != version:
            changed.append(f"{name} {version} → {now or '未安装'}")
    if restamped and not changed:
        tmp = record_file.with_name(f".{INPUTS}.{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True), "utf-8")
        os.replace(tmp, record_file)
    return changed
