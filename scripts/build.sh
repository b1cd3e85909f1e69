#!/usr/bin/env bash
# Configures and builds into ./build (Ninja, ccache). Extra args go to cmake,
# e.g. scripts/build.sh -DSA_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SA_BUILD_DIR:-build}
# BASEDIR + NOHASHDIR: a clone in another directory (CI's fresh checkout) reuses
# the cache; -g builds would otherwise hash the working directory.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} \
       CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${SA_BUILD_TYPE:-RelWithDebInfo} "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
