#!/usr/bin/env bash
# Creates the virtualenv and installs the project into it, every extra (`.[dev]`) at the versions
# requirements.lock pins. Called by `make setup`, which runs it only when pyproject.toml, the lock
# or these scripts changed since the last successful run (a stamp file).
#
#   VENV=.venv  PYTHON=python3
#   TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"   (optional, e.g. to avoid
#       the large CUDA build on a machine without a local torch wheel)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
# Pinned on purpose: a looser spec pulls GBs of CUDA packages; never loosen it.
TORCH_SPEC="torch==2.13.0"

scripts/install_system_deps.sh

if [[ ! -x "$VENV/bin/python" ]]; then
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "setup: $PYTHON is missing or older than 3.11; set PYTHON=/path/to/python3.11 and retry" >&2
        exit 1
    fi
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# torch first, alone, so nothing else can pull a different build of it.
# shellcheck disable=SC2086  # TORCH_PIP_ARGS is a list of words on purpose
"${PIP[@]}" install -q $TORCH_SPEC ${TORCH_PIP_ARGS:-}
# Then the project and every extra, each package at its locked version: the lock is a constraints
# file, so it pins without adding anything (tests/unit/test_dependencies.py keeps it covering
# every requirement of pyproject.toml). The torch pin there, ==2.13.0, accepts the build above.
"${PIP[@]}" install -q -c requirements.lock -e '.[dev]'
echo "setup: $VENV is ready"
