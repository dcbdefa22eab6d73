"""Train ring, grid and the bundled digits over several seeds; write the Quality section of BENCHMARKS.md.

    python scripts/benchmark_quality.py                      # 5 toy seeds, 3 digits seeds (about 40 minutes on 2 cores)
    python scripts/benchmark_quality.py --only ring --toy-seeds 2
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import benchmark_quality as B  # noqa: E402
from gan.config import ConfigError  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--toy-seeds", type=int, default=5)
parser.add_argument("--digits-seeds", type=int, default=3)
parser.add_argument("--only", action="append", choices=["ring", "grid", "digits"], help="run only these (repeatable)")
parser.add_argument("--output", default="runs/benchmark", help="where the runs go")
parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="file whose '## Quality' rows for what ran are updated")
args = parser.parse_args()

command = "python " + " ".join(["scripts/benchmark_quality.py", *sys.argv[1:]])
try:
    B.run_and_record(command, Path(args.markdown) if args.markdown else None, toy_seeds=args.toy_seeds, digits_seeds=args.digits_seeds,
                     output=Path(args.output), which=tuple(args.only or ("ring", "grid", "digits")))
except ConfigError as error:
    sys.exit(f"benchmark_quality: error: {error}")
print(f"results: {Path(args.output) / 'quality.json'}")
