#!/usr/bin/python3
"""Training time of sa::anomaly::IsolationForest (build/bin/iforest_tool)
against scikit-learn's IsolationForest, on the same data in the same run,
with the ROC AUC each reaches (docs/PERFORMANCE.md, "Anomaly scoring").

Usage: /usr/bin/python3 bench/anomaly_sklearn_compare.py [build/bin/iforest_tool] [--repeat 5]
       [--quick] [--json PATH]

100 trees, 256 samples, single thread (n_jobs=1) for both. Times are the best
of --repeat fits; the C++ figure is measured inside the tool around Train()
(CSV parsing excluded): it grows the trees and scores the training rows (at
most 16384) for the contamination threshold. scikit-learn is timed around
fit() twice: contamination="auto" (trees only, no threshold) and
contamination=0.005 (trees, then score_samples over every row for offset_),
the like-for-like figure. AUC: mean over 5 seeds, labelled outliers as positives.

Scoring: scikit-learn's score_samples over 65,536 points of 8 standard normal
features, with a forest fitted on 20,000 such points (best of --repeat, CPU
time of this process): the limit beside anomaly_bench's BM_ScoreBatch of the same shape (scripts/bench.sh
puts the two side by side). --quick: the two smaller data sets only, AUC over
one seed. --json PATH: the figures as JSON (times in seconds, rates per second).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score


def datasets(quick=False):
    d = load_breast_cancer()
    rng = np.random.RandomState(42)
    benign = np.where(d.target == 1)[0]
    malignant = rng.choice(np.where(d.target == 0)[0], 40, replace=False)
    idx = np.concatenate([benign, malignant])
    yield "breast_cancer (397x30)", d.data[idx], (d.target[idx] == 0).astype(int)
    rng = np.random.RandomState(7)
    for n in ((10000,) if quick else (10000, 100000)):
        x = np.concatenate([rng.normal(0, 1, (n, 8)), rng.uniform(-6, 6, (n // 100, 8))])
        y = np.concatenate([np.zeros(n), np.ones(n // 100)]).astype(int)
        yield f"gaussian+uniform ({len(x)}x8)", x, y


def run_tool(tool, path, seed, repeat):
    out = subprocess.run([tool, "--train", path, "--score", path, "--trees", "100", "--sample", "256",
                          "--seed", str(seed), "--repeat", str(repeat)], check=True, capture_output=True, text=True)
    secs = float(out.stderr.strip().split("train_seconds=")[1].split()[0])
    return secs, np.array([float(v) for v in out.stdout.split()])


def main():
    args = sys.argv[1:]
    repeat = 5
    if "--repeat" in args:
        i = args.index("--repeat")
        repeat = int(args[i + 1])
        del args[i:i + 2]
    quick = "--quick" in args
    if quick:
        args.remove("--quick")
    json_path = None
    if "--json" in args:
        i = args.index("--json")
        json_path = args[i + 1]
        del args[i:i + 2]
    seeds = 1 if quick else 5
    results = {"bench": "anomaly_sklearn", "rounds": [{}]}
    out = results["rounds"][0]
    tool = args[0] if args else os.path.join(os.path.dirname(__file__), "..", "build", "bin", "iforest_tool")
    print(f"{'data':28} {'C++ fit':>10} {'sk auto':>10} {'sk 0.005':>10} {'speed-up':>9} {'vs auto':>8} "
          f"{'AUC C++':>8} {'AUC sk':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, x, y in datasets(quick):
            path = os.path.join(tmp, "x.csv")
            np.savetxt(path, x, delimiter=",", fmt="%.17g")
            cpp_best, _ = run_tool(tool, path, 0, repeat)
            sk_auto = sk_best = float("inf")
            for r in range(repeat):
                t0 = time.perf_counter()
                IsolationForest(n_estimators=100, max_samples=256, random_state=r, n_jobs=1).fit(x)
                sk_auto = min(sk_auto, time.perf_counter() - t0)
                t0 = time.perf_counter()
                IsolationForest(n_estimators=100, max_samples=256, random_state=r, n_jobs=1,
                                contamination=0.005).fit(x)
                sk_best = min(sk_best, time.perf_counter() - t0)
            auc_cpp = np.mean([roc_auc_score(y, run_tool(tool, path, s, 1)[1]) for s in range(seeds)])
            auc_sk = np.mean([roc_auc_score(y, -IsolationForest(n_estimators=100, max_samples=256, random_state=s)
                                            .fit(x).score_samples(x)) for s in range(seeds)])
            print(f"{name:28} {cpp_best * 1e3:8.2f}ms {sk_auto * 1e3:8.2f}ms {sk_best * 1e3:8.2f}ms "
                  f"{sk_best / cpp_best:8.1f}x {sk_auto / cpp_best:7.1f}x {auc_cpp:8.4f} {auc_sk:8.4f}")
            key = f"train_{len(x)}x{x.shape[1]}"
            out[key + "_cpp_s"] = cpp_best
            out[key + "_sk_s"] = sk_best
            out[key + "_sk_auto_s"] = sk_auto
            out[key + "_auc_cpp"] = auc_cpp
            out[key + "_auc_sk"] = auc_sk
    rng = np.random.RandomState(1)
    train = rng.normal(0, 1, (20000, 8))
    points = np.random.RandomState(2).normal(0, 1, (65536, 8))
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=1).fit(train)
    # CPU time of this process (scoring is single-threaded numpy), as Google
    # Benchmark's per-second figures of anomaly_bench are per CPU second: on a
    # shared machine wall time would charge the neighbours to one side only.
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        forest.score_samples(points)
        best = min(best, time.process_time() - t0)
    out["sk_score_points_s"] = len(points) / best
    print(f"scikit-learn score_samples, 65,536 x 8 points: {best * 1e3:.1f} ms CPU = {len(points) / best:,.0f} points/s")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
