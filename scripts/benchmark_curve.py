"""Frechet distance, precision and recall against training seconds, for a config and its candidates; JSON and a PNG.

    # the current default and two candidates, 3 seeds each, 5 minutes of training, a point every 30 s
    python scripts/benchmark_curve.py configs/digits.yaml --label default --seeds 0 1 2
    python scripts/benchmark_curve.py configs/digits.yaml --label diffaugment --seeds 0 1 2 \
        --set 'objective.augment={policy: [translation, cutout], p: 1.0}'
    python scripts/benchmark_curve.py configs/digits.yaml --label ada --seeds 0 1 2 --set 'objective.augment={adaptive: true}'
    # limited data (DiffAugment's table): 500, 1,000 and 5,000 training digits, the same steps
    python scripts/benchmark_curve.py configs/digits.yaml --label default --limit 1000 --seconds 100000 --set run.steps=5000

Every call adds its runs to --json (one label per candidate) and redraws --png from the whole file.
Set run.steps high (--set run.steps=1000000) to let --seconds alone end the runs.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import curve  # noqa: E402
from gan.config import ConfigError  # noqa: E402
from gan.runs import RunError  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "digits.yaml"))
parser.add_argument("--label", help="name of this candidate in the JSON and the picture (default: the config's name)")
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override the config (repeatable)")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--seconds", type=float, default=300.0, help="training seconds per run, scoring left out (default 300)")
parser.add_argument("--every", type=float, default=30.0, help="seconds of training between scores (default 30)")
parser.add_argument("--samples", type=int, default=2000, help="samples per score (default 2,000)")
parser.add_argument("--limit", type=int, help="train on this many digits only (scored against all 5,000)")
parser.add_argument("--output", default="runs/curve", help="where the runs go")
parser.add_argument("--json", default="runs/curve/curve.json")
parser.add_argument("--png", default="runs/curve/curve.png")
args = parser.parse_args()

try:
    if args.seconds <= 0 or args.every <= 0 or args.samples < 10:
        raise ConfigError(f"--seconds and --every must be > 0 and --samples >= 10; got {args.seconds}, {args.every}, {args.samples}")
    for seed in args.seeds:
        result = curve.train_curve(Path(args.config), seconds=args.seconds, every=args.every, seed=seed, output=Path(args.output),
                                   overrides=args.set, samples=args.samples, limit=args.limit, label=args.label)
        table = curve.record(result, Path(args.json))
    floor = result["fid_floor"]
    curve.plot(curve.mean_curves(table), Path(args.png), title=f"Frechet distance in the digits classifier's features (mean over seeds)",
               ylabel="Frechet distance", floor=floor)
except (ConfigError, RunError) as error:
    sys.exit(f"benchmark_curve: error: {error}")
print(f"wrote {args.json} and {args.png}")
