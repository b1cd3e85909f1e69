#!/usr/bin/env bash
# Installs every package Stream-Admin needs to build, test and run locally,
# from Debian bookworm's repositories. Idempotent; needs root (or sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # schemas and RPC
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libabsl-dev
  # messaging, databases
  nats-server libnats-dev librdkafka-dev libpq-dev postgresql-15 postgresql-client-15
  # libraries
  libspdlog-dev libfmt-dev libsimdjson-dev libboost-dev libboost-system-dev libssl-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libsodium-dev libzstd-dev zstd libcpp-httplib-dev
  libjemalloc-dev libre2-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzz targets (-DSA_FUZZ=ON, clang's libFuzzer runtime)
  clang libclang-rt-14-dev
  # independent oracles used by tests (Debian's python, not the pyenv one on PATH)
  python3 python3-grpcio python3-protobuf python3-prometheus-client python3-yaml python3-sklearn
  # alert rules and dashboards against a real Prometheus (prometheus, promtool)
  prometheus
  # stream-admin monitor tested full-screen under a real terminal multiplexer (cli_e2e_test)
  tmux
  # deploy checks (Helm comes from npm)
  unzip curl ca-certificates openssl
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
