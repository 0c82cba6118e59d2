"""Runs a chapter script exactly as ``python SCRIPT ARGS...`` would, and records what it read.

    python bookbuild/trace.py SCRIPT ARGS...

The executor starts every chapter through this file (by path: it imports nothing of the
project). An audit hook sees every file the chapter opens for reading, its own imports
included; at exit the files under the watched roots (the project and the data root, less
the excluded folders and files whose names start with a dot, which are locks and stamps)
are written with the size and modification time they had when first opened, together
with the version of every installed distribution the chapter imported. The executor
hashes those files after the run: a cache entry is valid only while every input it used
is unchanged (``bookbuild.inputs``).

Settings come from the environment, which this file removes before the chapter starts:
PTNOTES_TRACE (the file to write), PTNOTES_TRACE_ROOTS and PTNOTES_TRACE_EXCLUDE (folders,
separated by os.pathsep).

The chapter also dies with its build: the executor asks the kernel to send it SIGTERM when
the build dies (even by SIGKILL), and this file turns that SIGTERM, or a build that is gone,
into SIGKILL for the chapter's whole process group, its workers included.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import stat
import sys
import threading
import time


def _folders(variable: str) -> tuple[str, ...]:
    return tuple(os.path.realpath(p) for p in os.environ.pop(variable, "").split(os.pathsep) if p)


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == folder or path.startswith(folder + os.sep) for folder in folders)


def _distributions() -> dict[str, str]:
    """The installed distributions whose top-level modules the chapter imported, with versions."""
    import importlib.metadata

    imported = {name.partition(".")[0] for name in list(sys.modules)}
    providers = importlib.metadata.packages_distributions()
    names = sorted({dist for module in imported for dist in providers.get(module, ())})
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _die_with_the_build(build_pid: int) -> None:
    def kill_group(*_):
        os.killpg(0, signal.SIGKILL)

    signal.signal(signal.SIGTERM, kill_group)

    def watch():  # in case the main thread is busy in a long native call
        while os.getppid() == build_pid:
            time.sleep(0.5)
        kill_group()

    threading.Thread(target=watch, daemon=True, name="build-watch").start()


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python bookbuild/trace.py SCRIPT ARGS...")
    script = os.path.abspath(sys.argv[1])
    record_to = os.environ.pop("PTNOTES_TRACE", None)
    roots = _folders("PTNOTES_TRACE_ROOTS")
    excluded = _folders("PTNOTES_TRACE_EXCLUDE") + tuple(
        os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}
    )
    build_pid = int(os.environ.pop("PTNOTES_BUILD_PID", "0"))
    if build_pid:
        _die_with_the_build(build_pid)

    seen: dict[str, list[int]] = {}

    def audit(event: str, args) -> None:
        if event != "open" or not roots:
            return
        path, mode, flags = args
        if not isinstance(path, (str, bytes)):
            return  # a file descriptor
        if mode is not None:
            if any(letter in mode for letter in "wax+"):
                return
        elif flags & os.O_ACCMODE != os.O_RDONLY:
            return
        real = os.path.realpath(os.fsdecode(path))
        if real in seen or not _inside(real, roots) or _inside(real, excluded):
            return
        if os.path.basename(real).startswith("."):
            return
        try:
            info = os.stat(real)
        except OSError:
            return
        if stat.S_ISREG(info.st_mode):
            seen[real] = [info.st_size, info.st_mtime_ns]

    def write_record() -> None:
        if record_to:
            record = {"files": seen, "distributions": _distributions()}
            with open(record_to, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1, sort_keys=True)

    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(script)
    sys.addaudithook(audit)
    atexit.register(write_record)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
