#!/usr/bin/env bash
# Installs everything the tests need on a fresh machine, then runs every test.
# This is the README's second command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

echo "== system packages (Chromium for the browser tests, curl for the download benchmark)"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! [ -x /usr/bin/chromium ] || ! command -v curl >/dev/null; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium curl >/dev/null
fi

echo "== python packages"
"$PYTHON" -m pip install -q --disable-pip-version-check -e ".[ui,test]"

echo "== lint"
"$PYTHON" -m ruff check .

echo "== gradio 3.41.2 and 4.40.0 (own virtual environments)"
"$PYTHON" tests/gradio_matrix.py

echo "== all tests (current gradio)"
"$PYTHON" -m pytest -q "$@"
