#!/usr/bin/env bash
# The GPU path, proved in one command on a machine with an NVIDIA GPU (about 5 minutes on one
# modern GPU):
#   1. the whole book in full mode on the GPU, every claim checked against the pages
#      (python -m bookbuild run), then `mkdocs build` over that cache when MkDocs is installed;
#   2. the same book on the CPU of the same machine, for the CPU <-> CUDA comparison;
#   3. scripts/bench_mnist.py on the GPU (the notes' DataLoader loop vs the chapter's loop);
#   4. one report: GPU, times, claims held on each device, differences of the key numbers.
#
#   bash scripts/gpu_check.sh              # after `bash scripts/dev.sh build` made .venv/
#   PYTHON=python3 bash scripts/gpu_check.sh
#
# The MNIST files must be in data/MNIST/raw/ (or PTNOTES_DATA) unless the machine can download them.
# Everything it writes goes under .cache/gpu-check/ (GPU_CHECK_DIR); the report is report.txt there.
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
WORK=${GPU_CHECK_DIR:-.cache/gpu-check}
CPUS=$(nproc)

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: $PY sees no CUDA GPU (torch.cuda.is_available() is False); run it on a machine with one" >&2
  exit 2
fi

rm -rf "$WORK"
mkdir -p "$WORK"
export PTNOTES_MODE=full PYTHONUNBUFFERED=1 NO_MKDOCS_2_WARNING=1

timed() { # timed NAME COMMAND...: runs it, logs to $WORK/NAME.log, records seconds and status
  local name=$1 started status
  shift
  started=$(date +%s%N)
  "$@" >"$WORK/$name.log" 2>&1
  status=$?
  echo "$name $status $((($(date +%s%N) - started) / 1000000))" >>"$WORK/times.txt" # milliseconds
  echo "gpu_check: $name finished with status $status" >&2
}

echo "gpu_check: book on the GPU ..." >&2
timed cuda env PTNOTES_CACHE="$WORK/cuda" PTNOTES_JOBS=4 "$PY" -m bookbuild run
if "$PY" -c 'import mkdocs, material' 2>/dev/null && [ -f node_modules/mathjax/es5/tex-chtml.js ]; then
  timed site env PTNOTES_CACHE="$WORK/cuda" "$PY" -m mkdocs build --strict -d "$WORK/site"
fi
echo "gpu_check: book on the CPU, $CPUS cores ..." >&2
timed cpu env CUDA_VISIBLE_DEVICES= PTNOTES_CACHE="$WORK/cpu" PTNOTES_JOBS=$(((CPUS + 1) / 2)) "$PY" -m bookbuild run
echo "gpu_check: MNIST benchmark on the GPU ..." >&2
timed bench "$PY" scripts/bench_mnist.py --device cuda --repeat 3

"$PY" scripts/gpu_report.py "$WORK" | tee "$WORK/report.txt"
