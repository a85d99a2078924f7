#!/usr/bin/env bash
# Refreshes the locked installs that scripts/setup.sh installs from:
#   requirements/test.lock   captioner + its test tools (scripts/test.sh, CI)
#   requirements/run.lock    captioner alone (scripts/run.sh), the same versions
# Exact versions with sha256 hashes of every file PyPI has for them, one resolution for
# every platform and Python from 3.11 on (uv's universal mode, fewest versions).
#   scripts/lock.sh                           re-resolve, keeping every pin that still fits
#   scripts/lock.sh --upgrade                 newest versions pyproject.toml allows
#   scripts/lock.sh --upgrade-package numpy   one package newer, the rest kept
# Then run scripts/test.sh, and commit pyproject.toml and requirements/ together.
set -euo pipefail
cd "$(dirname "$0")/.."

uv_version=0.13.9
tool=.cache/lock-tool
if [[ "$("$tool/bin/uv" --version 2>/dev/null)" != "uv $uv_version"* ]]; then
  echo "lock: installing uv $uv_version into $tool" >&2
  rm -rf "$tool"
  "${PYTHON:-python3}" -m venv "$tool"
  "$tool/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version"
fi

common=(--universal --fork-strategy fewest --python-version 3.11 --generate-hashes
        --no-header --quiet)
export UV_CUSTOM_COMPILE_COMMAND="scripts/lock.sh"
"$tool/bin/uv" pip compile pyproject.toml requirements/build.in --extra test \
  "${common[@]}" -o requirements/test.lock "$@"
# The run lock is the test lock less the test tools: constrained by it, never newer.
"$tool/bin/uv" pip compile pyproject.toml requirements/build.in \
  -c requirements/test.lock "${common[@]}" -o requirements/run.lock
echo "lock: wrote requirements/test.lock and requirements/run.lock" >&2
