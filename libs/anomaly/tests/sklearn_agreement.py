#!/usr/bin/python3
"""Compares sa::anomaly::IsolationForest (through iforest_tool) with
scikit-learn's IsolationForest on the same data.

Usage: sklearn_agreement.py <path to iforest_tool>

Prints one line per data set:
  dataset=<name> rows=<n> spearman=<rho> auc_ours=<mean> auc_sklearn=<mean>
spearman: rank correlation of our s(x) with -score_samples(x) (seed 0 each);
auc_*: mean ROC AUC over 5 seeds, the labelled outliers as positives.
Exit code 3 when scikit-learn is not importable (the test skips), 1 on error.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score
except ImportError as e:  # pragma: no cover
    print(f"scikit-learn not available: {e}")
    sys.exit(3)

SEEDS = [0, 1, 2, 3, 4]


def ours(tool, x, seed, tmp):
    path = os.path.join(tmp, "x.csv")
    np.savetxt(path, x, delimiter=",", fmt="%.17g")
    out = subprocess.run([tool, "--train", path, "--score", path, "--trees", "100", "--sample", "256",
                          "--seed", str(seed)], check=True, capture_output=True, text=True)
    return np.array([float(v) for v in out.stdout.split()])


def theirs(x, seed):
    m = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(x)
    return -m.score_samples(x)


def breast_cancer():
    d = load_breast_cancer()
    x, y = d.data, d.target  # 0 malignant (212), 1 benign (357)
    rng = np.random.RandomState(42)
    benign = np.where(y == 1)[0]
    malignant = rng.choice(np.where(y == 0)[0], 40, replace=False)  # minority: ~10 % outliers
    idx = np.concatenate([benign, malignant])
    return x[idx], (y[idx] == 0).astype(int)


def blobs():
    rng = np.random.RandomState(7)
    normal = np.concatenate([rng.normal(0, 1, (1500, 8)), rng.normal(4, 0.5, (500, 8))])
    outliers = rng.uniform(-8, 8, (60, 8))
    return np.concatenate([normal, outliers]), np.concatenate([np.zeros(2000), np.ones(60)]).astype(int)


def main():
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        for name, (x, y) in [("breast_cancer", breast_cancer()), ("blobs", blobs())]:
            rho = spearmanr(ours(tool, x, 0, tmp), theirs(x, 0)).correlation
            auc_o = np.mean([roc_auc_score(y, ours(tool, x, s, tmp)) for s in SEEDS])
            auc_s = np.mean([roc_auc_score(y, theirs(x, s)) for s in SEEDS])
            print(f"dataset={name} rows={len(x)} spearman={rho:.4f} auc_ours={auc_o:.4f} auc_sklearn={auc_s:.4f}")


if __name__ == "__main__":
    main()
