#!/usr/bin/env bash
# The sanitizer stage of CI: one clang build with AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer (-DSA_SANITIZE=ON) and
# libFuzzer's coverage (-DSA_FUZZ=ON) into ./build-asan, which serves both
#   1. every unit test (ctest -L unit), under the sanitizers, and
#   2. every fuzz target (build-asan/fuzz/*_fuzz), each run for
#      SA_FUZZ_SECONDS (default 20) from its committed corpus (fuzz/corpus/<t>);
#      new inputs go to a scratch copy, a crash fails
#      the stage and leaves its input in build-asan/fuzz-findings/.
# scripts/sanitize.sh --no-fuzz runs only the unit tests; --build-only only
# builds (.ci/run overlaps that with the main test run); extra args go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${SA_ASAN_BUILD_DIR:-build-asan}
FUZZ_SECONDS=${SA_FUZZ_SECONDS:-20}
fuzz=1
build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-fuzz) fuzz=0; shift ;;
    --build-only) build_only=1; shift ;;
    *) break ;;
  esac
done

export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache} \
       CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# -O1 and line tables: sanitizer reports with file:line, at a fraction of -O2 -g's build time.
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Sanitize \
  -DCMAKE_C_FLAGS="-O1 -gline-tables-only" -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" \
  -DSA_SANITIZE=ON -DSA_FUZZ=ON -DSA_BUILD_BENCH=OFF >/dev/null
# Only what this stage runs: the unit tests and the fuzz executables.
mapfile -t unit_tests < <(ctest --test-dir "$BUILD_DIR" -N -L unit | sed -n 's/^ *Test *#[0-9]*: //p')
# One fuzzer per corpus folder (fuzz_corpus_test holds the two lists equal).
fuzzers=()
for d in fuzz/corpus/*/; do fuzzers+=("$(basename "$d")_fuzz"); done
# A unit test that is a script (e.g. wire_literals_test) has no target to build.
mapfile -t known < <(ninja -C "$BUILD_DIR" -t targets all | sed -n 's/^\([A-Za-z0-9_.-]*\): phony$/\1/p')
targets=()
for t in "${unit_tests[@]}"; do
  for k in "${known[@]}"; do
    if [ "$t" = "$k" ]; then targets+=("$t"); break; fi
  done
done
if [ $fuzz -eq 1 ]; then targets+=("${fuzzers[@]}"); fi
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${targets[@]}"
[ $build_only -eq 0 ] || exit 0

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 600 -j "$(nproc)" -L unit "$@"

[ $fuzz -eq 1 ] || exit 0
findings="$BUILD_DIR/fuzz-findings"
mkdir -p "$findings"
failed=()
for f in "${fuzzers[@]}"; do
  t=${f%_fuzz}
  seeds=fuzz/corpus/$t
  dict=(); [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  scratch=$(mktemp -d)
  echo "== fuzz $t for ${FUZZ_SECONDS}s"
  if ! "$BUILD_DIR/fuzz/$f" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
       -print_final_stats=1 "${dict[@]}" -artifact_prefix="$findings/$t-" "$scratch" "$seeds" 2>"$findings/$t.log"; then
    failed+=("$t")
    tail -n 60 "$findings/$t.log"
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|cov: [0-9]+' "$findings/$t.log" | tail -n 3 || true
  rm -rf "$scratch"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]} (inputs in $findings/)" >&2
  exit 1
fi
echo "fuzz: ${#fuzzers[@]} targets, ${FUZZ_SECONDS}s each, no crash"
