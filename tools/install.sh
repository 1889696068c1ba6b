#!/usr/bin/env bash
# Install femvalley and everything it needs on a fresh Debian/Ubuntu machine (Python >= 3.10).
#   - system libraries the gmsh wheel loads (headless meshing), only when missing;
#   - SuiteSparse headers and OpenBLAS, to build the CHOLMOD backend (scikit-sparse);
#   - python3-venv where the venv module or ensurepip is missing;
#   - femvalley itself in editable mode with the test, dev and cholmod extras, in the virtual
#     environment .venv of the repository (Debian and Ubuntu refuse pip installs into their
#     own Python, PEP 668). Run inside an activated virtual environment, it installs there.
# Usage: bash tools/install.sh        then .venv/bin/femvalley ..., .venv/bin/python -m pytest
#        (or: source .venv/bin/activate)
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

SYSTEM_PACKAGES="libglu1-mesa libgl1 libxcursor1 libxft2 libxinerama1 libgomp1 \
libsuitesparse-dev libopenblas0-pthread"
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    SYSTEM_PACKAGES="$SYSTEM_PACKAGES python3-venv"
fi
missing=""
if command -v dpkg >/dev/null 2>&1; then
    for pkg in $SYSTEM_PACKAGES; do
        if ! dpkg -s "$pkg" >/dev/null 2>&1; then
            missing="$missing $pkg"
        fi
    done
fi
if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

if python3 -c "import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)"; then
    PY=python3  # already inside a virtual environment: install there
else
    if [ ! -x .venv/bin/python ]; then
        echo "creating the virtual environment .venv (with $(python3 --version))"
        python3 -m venv .venv
    fi
    PY=.venv/bin/python
fi
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test,dev,cholmod]"
"$PY" -c "import femvalley.eigen as e; print('femvalley installed in', __import__('sys').prefix, '; eigensolver backends:', ', '.join(e.available_backends()))"
