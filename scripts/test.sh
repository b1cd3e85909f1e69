#!/usr/bin/env bash
# The test command: install dependencies, build, run every test (unit,
# integration against real nats-server and PostgreSQL, end-to-end, deploy checks).
# Extra args go to ctest, e.g. scripts/test.sh -L unit   or   -R bus
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir "${SA_BUILD_DIR:-build}" --output-on-failure --timeout 900 -j 2 "$@"
