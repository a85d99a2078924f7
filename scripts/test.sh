#!/usr/bin/env bash
# Installs everything the tests need (see scripts/setup.sh) and runs the whole suite.
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not integration"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# Lint first: it takes a second and names the file and line.
.venv/bin/ruff check captioner bench tests scripts
export PYTHONASYNCIODEBUG=1
exec .venv/bin/python -m pytest "$@"
