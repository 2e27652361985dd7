#!/bin/sh
# Install Debian's OpenFOAM (v1912 on Debian 11/12: blockMesh, topoSet, subsetMesh,
# buoyantBoussinesqSimpleFoam, postProcess). Needs root. Never part of `make test`.
#
# After installing, source the environment before running OpenFOAM tools:
#     . validation/openfoam/env.sh
# (it sources /usr/share/openfoam/etc/bashrc, the file Debian's `openfoam` package ships).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends openfoam
. "$(dirname "$0")/env.sh"
echo "OpenFOAM installed: WM_PROJECT_VERSION=${WM_PROJECT_VERSION:-?}"
command -v buoyantBoussinesqSimpleFoam
