#!/usr/bin/env bash
# Install femvalley and everything it needs on a fresh Debian/Ubuntu machine (Python >= 3.10).
#   - system libraries the gmsh wheel loads (headless meshing), only when missing;
#   - SuiteSparse headers and OpenBLAS, to build the CHOLMOD backend (scikit-sparse);
#   - femvalley itself in editable mode with the test, dev and cholmod extras.
# Usage: bash tools/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

SYSTEM_PACKAGES="libglu1-mesa libgl1 libxcursor1 libxft2 libxinerama1 libgomp1 \
libsuitesparse-dev libopenblas0-pthread"
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

python3 -m pip install --quiet --disable-pip-version-check -e ".[test,dev,cholmod]"
python3 -c "import femvalley.eigen as e; print('femvalley installed; eigensolver backends:', ', '.join(e.available_backends()))"
