#!/usr/bin/env bash
# The main command: install dependencies, build, and run the whole stack on
# this machine (its own nats-server and PostgreSQL, all seven services).
# Extra args go to `stream-admin local` (see --help), e.g. --once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh >/dev/null
exec "${SA_BUILD_DIR:-build}/bin/stream-admin" local "$@"
