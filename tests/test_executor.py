"""The executor's cache: a chapter re-runs exactly when something that can change its
outputs changed, and a failed, timed-out or killed run never leaves a partial entry.

These tests use a small project of their own whose chapters are plain Python (no torch),
so that each run takes milliseconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bookbuild import chapters as chapters_module
from bookbuild.chapters import ChapterError, discover
from bookbuild.runner import RESULTS, ChapterFailed, Executor
from conftest import CODE, ROOT

CHAPTER = '''\
"""{name}: a test chapter."""
import json, os, sys, time
from pathlib import Path
{imports}
DATA_FILES = {data_files!r}

def main():
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    with open(os.environ["RUN_LOG"], "a") as log:
        log.write("{name}\\n")
    (out / "partial.txt").write_text("started")
    {body}
    (out / "figure.png").write_bytes(b"png")
    meta = {{"device": "cpu", "device_name": "CPU", "torch": "0", "mode": "quick", "seed": 0}}
    (out / "results.json").write_text(json.dumps({{"results": {{"value": {value}}}, "meta": meta}}))

if __name__ == "__main__":
    main()
'''


def write_chapter(code: Path, name, *, imports="", data_files=(), body="pass", value=1):
    text = CHAPTER.format(name=name, imports=imports, data_files=tuple(data_files), body=body, value=value)
    (code / f"{name}.py").write_text(text)


@pytest.fixture
def project(tmp_path, monkeypatch):
    """code/ with: alpha -> kit_helper; beta (no imports, reads a data file); gamma -> deep -> kit_helper."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "kit_helper.py").write_text("SCALE = 1\n")
    (code / "deep.py").write_text("import kit_helper\n")
    write_chapter(code, "alpha", imports="import kit_helper")
    write_chapter(code, "beta", data_files=["set/raw.bin"])
    write_chapter(code, "gamma", imports="from deep import *")
    (tmp_path / "data" / "set").mkdir(parents=True)
    (tmp_path / "data" / "set" / "raw.bin").write_bytes(b"\x00\x01")
    monkeypatch.setenv("RUN_LOG", str(tmp_path / "runs.log"))
    return tmp_path


def make_executor(root: Path, **kwargs) -> Executor:
    options = dict(root=root, cache_dir=root / "cache", data_root=root / "data", mode="quick", device_kind="cpu")
    options.update(kwargs)
    return Executor(**options)


def run_all(executor: Executor) -> dict[str, bool]:
    """Runs every chapter; returns which ones were cache hits."""
    return {c.name: executor.run(c).cache_hit for c in discover(executor.code_dir)}


def executed(root: Path) -> list[str]:
    log = root / "runs.log"
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "cache").rglob(".tmp-*"))


def test_discovery_finds_chapters_and_their_local_imports(project):
    found = {c.name: c for c in discover(project / "code")}
    assert sorted(found) == ["alpha", "beta", "gamma"]  # helpers have no __main__ block
    assert [p.name for p in found["gamma"].local_modules] == ["deep.py", "kit_helper.py"]
    assert found["beta"].local_modules == ()
    assert found["beta"].data_files == ("set/raw.bin",)


def test_second_run_executes_nothing(project):
    executor = make_executor(project)
    assert run_all(executor) == {"alpha": False, "beta": False, "gamma": False}
    assert executed(project) == ["alpha", "beta", "gamma"]
    assert run_all(make_executor(project)) == {"alpha": True, "beta": True, "gamma": True}
    assert executed(project) == []


def test_changing_a_helper_reruns_exactly_its_importers(project):
    run_all(make_executor(project))
    executed(project)
    (project / "code" / "kit_helper.py").write_text("SCALE = 2\n")
    run_all(make_executor(project))
    assert executed(project) == ["alpha", "gamma"]  # gamma imports it through deep


def test_changing_a_chapter_reruns_only_it(project):
    run_all(make_executor(project))
    executed(project)
    write_chapter(project / "code", "beta", data_files=["set/raw.bin"], value=2)
    outcomes = {c.name: make_executor(project).run(c) for c in discover(project / "code")}
    assert executed(project) == ["beta"]
    assert outcomes["beta"].results["results"]["value"] == 2


def test_changing_a_declared_data_file_reruns_its_chapter(project):
    run_all(make_executor(project))
    executed(project)
    (project / "data" / "set" / "raw.bin").write_bytes(b"\x00\x02")
    run_all(make_executor(project))
    assert executed(project) == ["beta"]


@pytest.mark.parametrize(
    "change",
    [{"mode": "full"}, {"device_kind": "cuda"}],
    ids=["mode", "device"],
)
def test_mode_and_device_are_part_of_the_key(project, change):
    run_all(make_executor(project))
    executed(project)
    run_all(make_executor(project, **change))
    assert executed(project) == ["alpha", "beta", "gamma"]
    run_all(make_executor(project))  # the earlier entries are kept: switching back is free
    assert executed(project) == []


def test_library_versions_are_part_of_the_key(project, monkeypatch):
    run_all(make_executor(project))
    executed(project)
    real = chapters_module._package_version
    monkeypatch.setattr(chapters_module, "_package_version", lambda n: "9.9" if n == "torch" else real(n))
    run_all(make_executor(project))
    assert executed(project) == ["alpha", "beta", "gamma"]


def test_a_failing_chapter_keeps_the_previous_outputs(project):
    executor = make_executor(project)
    good = executor.run(next(c for c in discover(project / "code") if c.name == "alpha"))
    before = sorted(p.name for p in good.entry.iterdir())
    write_chapter(project / "code", "alpha", imports="import kit_helper", body="raise RuntimeError('boom 42')")
    alpha = next(c for c in discover(project / "code") if c.name == "alpha")
    with pytest.raises(ChapterFailed) as failure:
        executor.run(alpha)
    assert failure.value.chapter == "alpha"
    assert "RuntimeError: boom 42" in failure.value.tail
    assert "Traceback" in failure.value.tail
    assert sorted(p.name for p in good.entry.iterdir()) == before
    assert sorted(p.name for p in (project / "cache" / "alpha").iterdir() if p.name != ".lock") == [good.entry.name]
    assert leftovers(project) == []


def test_a_chapter_without_results_fails(project):
    write_chapter(project / "code", "alpha", body="sys.exit(0)")
    alpha = next(c for c in discover(project / "code") if c.name == "alpha")
    with pytest.raises(ChapterFailed, match=RESULTS):
        make_executor(project).run(alpha)
    assert leftovers(project) == []


def test_a_chapter_past_its_timeout_is_stopped(project):
    write_chapter(project / "code", "alpha", body="time.sleep(60)")
    alpha = next(c for c in discover(project / "code") if c.name == "alpha")
    started = time.perf_counter()
    with pytest.raises(ChapterFailed, match="时限"):
        make_executor(project, timeout=1.0).run(alpha)
    assert time.perf_counter() - started < 20
    assert not (project / "cache" / "alpha").exists() or not any(
        p for p in (project / "cache" / "alpha").iterdir() if not p.name.startswith(".")
    )
    assert leftovers(project) == []


RUN_ONE = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bookbuild.chapters import discover
from bookbuild.runner import Executor
root = Path({project!r})
executor = Executor(root=root, cache_dir=root / "cache", data_root=root / "data", mode="quick", device_kind="cpu")
executor.run(next(c for c in discover(root / "code") if c.name == "alpha"))
"""


def wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def gone(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode != 0


def ctrl_c_reaches():
    """The build these tests stop is a build a reader runs in a terminal, where Ctrl-C reaches it:
    a test suite started in the background of a shell without job control inherits SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["killed", "interrupted", "terminated"]
)
def test_a_build_stopped_midway_leaves_no_entry_and_the_next_recovers(project, how):
    # the chapter starts a worker of its own, as a DataLoader or multiprocessing would
    body = 'import subprocess; subprocess.Popen(["sleep", "4242"]); time.sleep(60)'
    write_chapter(project / "code", "alpha", imports="import kit_helper", body=body)
    script = RUN_ONE.format(root=str(ROOT), project=str(project))
    build = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, preexec_fn=ctrl_c_reaches)
    assert wait_for(lambda: list((project / "cache").rglob(".tmp-*/partial.txt"))), "the chapter never started"
    build.send_signal(how)
    build.wait(timeout=30)
    assert build.returncode != 0
    # The chapter and its worker die with the build that started it, and nothing became an entry.
    assert wait_for(lambda: gone("alpha.py")), "the chapter outlived its build"
    assert wait_for(lambda: gone("sleep 4242")), "the chapter's worker outlived the build"
    entries = [p for p in (project / "cache" / "alpha").iterdir() if not p.name.startswith(".")]
    assert entries == []
    if how != signal.SIGKILL:
        assert leftovers(project) == []  # an interrupt or a termination cleans up after itself

    write_chapter(project / "code", "alpha", imports="import kit_helper")
    outcome = make_executor(project).run(next(c for c in discover(project / "code") if c.name == "alpha"))
    assert not outcome.cache_hit and (outcome.entry / "figure.png").is_file()
    assert leftovers(project) == []  # the dead build's temporary folder is gone too


def test_a_syntax_error_is_reported_with_the_file(project):
    (project / "code" / "broken.py").write_text("def main(:\n")
    with pytest.raises(ChapterError, match="broken.py"):
        discover(project / "code")


def test_deciding_what_to_run_never_imports_torch():
    probe = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from bookbuild.chapters import cache_key, discover
code = Path({str(CODE)!r})
for chapter in discover(code):
    cache_key(chapter, code_dir=code, data_root=Path("data"), device_kind="cpu", mode="full")
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_results_are_loaded_from_the_entry(project):
    outcome = make_executor(project).run(next(c for c in discover(project / "code") if c.name == "beta"))
    assert outcome.results["results"] == {"value": 1}
    assert [p.name for p in outcome.output_files()] == ["figure.png", "partial.txt", "results.json"]
    info = json.loads((outcome.entry / "run.json").read_text())
    assert info["wall_time_s"] > 0 and info["peak_rss_bytes"] > 0
    assert os.path.basename(outcome.entry) == info["key"]


def test_chapters_run_side_by_side_with_the_same_results(project):
    serial = [o.results for o in make_executor(project).run_all(discover(project / "code"))]
    executed(project)
    shutil.rmtree(project / "cache")
    parallel = make_executor(project, jobs=2).run_all(discover(project / "code"))
    assert [o.chapter.name for o in parallel] == ["alpha", "beta", "gamma"]
    assert [o.results for o in parallel] == serial
    assert executed(project) == ["alpha", "beta", "gamma"]


def test_a_failure_side_by_side_names_its_chapter_and_keeps_the_others(project):
    write_chapter(project / "code", "beta", body="raise ValueError('bad beta')")
    with pytest.raises(ChapterFailed) as failure:
        make_executor(project, jobs=2).run_all(discover(project / "code"))
    assert failure.value.chapter == "beta" and "bad beta" in failure.value.tail
    assert executed(project) == ["alpha", "beta", "gamma"]
    write_chapter(project / "code", "beta", data_files=["set/raw.bin"])  # fixed
    hits = run_all(make_executor(project, jobs=2))  # alpha and gamma were cached; beta was not
    assert hits == {"alpha": True, "beta": False, "gamma": True}
    assert leftovers(project) == []


RUN_ALL = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bookbuild.chapters import discover
from bookbuild.runner import Executor
root = Path({project!r})
executor = Executor(root=root, cache_dir=root / "cache", data_root=root / "data", mode="quick",
                    device_kind="cpu", jobs=2)
executor.run_all(discover(root / "code"))
"""


def test_interrupting_side_by_side_runs_stops_every_chapter(project):
    for name in ("alpha", "beta"):
        write_chapter(project / "code", name, body="time.sleep(60)")
    build = subprocess.Popen([sys.executable, "-c", RUN_ALL.format(root=str(ROOT), project=str(project))],
                             preexec_fn=ctrl_c_reaches)
    assert wait_for(lambda: len(list((project / "cache").rglob(".tmp-*/partial.txt"))) == 2)
    build.send_signal(signal.SIGINT)
    build.wait(timeout=30)
    assert build.returncode != 0
    assert wait_for(
        lambda: subprocess.run(["pgrep", "-f", "sleep\\(60\\)|alpha.py|beta.py"], capture_output=True).returncode != 0
    )
    assert [p for p in (project / "cache").glob("*/*") if not p.name.startswith(".")] == []
    assert leftovers(project) == []


def test_a_killed_chapter_takes_its_workers_with_it(project):
    body = 'import subprocess; subprocess.Popen(["sleep", "4343"]); os.kill(os.getpid(), 9)'
    write_chapter(project / "code", "alpha", body=body)
    with pytest.raises(ChapterFailed):
        make_executor(project).run(next(c for c in discover(project / "code") if c.name == "alpha"))
    assert wait_for(lambda: gone("sleep 4343"))
    assert leftovers(project) == []


def chapter_named(project, name):
    return next(c for c in discover(project / "code") if c.name == name)


def test_a_file_the_chapter_reads_is_an_input(project):
    (project / "code" / "settings.json").write_text('{"scale": 1}')
    write_chapter(project / "code", "alpha", body='json.loads((Path(__file__).parent / "settings.json").read_text())')
    run_all(make_executor(project))
    executed(project)
    settings = project / "code" / "settings.json"
    settings.write_text('{"scale": 1}')  # touched, same content: still fresh
    assert run_all(make_executor(project))["alpha"] is True
    settings.write_text('{"scale": 2}')
    assert make_executor(project).is_fresh(chapter_named(project, "alpha")) is False
    run_all(make_executor(project))
    assert executed(project) == ["alpha"]


def test_a_module_imported_by_name_is_an_input(project):
    (project / "code" / "found_late.py").write_text("SCALE = 1\n")
    write_chapter(project / "code", "alpha", body='import importlib; importlib.import_module("found_" + "late")')
    run_all(make_executor(project))
    executed(project)
    (project / "code" / "found_late.py").write_text("SCALE = 22\n")
    run_all(make_executor(project))
    assert executed(project) == ["alpha"]


def test_undeclared_data_the_chapter_reads_is_an_input(project):
    (project / "data" / "set" / "extra.bin").write_bytes(b"\x01")
    write_chapter(project / "code", "alpha", body='(Path(os.environ["PTNOTES_DATA"]) / "set" / "extra.bin").read_bytes()')
    run_all(make_executor(project))
    executed(project)
    (project / "data" / "set" / "extra.bin").write_bytes(b"\x02")  # same size, new content
    run_all(make_executor(project))
    assert executed(project) == ["alpha"]


def test_an_imported_distributions_version_is_an_input(project, monkeypatch):
    write_chapter(project / "code", "alpha", imports="import yaml")
    executor = make_executor(project)
    run_all(executor)
    executed(project)
    record = json.loads(next((project / "cache" / "alpha").glob("*/inputs.json")).read_text())
    assert "PyYAML" in record["distributions"]
    executor = make_executor(project)
    monkeypatch.setattr(executor, "installed", lambda: {**executor_installed(), "pyyaml": "0.0"})
    assert run_all(executor) == {"alpha": False, "beta": True, "gamma": True}


def executor_installed():
    from bookbuild.inputs import installed_distributions

    return installed_distributions()


def test_an_input_edited_during_the_run_is_not_stored_under_the_old_inputs(project):
    data = project / "data" / "set" / "raw.bin"
    body = "(Path(os.environ['PTNOTES_DATA']) / 'set' / 'raw.bin').read_bytes(); time.sleep(1.5)"
    write_chapter(project / "code", "beta", data_files=["set/raw.bin"], body=body)

    def edit_midway():
        assert wait_for(lambda: list((project / "cache").rglob(".tmp-*/partial.txt")))
        time.sleep(0.3)
        data.write_bytes(b"\x07\x07\x07")

    editor = threading.Thread(target=edit_midway)
    editor.start()
    outcome = make_executor(project).run(chapter_named(project, "beta"))
    editor.join()
    assert executed(project) == ["beta", "beta"]  # the first run read the old data: run again
    record = json.loads((outcome.entry / "inputs.json").read_text())
    assert record["files"]["data:set/raw.bin"]["size"] == 3
    assert make_executor(project).is_fresh(chapter_named(project, "beta"))


def test_a_chapter_that_keeps_changing_its_input_fails_clearly(project):
    body = "p = Path(os.environ['PTNOTES_DATA']) / 'set' / 'raw.bin'; p.read_bytes(); p.write_bytes(os.urandom(4))"
    write_chapter(project / "code", "beta", data_files=["set/raw.bin"], body=body)
    with pytest.raises(ChapterFailed, match="运行期间输入"):
        make_executor(project).run(chapter_named(project, "beta"))
    assert [p for p in (project / "cache" / "beta").iterdir() if not p.name.startswith(".")] == []


def test_threads_are_part_of_the_key_and_set_for_every_chapter(project):
    write_chapter(project / "code", "alpha", value='int(os.environ["OMP_NUM_THREADS"])')
    one = make_executor(project, threads=1).run(chapter_named(project, "alpha"))
    two = make_executor(project, threads=2).run(chapter_named(project, "alpha"))
    assert not two.cache_hit and one.entry != two.entry
    assert (one.results["results"]["value"], two.results["results"]["value"]) == (1, 2)


def test_two_builds_at_once_run_a_chapter_once(project):
    write_chapter(project / "code", "alpha", body="time.sleep(1)")
    alpha = chapter_named(project, "alpha")
    outcomes = []
    builds = [threading.Thread(target=lambda: outcomes.append(make_executor(project).run(alpha))) for _ in range(2)]
    for build in builds:
        build.start()
    for build in builds:
        build.join()
    assert executed(project) == ["alpha"]
    assert sorted(o.cache_hit for o in outcomes) == [False, True]


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"threads": 3}, {"gpu_model": "NVIDIA H200"}, {"arguments": ["--device", "auto", "--quick"]}],
    ids=["seed", "threads", "gpu-model", "command-line"],
)
def test_seed_threads_gpu_model_and_command_line_are_part_of_the_key(project, change):
    from bookbuild.chapters import cache_key

    chapter = chapter_named(project, "alpha")
    base = {"code_dir": project / "code", "data_root": project / "data", "device_kind": "cpu", "mode": "quick"}
    assert cache_key(chapter, **base) != cache_key(chapter, **base, **change)
