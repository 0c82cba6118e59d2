"""The report of scripts/gpu_check.sh: what the book did on the GPU and on the CPU of one machine.

    python scripts/gpu_report.py .cache/gpu-check

Reads the folder gpu_check.sh filled (times.txt, the two chapter caches cuda/ and cpu/, the logs)
and prints: the GPU, each step's time and status, each chapter's run time on both devices, the
claims held on each device (and any that differ), the numbers that differ most between CPU and
CUDA, and the MNIST benchmark's summary.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

STEPS = {"cuda": "全书，GPU", "site": "mkdocs build（GPU 的缓存）", "cpu": "全书，CPU", "bench": "MNIST 基准，GPU"}
LARGEST = 15  # how many of the largest CPU <-> CUDA differences to list


def load_book(cache: Path) -> dict[str, dict]:
    """chapter -> {"results", "claims", "meta", "run"} of its one entry in a fresh cache."""
    book = {}
    for results_file in sorted(cache.glob("*/*/results.json")):
        entry = results_file.parent
        document = json.loads(results_file.read_text("utf-8"))
        document["run"] = json.loads((entry / "run.json").read_text("utf-8"))
        book[entry.parent.name] = document
    return book


def scalars(results: dict, prefix: str = "") -> dict[str, float]:
    """Every number in a chapter's results, flattened to dotted keys (lists of numbers too)."""
    found = {}
    for key, value in results.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            found[name] = float(value)
        elif isinstance(value, dict):
            found.update(scalars(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
            found.update({f"{name}.{i}": float(v) for i, v in enumerate(value)})
    return found


def relative_difference(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def report(work: Path) -> str:
    lines = []
    cuda, cpu = load_book(work / "cuda"), load_book(work / "cpu")
    if cuda:
        meta = next(iter(cuda.values()))["meta"]
        lines.append(f"GPU：{meta['device_name']}（PyTorch {meta['torch']}，Python {meta['python']}）")
    lines.append("")
    lines.append("步骤                          状态      用时")
    for line in (work / "times.txt").read_text().splitlines():
        name, status, millis = line.split()
        verdict = "通过" if status == "0" else f"失败（{status}）"
        lines.append(f"{STEPS.get(name, name):<28}{verdict:<10}{int(millis) / 1000:7.1f} s")

    lines += ["", f"{'章节':<22}{'GPU 用时':>10}{'CPU 用时':>10}   GPU 结论   CPU 结论"]
    claims_differ = []
    held = {"cuda": [0, 0], "cpu": [0, 0]}
    for chapter in sorted(set(cuda) | set(cpu)):
        cells = []
        for device, book in (("cuda", cuda), ("cpu", cpu)):
            claims = book.get(chapter, {}).get("claims", {})
            good = sum(c["holds"] for c in claims.values())
            held[device][0] += good
            held[device][1] += len(claims)
            cells.append(f"{good}/{len(claims)}")
        times = [f"{b[chapter]['run']['wall_time_s']:.1f} s" if chapter in b else "—" for b in (cuda, cpu)]
        lines.append(f"{chapter:<22}{times[0]:>10}{times[1]:>10}   {cells[0]:<10} {cells[1]}")
        for name in sorted(set(cuda.get(chapter, {}).get("claims", {})) | set(cpu.get(chapter, {}).get("claims", {}))):
            on = {d: b.get(chapter, {}).get("claims", {}).get(name) for d, b in (("GPU", cuda), ("CPU", cpu))}
            if any(c is None or not c["holds"] for c in on.values()):
                text = "；".join(f"{d}：{c['check'] if c else '未记录'}" for d, c in on.items())
                claims_differ.append(f"  {chapter}.{name}  {text}")
    lines.append(f"结论核对：GPU 成立 {held['cuda'][0]} / {held['cuda'][1]}，CPU 成立 {held['cpu'][0]} / {held['cpu'][1]}")
    if claims_differ:
        lines += ["不成立的结论：", *claims_differ]

    differences = []
    for chapter in sorted(set(cuda) & set(cpu)):
        on_cuda, on_cpu = scalars(cuda[chapter]["results"]), scalars(cpu[chapter]["results"])
        for key in set(on_cuda) & set(on_cpu):
            a, b = on_cpu[key], on_cuda[key]
            if math.isfinite(a) and math.isfinite(b):
                differences.append((relative_difference(a, b), f"{chapter}.{key}", a, b))
    differences.sort(reverse=True)
    same = sum(d[0] == 0 for d in differences)
    lines += ["", f"CPU ↔ CUDA：{len(differences)} 个数字中 {same} 个完全相同；相对差别最大的 {LARGEST} 个："]
    lines += [f"  {name:<48} CPU {a:<12.6g} CUDA {b:<12.6g} 相对差 {rel:.2%}" for rel, name, a, b in differences[:LARGEST]]

    bench = work / "bench.log"
    if bench.is_file():
        tail = bench.read_text("utf-8").split("\nOne epoch", 1)
        lines += ["", "MNIST 基准：", ("One epoch" + tail[1]).strip() if len(tail) == 2 else bench.read_text()[-2000:]]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "times.txt").is_file():
        sys.exit("usage: python scripts/gpu_report.py FOLDER   (the folder scripts/gpu_check.sh filled)")
    print(report(Path(sys.argv[1])))
