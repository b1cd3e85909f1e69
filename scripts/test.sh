#!/usr/bin/env bash
# The test command: install dependencies, build, run every test (unit,
# integration against real nats-server and PostgreSQL, end-to-end, deploy checks).
# Extra args go to ctest, e.g. scripts/test.sh -L unit   or   -R bus;
# scripts/test.sh -L soak runs the long kill-anywhere soak (left out otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# The soak runs (hundreds of kill points) only when asked for: -L soak.
labels=(-LE soak)
for a in "$@"; do case "$a" in -L|-LE|--label-regex|--label-exclude|-L*|-LE*) labels=() ;; esac; done
ctest --test-dir "${SA_BUILD_DIR:-build}" --output-on-failure --timeout 900 -j 2 "${labels[@]}" "$@"
