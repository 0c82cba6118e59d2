"""The GitHub workflows cannot run here: they are checked against GitHub's workflow schema
(vendored in check-jsonschema, no network) and against the project's own rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text("utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as True
    return document


def test_there_are_test_and_pages_workflows():
    assert {p.name for p in WORKFLOWS} == {"tests.yml", "pages.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_githubs_schema(path):
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_githubs_own_and_pinned(path):
    uses = re.findall(r"uses:\s*(\S+)", path.read_text("utf-8"))
    assert uses
    for action in uses:
        assert re.fullmatch(r"actions/[\w-]+@v\d+", action), f"{path.name}: {action} is third-party or unpinned"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_permissions(path):
    workflow = load(path)
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        extra = job.get("permissions")
        if extra is not None:
            allowed = {"deploy": {"pages": "write", "id-token": "write"}, "notebooks": {"contents": "write"}}
            assert extra == allowed.get(name), f"{path.name}: job {name} asks for {extra}"


def test_tests_run_on_every_push_and_pull_request():
    workflow = load(ROOT / ".github" / "workflows" / "tests.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    steps = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["test"]["steps"])
    assert "bash scripts/dev.sh test" in steps  # the README's test command


def test_pages_builds_on_cpu_or_a_gated_gpu_runner_and_deploys_the_gpu_build():
    workflow = load(ROOT / ".github" / "workflows" / "pages.yml")
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}  # never pull requests: no fork on our runner
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    gpu = jobs["build-gpu"]
    assert "self-hosted" in gpu["runs-on"]
    assert "needs.plan.outputs.gpu == 'true'" in gpu["if"] and "pull_request" in gpu["if"]
    assert "vars.GPU_RUNNER" in jobs["plan"]["steps"][0]["run"] and "inputs.gpu" in jobs["plan"]["steps"][0]["run"]
    assert jobs["chapters"]["if"] == "needs.plan.outputs.gpu != 'true'"
    assert "needs.build-gpu.result == 'success'" in jobs["deploy"]["if"]
    for name, job in jobs.items():
        if name != "deploy":
            assert not any("deploy-pages" in str(step.get("uses", "")) for step in job.get("steps", []))


def test_the_matrix_shards_use_the_executors_syntax():
    from bookbuild.__main__ import shard

    workflow = load(ROOT / ".github" / "workflows" / "pages.yml")
    shards = workflow["jobs"]["chapters"]["strategy"]["matrix"]["shard"]
    parsed = [shard(text) for text in shards]
    assert sorted(index for index, _ in parsed) == list(range(1, len(shards) + 1))
    assert {count for _, count in parsed} == {len(shards)}
    run = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["chapters"]["steps"])
    assert "python -m bookbuild run --shard ${{ matrix.shard }}" in run


def test_notebooks_are_published_where_colab_links_point():
    workflow = load(ROOT / ".github" / "workflows" / "pages.yml")
    assert workflow["env"]["PTNOTES_COLAB_REPO"] == "${{ github.repository }}"
    push = workflow["jobs"]["notebooks"]["steps"][-1]["run"]
    assert "HEAD:notebooks" in push  # the branch the chapter pages' Colab links name


def test_pip_mnist_and_chapter_caches_are_kept_between_runs():
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text("utf-8")
    assert "cache: pip" in text
    assert "path: data/MNIST/raw/*.gz" in text
    assert "path: .cache/chapters" in text
