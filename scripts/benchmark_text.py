"""Text: held-out bits per character of configs/text_model.yaml beside lzma/bz2/zlib, the two views of the
same sentences at equal examples seen, and characters per second against a plain PyTorch loop.

    python scripts/benchmark_text.py                        # all three parts
    python scripts/benchmark_text.py --only speed           # the loop against a plain PyTorch loop (a minute or two)
    python scripts/benchmark_text.py --only model           # train configs/text_model.yaml as shipped, then evaluate it
    python scripts/benchmark_text.py --only views --updates 100
Run it on a quiet machine (2 cores: OMP_NUM_THREADS=2); paste the printed tables into BENCHMARKS.md.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan.benchmark import text as B  # noqa: E402
from gan.config import ConfigError  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument(
    "--only", action="append", choices=["model", "views", "speed"], help="run only these parts (repeatable)"
)
parser.add_argument("--config", default=str(ROOT / "configs" / "text_model.yaml"))
parser.add_argument(
    "--set",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="override a config value in every part, e.g. run.steps=800 (the views and speed parts set their own steps)",
)
parser.add_argument(
    "--updates", type=int, default=100, help="updates of each view in the views part (equal examples seen)"
)
parser.add_argument("--output", default="runs/benchmark_text", help="where the runs go")
args = parser.parse_args()

parts = set(args.only or ("model", "views", "speed"))
config, output = Path(args.config), Path(args.output)
try:
    model = B.quality(config, output, args.set) if "model" in parts else None
    if model:
        print(json.dumps(model, indent=1), flush=True)
    views = B.views(config, output, args.updates, overrides=args.set) if "views" in parts else []
    speed = B.throughput(config, output, overrides=args.set) if "speed" in parts else None
except ConfigError as error:
    sys.exit(f"benchmark_text: error: {error}")
print(B.table(model, views, speed))
