#!/usr/bin/python3
"""The table of scripts/bench.sh: reads each benchmark's JSON under --results,
takes the medians over rounds, and prints one row per figure beside the limit
measured in the same run, with the ratio; writes the same as JSON (--out) and
as markdown (--out with .md).

A row whose benchmark failed or was not run still appears, with "failed" or
"not run", so a check of the table (bench/CMakeLists.txt, bench_smoke) sees it.

Ratios read as the target does: throughput ours / limit (%, higher is better),
latency and memory ours / limit (x, lower is better), scikit-learn's time /
ours (x, a speed-up).
"""
import argparse
import glob
import json
import os
import statistics
import sys

VENUES = [("kraken", "kraken"), ("binance", "binance"), ("coinbase", "coinbase"),
          ("coinbase-exchange", "coinbase_exchange")]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def rounds_of(results, pattern):
    """Every round of every file matching pattern (a harness's --json)."""
    out = []
    for path in sorted(glob.glob(os.path.join(results, pattern))):
        data = load(path)
        if data:
            out.extend(data.get("rounds", []))
    return out


def med(rounds, key):
    return median([r.get(key) for r in rounds])


def gbench_medians(results, name):
    """{benchmark name: {field: median over repetitions}} of a Google Benchmark JSON."""
    data = load(os.path.join(results, name))
    if not data:
        return {}
    runs = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        runs.setdefault(b["run_name"], []).append(b)
    return {k: {f: median([r.get(f) for r in v]) for f in ("items_per_second", "real_time", "cpu_time",
                                                            "errors", "checksums_ok", "checksums_bad", "book_updates",
                                                            "snapshots", "gaps", "frames")}
            for k, v in runs.items()}


class Table:
    def __init__(self):
        self.rows = []

    def add(self, group, figure, value, unit, limit_name, limit, kind, target=None, target_ok=None, note=""):
        """kind: 'throughput' (value/limit, %), 'cost' and 'faster' (value/limit, x), 'speedup' (limit/value, x),
        None (no ratio)."""
        ratio = None
        if value is not None and limit not in (None, 0):
            ratio = limit / value if kind == "speedup" and value else value / limit if kind else None
        met = None
        if target_ok is not None and ratio is not None:
            met = bool(target_ok(ratio))
        self.rows.append({"group": group, "figure": figure, "value": value, "unit": unit, "limit_name": limit_name,
                          "limit": limit, "ratio": ratio, "ratio_kind": kind, "target": target, "met": met,
                          "note": note})


def fmt_num(v, unit):
    if v is None:
        return "—"
    if unit in ("ms", "µs"):
        return f"{v:,.2f} {unit}" if v < 10 else f"{v:,.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"
    if unit == "MiB":
        return f"{v:,.1f} MiB"
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.2f} M {unit}"
    if abs(v) >= 1e4:
        return f"{v / 1e3:,.1f} k {unit}"
    return f"{v:,.0f} {unit}"


def fmt_ratio(r, kind):
    if r is None:
        return "—"
    if kind == "throughput":
        return f"{100 * r:.0f} %"
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x"


def build(args):
    res = args.results
    only = set(args.only.split(","))
    failed = set(f for f in args.failed.split(",") if f)
    t = Table()

    def status(bench):
        if bench not in only:
            return "not run"
        return "failed" if any(f == bench or f.startswith(bench + "-") for f in failed) else ""

    # Decode: trade frames, and whole recordings with books, beside parse-only.
    d = gbench_medians(res, "decode.json") if "decode" in only else {}
    for venue, tag in VENUES:
        dec = d.get(f"BM_Decode/{tag}", {}).get("items_per_second")
        par = d.get(f"BM_ParseOnly/{tag}", {}).get("items_per_second")
        t.add("decode", f"decode trade frames, {venue}", dec, "frames/s", "simdjson parse-only", par, "throughput",
              note=status("decode"))
    for venue, tag in VENUES:
        dec_run = d.get(f"BM_DecodeRecording/{tag}", {})
        dec = dec_run.get("items_per_second")
        par = d.get(f"BM_ParseOnlyRecording/{tag}", {}).get("items_per_second")
        note = status("decode")
        if dec_run:
            note = (f"{dec_run.get('frames', 0):,.0f} frames/pass; {dec_run.get('book_updates', 0):,.0f} book "
                    f"updates ({dec_run.get('snapshots', 0):,.0f} snapshots), checksums "
                    f"{dec_run.get('checksums_ok', 0):,.0f} ok / {dec_run.get('checksums_bad', 0):,.0f} bad, gaps "
                    f"{dec_run.get('gaps', 0):,.0f}, decode errors {dec_run.get('errors', 0):,.0f}")
        t.add("decode", f"decode whole recording (books, checksums, snapshots), {venue}", dec, "frames/s",
              "simdjson parse-only", par, "throughput", ">= 50 %", lambda r: r >= 0.5, note)

    # Pipeline: two JetStream hops, normalizer vs the bare relay; latency at 20k/s; memory.
    p = rounds_of(res, "pipeline.json") if "pipeline" in only else []
    ps = status("pipeline")
    t.add("pipeline", "raw frames through MD_RAW, one hop (bare publisher + consumer)", med(p, "transport_limit_msg_s"),
          "msg/s", "", None, None, note=ps or "context: the one-hop transport limit")
    t.add("pipeline", "normalizer end to end (raw frames/s, two hops)", med(p, "normalizer_frames_s"), "frames/s",
          "bare relay, same two hops", med(p, "relay_frames_s"), "throughput", ">= 90 %", lambda r: r >= 0.9, ps)
    offered = med(p, "latency_normalizer_offered_msg_s") or 20000
    rate_txt = f"{offered / 1e3:.0f}k msg/s"
    achieved = [k for k in ("latency_normalizer_rate_msg_s", "latency_relay_rate_msg_s", "services_rate_msg_s")
                if med(p, k) is not None and med(p, k) < 0.95 * offered]
    if achieved and not ps:
        ps = "publisher fell behind (machine busy): " + ", ".join(
            f"{k.split('_rate')[0].replace('_', ' ')} {med(p, k):,.0f} msg/s" for k in achieved)
    t.add("pipeline", f"latency p50 at {rate_txt}, through the normalizer", med(p, "latency_normalizer_p50_us") and
          med(p, "latency_normalizer_p50_us") / 1e3, "ms", "bare relay",
          med(p, "latency_relay_p50_us") and med(p, "latency_relay_p50_us") / 1e3, "cost", note=ps)
    t.add("pipeline", f"latency p99 at {rate_txt}, through the normalizer", med(p, "latency_normalizer_p99_us") and
          med(p, "latency_normalizer_p99_us") / 1e3, "ms", "bare relay",
          med(p, "latency_relay_p99_us") and med(p, "latency_relay_p99_us") / 1e3, "cost", "<= 1.5x",
          lambda r: r <= 1.5, ps)
    mib = lambda k: med(p, k) and med(p, k) / 1024
    t.add("memory", f"normalizer resident memory at {rate_txt} (steady state)", mib("latency_normalizer_rss_kib"),
          "MiB", "bare relay", mib("latency_relay_rss_kib"), "cost", note=ps)
    t.add("memory", f"nats-server resident memory at {rate_txt}, normalizer run", mib("latency_normalizer_nats_rss_kib"),
          "MiB", "relay run", mib("latency_relay_nats_rss_kib"), "cost", note=ps)
    for name in ("anomaly", "views", "warehouse_sink"):
        t.add("memory", f"{name.replace('_', '-')} resident memory at {rate_txt} (beside the normalizer)",
              mib(f"services_{name}_rss_kib"), "MiB", "", None, None,
              note=ps or (f"max {mib(f'services_{name}_rss_max_kib'):.1f} MiB"
                          if mib(f"services_{name}_rss_max_kib") else ""))

    # CDC source and the warehouse sink.
    c = rounds_of(res, "cdc-*.json") if "cdc" in only else []
    cs = status("cdc")
    t.add("cdc", "CDC source: real cdc-bridge into JetStream", med(c, "bridge_events_s"), "events/s",
          "pg_recvlogical + test_decoding, same WAL", med(c, "recvlogical_events_s"), "throughput", ">= 60 %",
          lambda r: r >= 0.6, cs)
    t.add("cdc", "CDC decode only (ReplicationClient, pgoutput)", med(c, "decode_events_s"), "events/s",
          "pg_recvlogical + test_decoding", med(c, "recvlogical_events_s"), "throughput", note=cs)
    t.add("cdc", "warehouse sink inserts (ChangeApplier)", med(c, "sink_insert_rows_s"), "rows/s",
          "COPY of the same rows", med(c, "copy_rows_s"), "throughput", ">= 40 %", lambda r: r >= 0.4, cs)
    t.add("cdc", "warehouse sink upserts (ChangeApplier)", med(c, "sink_upsert_rows_s"), "rows/s",
          "COPY of the same rows", med(c, "copy_rows_s"), "throughput", note=cs)

    # Views.
    v = rounds_of(res, "views.json") if "views" in only else []
    vs = status("views")
    t.add("views", "filter view (md.trade | where price > 0)", med(v, "filter_msg_s"), "msg/s",
          "bare relay, same two hops, same consume loop", med(v, "relay_msg_s"), "throughput", ">= 80 %", lambda r: r >= 0.8, vs)
    t.add("views", "windowed aggregate (1-minute OHLCV + VWAP)", med(v, "window_msg_s"), "msg/s",
          "bare consume, same consume loop", med(v, "consume_msg_s"), "throughput", note=vs)

    # Queries.
    q = rounds_of(res, "query.json") if "query" in only else []
    qs = status("query")
    t.add("query", "query p50, gRPC Query.Run", med(q, "grpc_p50_ms"), "ms", "libpq, same statements",
          med(q, "libpq_p50_ms"), "cost", note=qs)
    t.add("query", "query p99, gRPC Query.Run", med(q, "grpc_p99_ms"), "ms", "libpq, same statements",
          med(q, "libpq_p99_ms"), "cost", note=qs)

    # Isolation Forest against scikit-learn.
    a = gbench_medians(res, "anomaly.json") if "anomaly" in only else {}
    s = rounds_of(res, "sklearn-*.json") if "anomaly" in only else []
    as_ = status("anomaly")
    score = a.get("BM_ScoreBatch/points:65536/isolate:0/cols:8/walk:2", {}).get("items_per_second")
    t.add("anomaly", "Isolation Forest scoring, 65,536 x 8, standard score", score, "points/s",
          "scikit-learn score_samples", med(s, "sk_score_points_s"), "faster", note=as_)
    svc = a.get("BM_ScoreBatch/points:65536/isolate:1/cols:8/walk:2", {}).get("items_per_second")
    t.add("anomaly", "Isolation Forest scoring, out-of-range rule (the service's)", svc, "points/s",
          "scikit-learn score_samples", med(s, "sk_score_points_s"), "faster", note=as_)
    train_keys = sorted({k[:-len("_cpp_s")] for r in s for k in r if k.startswith("train_") and k.endswith("_cpp_s")},
                        key=lambda k: int(k.split("_")[1].split("x")[0]))
    if not train_keys:
        train_keys = ["train_10100x8"]
    for key in train_keys:
        shape = key[len("train_"):]
        cpp, sk = med(s, key + "_cpp_s"), med(s, key + "_sk_s")
        auc = (f"AUC {med(s, key + '_auc_cpp'):.4f} vs {med(s, key + '_auc_sk'):.4f}"
               if med(s, key + "_auc_cpp") is not None else as_)
        t.add("anomaly", f"Isolation Forest training, {shape} (trees + threshold)", cpp and cpp * 1e3, "ms",
              "scikit-learn fit, contamination=0.005", sk and sk * 1e3, "speedup", ">= 10x", lambda r: r >= 10,
              auc)
    return t


def markdown(t, meta):
    lines = [f"Measured {meta['started']} – {meta['finished']} UTC; load average (1/5/15 min) "
             f"{meta['load_start']} at the start, {meta['load_end']} at the end; {meta['cores']} cores; "
             f"medians of {meta['rounds']} round(s){' (--quick: smoke run, small workloads)' if meta['quick'] else ''}.",
             "", "| figure | measured | limit, same run | ratio | target | notes |", "|---|---|---|---|---|---|"]
    for r in t.rows:
        measured = fmt_num(r["value"], r["unit"]) if r["value"] is not None else (r["note"] or "—")
        limit = (f"{fmt_num(r['limit'], r['unit'])} ({r['limit_name']})" if r["limit"] is not None
                 else (r["limit_name"] or "—"))
        target = r["target"] or ""
        if r["met"] is not None:
            target += ": **met**" if r["met"] else ": **missed**"
        note = r["note"] if r["value"] is not None else ""
        lines.append(f"| {r['figure']} | {measured} | {limit} | {fmt_ratio(r['ratio'], r['ratio_kind'])} | {target} "
                     f"| {note} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="decode,pipeline,cdc,views,query,anomaly")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--started", default="")
    ap.add_argument("--finished", default="")
    ap.add_argument("--load-start", default="")
    ap.add_argument("--load-end", default="")
    ap.add_argument("--failed", default="")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every row has its figure and its limit")
    args = ap.parse_args()
    t = build(args)
    meta = {"started": args.started, "finished": args.finished, "load_start": args.load_start,
            "load_end": args.load_end, "cores": os.cpu_count(), "rounds": args.rounds, "quick": bool(args.quick),
            "failed": [f for f in args.failed.split(",") if f]}
    md = markdown(t, meta)
    print()
    print(md)
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "rows": t.rows}, f, indent=1)
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md)
    print(f"written {args.out} and {os.path.splitext(args.out)[0]}.md")
    if args.check:
        checked = [r for r in t.rows if r["note"] != "not run"]  # --only leaves the others out
        missing = [r["figure"] for r in checked if r["value"] is None or (r["limit_name"] and r["limit"] is None)]
        if missing or not checked:
            print("bench_report: rows without a figure or a limit:\n  " + "\n  ".join(missing), file=sys.stderr)
            return 1
        print(f"bench_report: all {len(checked)} rows run have their figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
