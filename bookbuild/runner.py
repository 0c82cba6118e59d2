"""Runs chapters in their own processes and keeps their outputs in a cache.

Cache layout, one folder per successful run::

    <cache>/<chapter>/<key>/             the files the chapter wrote (figures, results.json)
    <cache>/<chapter>/<key>/run.json     what the executor measured (wall time, peak memory, ...)
    <cache>/<chapter>/<key>/inputs.json  every file the run read, hashed, and the distributions it imported
    <cache>/<chapter>/.tmp-<pid>-*       a run in progress
    <cache>/<chapter>/.lock              held while a build checks or runs the chapter

The key (``chapters.cache_key``) names what can be known before the run: sources, declared
data, mode, seed, device, threads, command line. What the run really read is known only
after it: an entry is reused only while every input in its ``inputs.json`` is unchanged
(``bookbuild.inputs``), and a run whose inputs changed while it ran is not stored (it is
run again). A run writes into a temporary folder that is renamed to its key only after the
chapter exited with status 0 and ``run.json`` was written. A failed, timed-out,
interrupted or killed run therefore never leaves an entry behind and never touches the
outputs of an earlier good run; the temporary folders of dead runs are removed by the next
executor, which also kills whatever is left of their chapters' process groups. Two builds on
one cache run a chapter once: the second waits for the entry's lock and then finds it.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import inputs
from .chapters import Chapter, cache_key, detect_device_kind, detect_gpu_model

MODES = ("full", "quick")
LOG_NAME = "log.txt"
RUN_INFO = "run.json"
RESULTS = "results.json"
LOCK_NAME = ".lock"
PGID_FILE = ".pgid"  # in a run's temporary folder: the chapter's process group, for the next build to stop
TRACER = Path(__file__).resolve().parent / "trace.py"
ATTEMPTS = 2  # a run whose inputs changed while it ran is run once more
KEEP_ENTRIES = 12  # per chapter: five base seeds in both modes (bookbuild seeds) without re-running
TAIL_LINES = 25


class ChapterFailed(Exception):
    def __init__(self, chapter: str, reason: str, tail: str):
        self.chapter, self.reason, self.tail = chapter, reason, tail
        super().__init__(f"章节 {chapter} 运行失败（{reason}），输出的最后几行：\n{tail}")


@dataclass
class Outcome:
    chapter: Chapter
    entry: Path
    cache_hit: bool
    run_info: dict
    results: dict

    @property
    def summary(self) -> str:
        """How the build reports it: from the cache, or run and how long it took."""
        return "命中缓存" if self.cache_hit else f"已运行，{self.run_info['wall_time_s']:.1f} s"

    def output_files(self) -> list[Path]:
        """The files a page may reference: everything the chapter wrote but its log."""
        kept = (LOG_NAME, RUN_INFO, inputs.INPUTS)
        return sorted(p for p in self.entry.rglob("*") if p.is_file() and p.name not in kept)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Executor:
    def __init__(
        self,
        *,
        root: Path,
        cache_dir: Path,
        data_root: Path,
        mode: str = "full",
        timeout: float = 1800.0,
        device_kind: str | None = None,
        python: str = sys.executable,
        jobs: int = 1,
        seed: int = 0,
        threads: int | None = None,
    ):
        if mode not in MODES:
            raise ValueError(f"运行模式必须是 {' 或 '.join(MODES)}，而不是 {mode!r}")
        self.root = root
        self.code_dir = root / "code"
        self.cache_dir = cache_dir
        self.data_root = data_root
        self.mode = mode
        self.timeout = timeout
        self.device_kind = device_kind or detect_device_kind()
        self.python = python
        self.jobs = max(1, jobs)
        self.seed = seed  # the book's base seed: every chapter runs with --seed <seed>
        # PyTorch's CPU threads change results in the last digits: set for every chapter, and keyed
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)
        self.gpu_model = detect_gpu_model() if self.device_kind == "cuda" else ""
        self.roots = inputs.Roots(project=root, data=data_root)
        self._installed: dict[str, str] | None = None
        self._cleaned = False
        self._running: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    # -- cache ---------------------------------------------------------------------------

    def key(self, chapter: Chapter) -> str:
        return cache_key(
            chapter,
            code_dir=self.code_dir,
            data_root=self.data_root,
            device_kind=self.device_kind,
            mode=self.mode,
            seed=self.seed,
            threads=self.threads,
            gpu_model=self.gpu_model,
            arguments=self.arguments(),
        )

    def installed(self) -> dict[str, str]:
        if self._installed is None:
            self._installed = inputs.installed_distributions()
        return self._installed

    def changes(self, entry: Path) -> list[str] | None:
        """None when there is no entry; else what changed among the inputs its run used ([]: nothing)."""
        if not (entry / RUN_INFO).is_file():
            return None
        return inputs.changes(entry, self.roots, self.installed())

    def is_fresh(self, chapter: Chapter) -> bool:
        """Whether the cache holds the chapter's outputs for its key and every input the run used is unchanged."""
        return self.changes(self.cache_dir / chapter.name / self.key(chapter)) == []

    def _clean_once(self) -> None:
        with self._lock:
            if not self._cleaned:
                self.remove_dead_temporaries()
                self._cleaned = True

    def remove_dead_temporaries(self) -> None:
        """The temporary folders of runs whose build is gone, in every chapter, and what is left of
        their chapters (a worker that outlived its killed chapter): called at the start of a build."""
        for tmp in self.cache_dir.glob("*/.tmp-*"):
            try:
                pid = int(tmp.name.split("-")[1])
            except (IndexError, ValueError):
                pid = -1
            if pid > 0 and _pid_alive(pid):
                continue
            try:
                os.killpg(int((tmp / PGID_FILE).read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            shutil.rmtree(tmp, ignore_errors=True)

    def _prune(self, chapter_dir: Path) -> None:
        entries = [p for p in chapter_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP_ENTRIES:]:
            shutil.rmtree(old, ignore_errors=True)

    # -- running -------------------------------------------------------------------------

    def arguments(self) -> list[str]:
        """The chapter's command-line arguments, but for its output folder (part of the key)."""
        arguments = ["--device", "auto", "--seed", str(self.seed)]
        if self.mode == "quick":
            arguments.append("--quick")
        return arguments

    def command(self, chapter: Chapter, out_dir: Path) -> list[str]:
        return [self.python, str(TRACER), str(chapter.script), *self.arguments(), "--out", str(out_dir)]

    def _environment(self, out_dir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            PYTHONUNBUFFERED="1",
            MPLBACKEND="Agg",
            PTNOTES_DATA=str(self.data_root),
            # Chapters running side by side share the cores instead of each claiming all of them.
            OMP_NUM_THREADS=str(self.threads),
            MKL_NUM_THREADS=str(self.threads),
            PTNOTES_TRACE=str(out_dir / inputs.INPUTS),
            PTNOTES_TRACE_ROOTS=os.pathsep.join(map(str, (self.root, self.data_root))),
            PTNOTES_TRACE_EXCLUDE=os.pathsep.join(
                str(p) for p in (self.cache_dir, self.root / ".git", self.root / "node_modules", self.root / "site")
            ),
            PTNOTES_BUILD_PID=str(os.getpid()),
        )
        return env

    def run_all(self, chapters: list[Chapter]) -> list[Outcome]:
        """Runs the chapters, ``jobs`` at a time, in their given order of results.

        If a chapter fails, the others still finish (their good results are cached) and the
        first failure is raised. An interrupt stops every chapter that is running.
        """
        results = self.run_each(chapters)
        for result in results:
            if isinstance(result, ChapterFailed):
                raise result
        return results

    def run_each(self, chapters: list[Chapter]) -> list[Outcome | ChapterFailed]:
        """Like ``run_all``, but a failed chapter's place in the list holds its failure."""
        self._clean_once()
        with _terminate_as_interrupt():
            return self._run_each(chapters)

    def _run_one(self, chapter: Chapter) -> Outcome | ChapterFailed:
        try:
            return self.run(chapter)
        except ChapterFailed as failure:
            return failure

    def _run_each(self, chapters: list[Chapter]) -> list[Outcome | ChapterFailed]:
        if self.jobs == 1 or len(chapters) < 2:
            return [self._run_one(chapter) for chapter in chapters]
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="chapter")
        try:
            return [future.result() for future in [pool.submit(self._run_one, chapter) for chapter in chapters]]
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            self._kill_running()
            raise
        finally:
            pool.shutdown(wait=True)

    def _kill_running(self) -> None:
        with self._lock:
            running = list(self._running)
        for process in running:
            _kill_group(process)

    def run(self, chapter: Chapter) -> Outcome:
        """Returns the chapter's outputs, running it only when its entry is missing or an input it used changed."""
        with _terminate_as_interrupt():
            return self._run(chapter)

    def _run(self, chapter: Chapter) -> Outcome:
        self._clean_once()
        chapter_dir = self.cache_dir / chapter.name
        chapter_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, ATTEMPTS + 1):
            key = self.key(chapter)
            entry = chapter_dir / key
            with FileLock(chapter_dir / LOCK_NAME):  # another build running this chapter: wait for it
                if self.changes(entry) == []:
                    return self._load(chapter, entry, cache_hit=True)
                tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=chapter_dir))
                try:
                    run_info = self._execute(chapter, tmp, key)
                    try:
                        record = inputs.settle(tmp / inputs.INPUTS, self.roots)
                    except inputs.InputsChanged as changed:
                        if attempt == ATTEMPTS:
                            raise ChapterFailed(chapter.name, f"运行期间输入 {changed} 被修改，结果没有保存", "") from None
                        continue
                    if self.key(chapter) != key:  # a source changed while the chapter ran
                        if attempt == ATTEMPTS:
                            raise ChapterFailed(chapter.name, "运行期间源文件被修改，结果没有保存", "")
                        continue
                    (tmp / inputs.INPUTS).write_text(json.dumps(record, indent=1, sort_keys=True), "utf-8")
                    (tmp / RUN_INFO).write_text(json.dumps(run_info, ensure_ascii=False, indent=2), "utf-8")
                    _replace(entry, tmp)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            self._prune(chapter_dir)
            return self._load(chapter, entry, cache_hit=False)
        raise AssertionError("unreachable")

    def _execute(self, chapter: Chapter, out_dir: Path, key: str) -> dict:
        log_path = out_dir / LOG_NAME
        started = time.perf_counter()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                self.command(chapter, out_dir),
                cwd=self.root,
                env=self._environment(out_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so that a timeout can stop the chapter's workers too
                preexec_fn=_die_with_parent,
            )
            (out_dir / PGID_FILE).write_text(str(process.pid))  # the chapter leads its own process group
            with self._lock:
                self._running.add(process)
            try:
                status, rusage = self._wait(process, started)
            except BaseException:  # interrupted while waiting: stop the chapter, then collect it
                _kill_group(process)
                _reap(process)
                raise
            finally:
                _kill_group(process)  # whatever the chapter left behind (workers, a sleep) dies with it
                (out_dir / PGID_FILE).unlink(missing_ok=True)
                with self._lock:
                    self._running.discard(process)
        wall = time.perf_counter() - started
        if status is None:
            raise ChapterFailed(chapter.name, f"超过 {self.timeout:.0f} s 的时限", _tail(log_path))
        if status != 0:
            raise ChapterFailed(chapter.name, f"退出码 {status}", _tail(log_path))
        if not (out_dir / RESULTS).is_file():
            raise ChapterFailed(chapter.name, f"没有写出 {RESULTS}", _tail(log_path))
        return {
            "chapter": chapter.name,
            "key": key,
            "mode": self.mode,
            "wall_time_s": round(wall, 3),
            # ru_maxrss is in KiB on Linux.
            "peak_rss_bytes": rusage.ru_maxrss * 1024 if rusage else None,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _wait(self, process: subprocess.Popen, started: float):
        """Waits for the chapter; returns (exit status or None on timeout, its resource usage).

        This thread alone reaps the chapter: a timeout, or another thread stopping the run,
        only kills it, and the loop collects it.
        """
        timed_out = False
        while True:
            pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                return (None if timed_out else process.returncode), rusage
            if not timed_out and time.perf_counter() - started > self.timeout:
                _kill_group(process)
                timed_out = True
            time.sleep(0.05)

    def last_good(self, chapter: Chapter) -> Outcome | None:
        """The newest complete entry of the chapter in this mode, whatever its key (for a preview
        that shows a failed chapter's previous results, marked as such)."""
        entries = []
        for entry in (self.cache_dir / chapter.name).glob("[!.]*"):
            try:
                if json.loads((entry / RUN_INFO).read_text("utf-8")).get("mode") == self.mode:
                    entries.append(entry)
            except (OSError, ValueError):
                continue
        if not entries:
            return None
        return self._load(chapter, max(entries, key=lambda e: (e / RUN_INFO).stat().st_mtime), cache_hit=True)

    def _load(self, chapter: Chapter, entry: Path, *, cache_hit: bool) -> Outcome:
        run_info = json.loads((entry / RUN_INFO).read_text("utf-8"))
        results = json.loads((entry / RESULTS).read_text("utf-8"))
        return Outcome(chapter=chapter, entry=entry, cache_hit=cache_hit, run_info=run_info, results=results)


def _die_with_parent() -> None:
    """Linux: a chapter gets SIGTERM when the build that started it dies (even by SIGKILL);
    bookbuild/trace.py turns it into SIGKILL for the chapter's whole process group, so no
    orphan keeps writing into a temporary folder that the next build removes."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _terminate_as_interrupt:
    """While the build runs chapters, SIGTERM (what CI and `timeout` send) stops it the way Ctrl-C
    does: every running chapter's process group is killed and its temporary folder removed."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._interrupt)
        return self

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


class FileLock:
    """An exclusive lock on a file, held for a ``with`` block (released if the process dies)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.handle = self.path.open("a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _replace(entry: Path, new: Path) -> None:
    """Puts a finished run in place of the entry (an entry whose inputs changed is replaced)."""
    if entry.exists():
        old = entry.with_name(f".old-{os.getpid()}-{entry.name}")
        entry.rename(old)
        new.rename(entry)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(entry)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(process: subprocess.Popen) -> None:
    try:
        os.waitpid(process.pid, 0)
    except ChildProcessError:
        pass


def _tail(log_path: Path, lines: int = TAIL_LINES) -> str:
    text = log_path.read_text("utf-8", errors="replace") if log_path.is_file() else ""
    # Progress bars rewrite their line with carriage returns: keep only the last state.
    kept = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(kept[-lines:])
