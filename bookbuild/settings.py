"""Executor settings read from the environment, shared by the MkDocs hook and the CLI."""

from __future__ import annotations

import math
import os
from pathlib import Path

from .runner import MODES, Executor


MAX_SEED = 2**32 - 1  # what every random number generator a chapter seeds accepts (numpy's is the narrowest)


class SettingsError(Exception):
    pass


def executor_from_environment(root: Path) -> Executor:
    mode = os.environ.get("PTNOTES_MODE", "full")
    if mode not in MODES:
        raise SettingsError(f"PTNOTES_MODE 必须是 {' 或 '.join(MODES)}，而不是 {mode!r}")
    timeout_text = os.environ.get("PTNOTES_TIMEOUT", "1800")
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not math.isfinite(timeout) or timeout <= 0:
        raise SettingsError(f"PTNOTES_TIMEOUT 必须是正数（秒），而不是 {timeout_text!r}")
    jobs_text = os.environ.get("PTNOTES_JOBS", str(min(2, os.cpu_count() or 1)))
    if not jobs_text.isdigit() or int(jobs_text) < 1:
        raise SettingsError(f"PTNOTES_JOBS 必须是正整数，而不是 {jobs_text!r}")
    threads_text = os.environ.get("OMP_NUM_THREADS", "")
    threads = int(threads_text) if threads_text.isdigit() and int(threads_text) > 0 else None
    seed_text = os.environ.get("PTNOTES_SEED", "0")
    if not seed_text.isdigit() or int(seed_text) > MAX_SEED:
        raise SettingsError(f"PTNOTES_SEED 必须是 0 到 {MAX_SEED} 之间的整数，而不是 {seed_text!r}")
    cache_dir = Path(os.environ.get("PTNOTES_CACHE", root / ".cache" / "chapters"))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        probe = cache_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"PTNOTES_CACHE={cache_dir} 不能用作缓存目录：{exc.strerror or exc}") from None
    return Executor(
        root=root,
        cache_dir=cache_dir,
        data_root=Path(os.environ.get("PTNOTES_DATA", root / "data")),
        mode=mode,
        timeout=timeout,
        jobs=int(jobs_text),
        seed=int(seed_text),
        threads=threads,
    )
