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


# the commits of the tags these pins name, read from the actions' own repositories (see
# ../shared/notes/stack.md); Dependabot proposes new pins with their comments
VERIFIED_PINS = {
    ("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1"): "v7.0.1",
    ("actions/setup-python", "5fda3b95a4ea91299a34e894583c3862153e4b97"): "v7.0.0",
    ("actions/cache", "27d5ce7f107fe9357f9df03efb73ab90386fccae"): "v5.0.5",
    ("actions/upload-artifact", "330a01c490aca151604b8cf639adc76d48f6c5d4"): "v5.0.0",
    ("actions/download-artifact", "634f93cb2916e3fdff6788551b99b062d0335ce0"): "v5.0.0",
    ("actions/configure-pages", "983d7736d9b0ae728b81ab479565c72886d7745b"): "v5.0.0",
    ("actions/upload-pages-artifact", "fc324d3547104276b827a68afc52ff2a11cc49c9"): "v5.0.0",
    ("actions/deploy-pages", "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128"): "v5.0.0",
}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_githubs_own_and_pinned_by_commit(path):
    uses = re.findall(r"uses:\s*(.+)", path.read_text("utf-8"))
    assert uses
    for line in uses:
        match = re.fullmatch(r"(actions/[\w-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)", line.strip())
        assert match, f"{path.name}: {line} is third-party or not pinned by commit with its tag in a comment"
        action, commit, tag = match.groups()
        assert VERIFIED_PINS.get((action, commit)) == tag, f"{path.name}: {action}@{commit} is not {tag}"


def test_dependabot_keeps_the_pins_current():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text("utf-8"))
    assert {"package-ecosystem": "github-actions", "directory": "/"}.items() <= config["updates"][0].items()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_script_but_safe_ones(path):
    """``${{ ... }}`` inside ``run:`` is pasted into the script before it runs: a token or an
    input there is injectable or leaks. Only the matrix shard and booleans are allowed."""
    for job in load(path)["jobs"].values():
        for step in job.get("steps", []):
            for expression in re.findall(r"\$\{\{(.*?)\}\}", str(step.get("run", ""))):
                assert "token" not in expression and "secrets" not in expression, expression
                assert expression.strip() in (
                    "matrix.shard",
                    "vars.GPU_RUNNER == 'true' || inputs.gpu == true",
                ), f"{path.name}: {expression}"


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


def cache_keys(job: dict) -> dict[str, str]:
    return {
        step["with"]["path"]: step["with"]["key"]
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/cache@")
    }


def test_pip_mnist_and_chapter_caches_are_kept_between_runs():
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text("utf-8")
    assert "cache: pip" in text
    jobs = load(ROOT / ".github" / "workflows" / "pages.yml")["jobs"]
    for name in ("chapters", "build-gpu"):  # the GPU build keeps its MNIST files and chapters too
        # the whole folder: the MNIST chapters' entries record the extracted files they read, and a build
        # that found only the .gz files would run those chapters again
        assert {"data/MNIST/raw", ".cache/chapters"} <= set(cache_keys(jobs[name])), name
    assert "data/MNIST/raw" in cache_keys(jobs["build-cpu"])


def test_each_shard_saves_its_own_chapter_cache():
    jobs = load(ROOT / ".github" / "workflows" / "pages.yml")["jobs"]
    key = cache_keys(jobs["chapters"])[".cache/chapters"]
    # two shards saving one key: the second save is dropped, and its chapters run again next time
    assert "steps.name.outputs.slug" in key or "matrix.shard" in key
    assert cache_keys(jobs["build-gpu"])[".cache/chapters"].startswith("chapters-gpu-")


def test_the_gpu_job_starts_from_a_clean_state_it_verifies():
    steps = load(ROOT / ".github" / "workflows" / "pages.yml")["jobs"]["build-gpu"]["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    script = steps[1]["run"]
    assert "git clean -ffdx" in script and "git status --porcelain --ignored" in script
