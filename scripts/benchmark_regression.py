"""Diabetes, regression as likelihood: train configs/diabetes.yaml on several splits, score each beside
scikit-learn's LinearRegression and Ridge on the same split, print a Markdown table for BENCHMARKS.md.

    python scripts/benchmark_regression.py                 # data seeds 0-4 (a few seconds to a minute each)
    python scripts/benchmark_regression.py --seeds 0 --config configs/diabetes.yaml --set run.steps=3000

Each split holds out 88 of the 442 patients, so one split's coverage moves in steps of 1.1 points;
the mean over splits is the figure to read against the 85-95% target.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import config as C  # noqa: E402
from gan.loops import get  # noqa: E402
from gan.measure.evaluation import evaluate  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", default=str(ROOT / "configs" / "diabetes.yaml"))
parser.add_argument(
    "--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="data seeds: one split each (run.seed follows)"
)
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override, as for gan train")
parser.add_argument("--output", default="runs/benchmark_regression", help="where the runs go")
args = parser.parse_args()

COLUMNS = (
    "nll",
    "rmse",
    "coverage_90",
    "baseline/linear_regression_rmse",
    "baseline/ridge_rmse",
    "baseline/ridge_cv_rmse",
)
rows = []
for seed in args.seeds:
    cfg = C.load(
        args.config,
        [
            *args.set,
            f"data.seed={seed}",
            f"run.seed={seed}",
            f"run.output={args.output}",
            f"run.name=diabetes_seed{seed}",
            "run.progress=false",
        ],
    )
    run = get(cfg.loop)(cfg, overwrite=True)
    result = evaluate(run)
    rows.append([seed, *(result[k] for k in COLUMNS), result["rmse"] / result["baseline/ridge_rmse"]])

print(f"command: python scripts/benchmark_regression.py {' '.join(sys.argv[1:])}".rstrip())
print(
    "| split (data.seed) | NLL (nats) | RMSE | 90% coverage | LinearRegression RMSE | Ridge RMSE | RidgeCV RMSE | "
    "RMSE / Ridge |"
)
print("|---|---|---|---|---|---|---|---|")
for seed, nll, rmse, cover, lin, ridge, ridge_cv, ratio in rows:
    print(f"| {seed} | {nll:.3f} | {rmse:.2f} | {cover:.1%} | {lin:.2f} | {ridge:.2f} | {ridge_cv:.2f} | {ratio:.3f} |")
mean = [sum(r[i] for r in rows) / len(rows) for i in range(1, 8)]
print(
    f"| mean | {mean[0]:.3f} | {mean[1]:.2f} | {mean[2]:.1%} | {mean[3]:.2f} | {mean[4]:.2f} | {mean[5]:.2f} | "
    f"{mean[6]:.3f} |"
)
