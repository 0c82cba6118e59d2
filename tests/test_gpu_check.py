"""scripts/gpu_check.sh refuses a machine without CUDA in one line, and its report compares the
book's two runs (GPU and CPU) claim by claim and number by number."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_gpu_check_refuses_a_machine_without_cuda(tmp_path):
    result = subprocess.run(
        ["bash", "scripts/gpu_check.sh"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "GPU_CHECK_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "CUDA" in result.stderr


def write_entry(cache: Path, chapter: str, device: str, results: dict, claims: dict, wall: float):
    entry = cache / chapter / "key"
    entry.mkdir(parents=True)
    meta = {"device": device, "device_name": "NVIDIA H200" if device == "cuda" else "CPU", "torch": "2.14.1",
            "python": "3.11.7"}
    (entry / "results.json").write_text(json.dumps({"results": results, "claims": claims, "meta": meta}))
    (entry / "run.json").write_text(json.dumps({"wall_time_s": wall}))


def test_report_compares_claims_and_numbers(tmp_path):
    holds, fails = {"holds": True, "check": "0.99 ≥ 0.9"}, {"holds": False, "check": "0.5 ≥ 0.9"}
    write_entry(tmp_path / "cuda", "mnist", "cuda", {"accuracy": 0.99, "curve": [1.0, 0.5]}, {"good": holds}, 3.0)
    write_entry(tmp_path / "cpu", "mnist", "cpu", {"accuracy": 0.98, "curve": [1.0, 0.5]}, {"good": fails}, 30.0)
    (tmp_path / "times.txt").write_text("cuda 0 61000\ncpu 1 90500\n")
    (tmp_path / "bench.log").write_text("round 1 ...\n\nOne epoch of the notes' CNN on cuda\nspeed-up: 9.00×\n")
    result = subprocess.run(
        [sys.executable, "scripts/gpu_report.py", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "GPU：NVIDIA H200" in text
    assert "全书，GPU" in text and "61.0 s" in text and "失败（1）" in text
    assert "结论核对：GPU 成立 1 / 1，CPU 成立 0 / 1" in text
    assert "mnist.good" in text and "0.5 ≥ 0.9" in text
    assert "3 个数字中 2 个完全相同" in text and "mnist.accuracy" in text
    assert "speed-up: 9.00×" in text
