"""Train ring, grid and the bundled digits over several seeds; write the Quality section of BENCHMARKS.md.

    python scripts/benchmark_quality.py                      # 5 toy seeds, 3 digits seeds (about 40 minutes on 2 cores)
    python scripts/benchmark_quality.py --only ring --toy-seeds 2
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import benchmark_quality as B  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--toy-seeds", type=int, default=5)
parser.add_argument("--digits-seeds", type=int, default=3)
parser.add_argument("--only", action="append", choices=["ring", "grid", "digits"], help="run only these (repeatable)")
parser.add_argument("--output", default="runs/benchmark", help="where the runs go")
parser.add_argument("--markdown", default=str(ROOT / "BENCHMARKS.md"), help="file whose '## Quality' section is replaced")
args = parser.parse_args()

results = B.run(toy_seeds=args.toy_seeds, digits_seeds=args.digits_seeds, output=Path(args.output), which=tuple(args.only or ("ring", "grid", "digits")))
command = "python " + " ".join(["scripts/benchmark_quality.py", *sys.argv[1:]])
B.write_section(Path(args.markdown), "Quality", B.markdown(results, command, B.read_section(Path(args.markdown), "Quality")))
(Path(args.output) / "quality.json").write_text(json.dumps(results, indent=1, default=str))
print(f"wrote the Quality section of {args.markdown} and {Path(args.output) / 'quality.json'}")
