#!/usr/bin/env bash
# Runs every benchmark of bench/ and prints one table: each figure beside the
# limit of the same work without our code, measured in the same run, and the
# ratio; the same as JSON (issue [13]; docs/PERFORMANCE.md leads with it).
#
#   scripts/bench.sh [--rounds N] [--quick] [--build-dir DIR] [--no-build]
#                    [--out FILE] [--only a,b,...]
#
#   --rounds N    medians of N rounds (default 3): the harness benchmarks run
#                 N rounds (or N times), Google Benchmark N repetitions.
#   --quick       small workloads, one round: a smoke run of a minute or two
#                 that checks the command and every row, not the figures.
#   --build-dir   default build (or $SA_BUILD_DIR); --no-build: use what is built.
#   --out FILE    the JSON (default <build-dir>/bench/results.json); the table
#                 in markdown beside it (results.md), each benchmark's own
#                 output and JSON in a directory beside it (results/).
#   --only LIST   some of: decode, pipeline, cdc, views, query, anomaly.
#   --check       exit 1 unless every row of the table has its figure and its
#                 limit (the bench_smoke test).
#
# Needs what the benchmarks need: nats-server, PostgreSQL 15 (pg_recvlogical),
# /usr/bin/python3 with scikit-learn (scripts/install-deps.sh). The machine's
# load average is recorded before and after: on a shared machine the figures
# move with it, the ratios much less (each limit runs in the same minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
BUILD=${SA_BUILD_DIR:-build}
ROUNDS=3
QUICK=0
NO_BUILD=0
OUT=
ONLY=decode,pipeline,cdc,views,query,anomaly
CHECK=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --quick) QUICK=1; shift ;;
    --build-dir) BUILD=$2; shift 2 ;;
    --build-dir=*) BUILD=${1#*=}; shift ;;
    --no-build) NO_BUILD=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#*=}; shift ;;
    --check) CHECK=--check; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$ROUNDS" in ''|*[!0-9]*|0) echo "bench.sh: --rounds needs a positive number" >&2; exit 2 ;; esac
[ "$QUICK" = 1 ] && ROUNDS=1
BUILD=$(cd "$BUILD" 2>/dev/null && pwd || echo "$SRC/$BUILD")
OUT=${OUT:-$BUILD/bench/results.json}
case "$OUT" in
  *.json) RES=${OUT%.json} ;;
  *) echo "bench.sh: --out must end in .json" >&2; exit 2 ;;
esac
rm -rf "$RES"
mkdir -p "$RES" "$(dirname "$OUT")"
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

targets=()
wants decode && targets+=(marketdata_bench)
wants pipeline && targets+=(pipeline_bench normalizer anomaly views warehouse-sink)
wants cdc && targets+=(cdc_bench cdc-bridge)
wants views && targets+=(views_bench)
wants query && targets+=(query_bench admin cdc-bridge ingest normalizer warehouse-sink)
wants anomaly && targets+=(anomaly_bench iforest_tool)
if [ "$NO_BUILD" = 0 ]; then
  echo "== building ${targets[*]}"
  export CCACHE_BASEDIR="$SRC" CCACHE_NOHASHDIR=true
  [ -f "$BUILD/build.ninja" ] || cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=${SA_BUILD_TYPE:-RelWithDebInfo}
  cmake --build "$BUILD" -j "$(nproc)" --target "${targets[@]}"
fi
export SA_BUILD_DIR=$BUILD SA_SOURCE_DIR=$SRC

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M:%S')
echo "== $started UTC, load average $load_start, $(nproc) cores, rounds $ROUNDS$([ "$QUICK" = 1 ] && echo ', quick')"

# run NAME CMD...: CMD's output to $RES/NAME.log; a failure is reported and
# recorded (its rows then say "failed"), the other benchmarks still run.
failed=()
run() {
  local name=$1; shift
  local t0=$SECONDS
  echo "-- $name: $*"
  if "$@" >"$RES/$name.log" 2>&1; then
    echo "   done in $((SECONDS - t0)) s"
  else
    echo "   FAILED ($((SECONDS - t0)) s); last lines of $RES/$name.log:"
    tail -n 15 "$RES/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

B=$BUILD/bench
if wants decode; then
  min_time=0.5; [ "$QUICK" = 1 ] && min_time=0.05
  run decode "$B/marketdata_bench" --benchmark_min_time=$min_time --benchmark_repetitions="$ROUNDS" \
    --benchmark_out="$RES/decode.json" --benchmark_out_format=json
fi
if wants pipeline; then
  if [ "$QUICK" = 1 ]; then
    run pipeline "$B/pipeline_bench" --rounds=1 --messages=8000 --latency_s=2 --warmup_s=0.5 \
      --phases=transport,relay,e2e,relay_latency,latency,services --json="$RES/pipeline.json"
  else
    run pipeline "$B/pipeline_bench" --rounds="$ROUNDS" \
      --phases=transport,relay,e2e,relay_latency,latency,services --json="$RES/pipeline.json"
  fi
fi
if wants cdc; then
  for i in $(seq 1 "$ROUNDS"); do
    if [ "$QUICK" = 1 ]; then
      run "cdc-$i" "$B/cdc_bench" --phases=source,sink --rows=20000 --txn_rows=1000 --sink_rows=20000 \
        --sink_batch=5000 --json="$RES/cdc-$i.json"
    else
      run "cdc-$i" "$B/cdc_bench" --phases=source,sink --rows=200000 --json="$RES/cdc-$i.json"
    fi
  done
fi
if wants views; then
  if [ "$QUICK" = 1 ]; then
    run views "$B/views_bench" --rounds=1 --messages=10000 --window_messages=20000 --json="$RES/views.json"
  else
    run views "$B/views_bench" --rounds="$ROUNDS" --messages=200000 --window_messages=300000 --json="$RES/views.json"
  fi
fi
if wants query; then
  queries=300; [ "$QUICK" = 1 ] && queries=20
  run query "$B/query_bench" --bin_dir="$BUILD/bin" --rounds="$ROUNDS" --queries=$queries --json="$RES/query.json"
fi
if wants anomaly; then
  min_time=1; [ "$QUICK" = 1 ] && min_time=0.05
  # Standard scoring (scikit-learn's: no out-of-range rule), 8 features, the
  # widest walk; and the one the service uses. Training on 8,192 rows.
  run anomaly "$B/anomaly_bench" \
    '--benchmark_filter=BM_ScoreBatch/points:65536/isolate:./cols:8/walk:2$|BM_Train/rows:8192' \
    --benchmark_min_time=$min_time --benchmark_repetitions="$ROUNDS" \
    --benchmark_out="$RES/anomaly.json" --benchmark_out_format=json
  for i in $(seq 1 "$ROUNDS"); do
    if [ "$QUICK" = 1 ]; then
      run "sklearn-$i" /usr/bin/python3 "$SRC/bench/anomaly_sklearn_compare.py" "$BUILD/bin/iforest_tool" \
        --quick --repeat 1 --json "$RES/sklearn-$i.json"
    else
      run "sklearn-$i" /usr/bin/python3 "$SRC/bench/anomaly_sklearn_compare.py" "$BUILD/bin/iforest_tool" \
        --repeat 5 --json "$RES/sklearn-$i.json"
    fi
  done
fi

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
finished=$(date -u '+%Y-%m-%d %H:%M:%S')
echo "== finished $finished UTC, load average $load_end"
/usr/bin/python3 "$SRC/bench/bench_report.py" --results "$RES" --out "$OUT" --only "$ONLY" --rounds "$ROUNDS" \
  --quick "$QUICK" --started "$started" --finished "$finished" --load-start "$load_start" --load-end "$load_end" \
  --failed "$(IFS=,; echo "${failed[*]:-}")" $CHECK || status=1
[ ${#failed[@]} -eq 0 ] || { echo "bench.sh: failed: ${failed[*]}" >&2; exit 1; }
exit ${status:-0}
