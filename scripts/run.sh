#!/usr/bin/env bash
# Installs captioner (see scripts/setup.sh) and starts the main job.
# Extra arguments go to `captioner run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/captioner run "$@"
